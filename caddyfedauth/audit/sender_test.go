package audit

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// A batch goes out as soon as it has BatchSize events; a partial one waits
// (here for an hour) until Close flushes it.
func TestBatchSize(t *testing.T) {
	rc := newReceiver(t, nil)
	s, c, _ := testSender(t, rc.URL, Config{BatchSize: 3, FlushInterval: time.Hour})
	for i := range 7 {
		if !s.Send(event(i)) {
			t.Fatalf("Send %d refused", i)
		}
	}
	for b := range 2 {
		if got := rc.next(t).events(t); len(got) != 3 || got[0].RequestID != strconv.Itoa(3*b) {
			t.Fatalf("batch %d: %d events from %q, want 3 from %d", b, len(got), got[0].RequestID, 3*b)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.deliveries()); n != 2 {
		t.Fatalf("%d deliveries before Close, want 2: the 7th event must wait for its batch", n)
	}
	mustClose(t, s)
	if got := rc.next(t).events(t); len(got) != 1 || got[0].RequestID != "6" {
		t.Fatalf("Close flushed %+v, want event 6 alone", got)
	}
	c.want(t, 7, 0, 0)
}

// A batch that does not fill is sent FlushInterval after its first event.
func TestFlushInterval(t *testing.T) {
	rc := newReceiver(t, nil)
	s, c, _ := testSender(t, rc.URL, Config{BatchSize: 100, FlushInterval: 100 * time.Millisecond})
	start := time.Now()
	s.Send(event(0))
	s.Send(event(1))
	d := rc.next(t) // before Close
	if got := d.events(t); len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	if waited := d.at.Sub(start); waited < 100*time.Millisecond {
		t.Errorf("partial batch sent after %v, before FlushInterval", waited)
	}
	mustClose(t, s)
	c.want(t, 2, 0, 0)
}

// Close delivers every queued event, in order, before it returns.
func TestCloseFlushesQueue(t *testing.T) {
	gate := make(chan struct{})
	rc := newReceiver(t, func(n int, _ http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			<-gate // hold the first batch so the rest stays queued
		}
	})
	s, c, _ := testSender(t, rc.URL, Config{BatchSize: 100, QueueSize: 1000, FlushInterval: time.Hour})
	const total = 450
	for i := range total {
		if !s.Send(event(i)) {
			t.Fatalf("Send %d refused", i)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- closeWithin(t, s, 10*time.Second) }()
	rc.next(t)
	close(gate)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	var got []Event
	for _, d := range rc.deliveries() {
		got = append(got, d.events(t)...)
	}
	if len(got) != total {
		t.Fatalf("%d events delivered, want %d", len(got), total)
	}
	for i, e := range got {
		if e.RequestID != strconv.Itoa(i) {
			t.Fatalf("event %d is %q: out of order", i, e.RequestID)
		}
	}
	c.want(t, total, 0, 0)
	select {
	case <-s.done:
	default:
		t.Error("the sender's goroutine still runs after Close")
	}
}

// Send after Close refuses and counts the event; Close again is harmless.
func TestSendAfterClose(t *testing.T) {
	rc := newReceiver(t, nil)
	s, c, logs := testSender(t, rc.URL, Config{})
	s.Send(event(0))
	mustClose(t, s)
	for i := range 3 {
		if s.Send(event(i)) {
			t.Fatal("Send after Close returned true")
		}
	}
	mustClose(t, s)
	c.want(t, 1, 0, 3)
	if n := logs.FilterMessage("audit sender closed, event dropped").Len(); n != 1 {
		t.Errorf("%d warnings for Send after Close, want 1 (rate limited)", n)
	}
}

// Close racing Sends: every Send is counted exactly once, whether it
// came before Close (sent) or after (dropped).
func TestCloseRacingSends(t *testing.T) {
	rc := newReceiver(t, nil)
	s, c, _ := testSender(t, rc.URL, Config{QueueSize: 100000, BatchSize: 500})
	var accepted, refused atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if s.Send(event(i)) {
					accepted.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	mustClose(t, s)
	close(stop)
	for range 4 {
		<-done
	}
	var delivered int
	for _, d := range rc.deliveries() {
		delivered += len(d.events(t))
	}
	if int64(delivered) != accepted.Load() {
		t.Errorf("delivered %d events, Send accepted %d", delivered, accepted.Load())
	}
	c.want(t, int(accepted.Load()), 0, int(refused.Load()))
}

// The secret is read per batch: after a rotation, the next batch is signed
// with the new secret only.
func TestSecretRotation(t *testing.T) {
	var secret atomic.Pointer[[]byte]
	old, rotated := []byte("old-secret"), []byte("rotated-secret")
	secret.Store(&old)
	rc := newReceiver(t, nil)
	s, c, _ := testSender(t, rc.URL, Config{BatchSize: 1, Secret: func() []byte { return *secret.Load() }})
	s.Send(event(0))
	first := rc.next(t)
	secret.Store(&rotated)
	s.Send(event(1))
	second := rc.next(t)
	for _, tc := range []struct {
		name   string
		d      delivery
		secret []byte
		ok     bool
	}{
		{"first, old", first, old, true}, {"first, rotated", first, rotated, false},
		{"second, rotated", second, rotated, true}, {"second, old", second, old, false},
	} {
		if Verify(tc.secret, tc.d.body, tc.d.header.Get("X-Openfaas-Signature-256")) != tc.ok {
			t.Errorf("%s: Verify = %v, want %v", tc.name, !tc.ok, tc.ok)
		}
	}
	// A secret that reads empty (a missing file) sends nothing unsigned.
	empty := []byte{}
	secret.Store(&empty)
	s.Send(event(2))
	mustClose(t, s)
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("%d deliveries, want 2: a batch was sent with an empty secret", n)
	}
	c.want(t, 2, 1, 0)
}

// Close with a context that has already ended aborts at once, counts
// what it did not deliver as dropped and returns the context's error.
func TestCloseExpired(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	s, c, logs := testSender(t, rc.URL, Config{MinBackoff: time.Hour, MaxBackoff: time.Hour, BatchSize: 10})
	for i := range 25 {
		s.Send(event(i))
	}
	rc.next(t) // the first batch is in its backoff
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	c.want(t, 0, 0, 25)
	if e := logs.FilterMessage("audit sender closed before delivering all events").All(); len(e) != 1 || e[0].ContextMap()["dropped"] != int64(25) {
		t.Errorf("shutdown warning: %+v, want one with dropped=25", e)
	}
}
