package audit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkSend is the cost on the request path. "queued": the event goes
// into the queue (a fresh sender every 65536 events, so the queue never
// fills; its goroutine is held in a backoff and does not drain).
// "full": the queue is full and the event is dropped and counted, as
// while a receiver is down; "full parallel" on every core.
func BenchmarkSend(b *testing.B) {
	down := closedPort(b)
	newStuck := func(queue int) *Sender {
		s, err := New(Config{
			URL: down, Secret: func() []byte { return testSecret }, QueueSize: queue, BatchSize: 1,
			MinBackoff: time.Hour, MaxBackoff: time.Hour, OnResult: func(string, int) {},
		})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	aborted, cancel := context.WithCancel(context.Background())
	cancel()
	e := event(1)

	b.Run("queued", func(b *testing.B) {
		const queue = 1 << 16
		s := newStuck(queue)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if i%queue == queue-1 { // full soon: empty it
				b.StopTimer()
				for len(s.queue) > 0 {
					<-s.queue
				}
				b.StartTimer()
			}
			if !s.Send(e) {
				b.Fatal("dropped")
			}
		}
		b.StopTimer()
		s.Close(aborted)
	})

	full := func(b *testing.B) *Sender {
		s := newStuck(10)
		s.Send(e)
		for len(s.queue) > 0 { // until the goroutine holds it, in its backoff
			time.Sleep(time.Millisecond)
		}
		for s.Send(e) {
		}
		b.ReportAllocs()
		b.ResetTimer()
		return s
	}
	b.Run("full", func(b *testing.B) {
		s := full(b)
		for b.Loop() {
			if s.Send(e) {
				b.Fatal("queued into a full queue")
			}
		}
		s.Close(aborted)
	})
	b.Run("full parallel", func(b *testing.B) {
		s := full(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Send(e)
			}
		})
		b.StopTimer()
		s.Close(aborted)
	})
}

// BenchmarkDeliver is the sender's capacity: events per second it gets to
// a receiver on loopback in batches of 100 (encode, sign, POST). Beyond
// this rate a queue fills and Send drops.
func BenchmarkDeliver(b *testing.B) {
	rc := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer rc.Close()
	s, err := New(Config{URL: rc.URL, Secret: func() []byte { return testSecret }})
	if err != nil {
		b.Fatal(err)
	}
	e := event(1)
	b.ReportAllocs()
	for b.Loop() {
		for !s.Send(e) {
			time.Sleep(100 * time.Microsecond) // the queue is full: let it drain
		}
	}
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
