package audit

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sender queues events and POSTs them in batches from one goroutine, in
// the way of Kubernetes' buffered audit backend: Send never waits, and a
// full queue drops the event and counts it. Sent, failed and dropped
// events add up to the events given to Send once Close has returned.
type Sender struct {
	cfg   Config
	queue chan Event

	// mu makes closing the queue and sending on it exclusive. Send only
	// tries for it (TryRLock), which fails just while Close holds or
	// waits for it: the sender is closing, so the event is dropped.
	mu     sync.RWMutex
	closed bool

	closeOnce sync.Once
	abort     context.Context // cancelled when Close's context ends
	cancel    context.CancelFunc
	done      chan struct{} // closed when the goroutine has counted every event

	logs [numLogKinds]logLimiter
}

// New validates cfg, applies the defaults and starts the sender's
// goroutine. Close stops it.
func New(cfg Config) (*Sender, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sender{
		cfg:   cfg,
		queue: make(chan Event, cfg.QueueSize),
		done:  make(chan struct{}),
	}
	s.abort, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s, nil
}

// Send queues e and returns at once: true if it was queued, false if it
// was dropped (queue full, or Send after Close) and counted. The caller
// must not change e.Actions afterwards.
func (s *Sender) Send(e Event) bool {
	if !s.mu.TryRLock() {
		s.drop(logClosed, "audit sender closing, event dropped")
		return false
	}
	if s.closed {
		s.mu.RUnlock()
		s.drop(logClosed, "audit sender closed, event dropped")
		return false
	}
	select {
	case s.queue <- e:
		s.mu.RUnlock()
		return true
	default:
		s.mu.RUnlock()
		s.drop(logQueueFull, "audit queue full, event dropped")
		return false
	}
}

func (s *Sender) drop(kind int, msg string) {
	s.cfg.OnResult(ResultDropped, 1)
	if c, suppressed := s.warn(kind, msg); c != nil {
		c.Write(zap.Int("queue_size", s.cfg.QueueSize), suppressed)
	}
}

// Close stops accepting events and delivers those queued until ctx ends;
// then it aborts the delivery under way, counts every undelivered event
// dropped, and returns ctx's error. Once Close returns, every event has
// been counted.
func (s *Sender) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
	})
	defer s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done // quick: the POST and the backoff end on abort
		return ctx.Err()
	}
}

func (s *Sender) run() {
	defer close(s.done)
	batch := make([]Event, 0, s.cfg.BatchSize)
	var shutdownDropped int
	for {
		var open bool
		batch, open = s.collect(batch[:0])
		if len(batch) > 0 {
			shutdownDropped += s.deliver(batch)
			clear(batch) // let the events' strings go
		}
		if !open {
			break
		}
	}
	if shutdownDropped > 0 {
		s.cfg.Logger.Warn("audit sender closed before delivering all events",
			zap.Int("dropped", shutdownDropped))
	}
}

// collect waits for an event, then for more until the batch is full,
// FlushInterval has passed or the queue is closed. open is false once
// the queue is closed and empty.
func (s *Sender) collect(batch []Event) (_ []Event, open bool) {
	e, ok := <-s.queue
	if !ok {
		return batch, false
	}
	batch = append(batch, e)
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	for len(batch) < s.cfg.BatchSize {
		select {
		case e, ok := <-s.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, e)
		case <-timer.C:
			return batch, true
		}
	}
	return batch, true
}

// warn checks a warning of kind: nil unless the logger takes warnings
// and none of this kind was logged in the last LogInterval. The field
// says how many were suppressed since the last one.
func (s *Sender) warn(kind int, msg string) (*zapcore.CheckedEntry, zap.Field) {
	c := s.cfg.Logger.Check(zapcore.WarnLevel, msg)
	if c == nil {
		return nil, zap.Skip()
	}
	ok, suppressed := s.logs[kind].allow(s.cfg.LogInterval)
	if !ok {
		return nil, zap.Skip()
	}
	return c, zap.Int64("suppressed", suppressed)
}
