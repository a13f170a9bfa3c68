package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"
)

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// wantWarning checks that exactly one warning msg was logged, with these
// fields, and that no log line carries an event's content.
func wantWarning(t *testing.T, logs *observer.ObservedLogs, msg string, fields map[string]any) {
	t.Helper()
	entries := logs.FilterMessage(msg).All()
	if len(entries) != 1 {
		t.Fatalf("%d warnings %q, want 1; all logs: %v", len(entries), msg, logs.All())
	}
	got := entries[0].ContextMap()
	for k, want := range fields {
		if got[k] != want {
			t.Errorf("warning %q: %s = %v (%T), want %v", msg, k, got[k], got[k], want)
		}
	}
	for _, e := range logs.All() {
		if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "acme/app") || strings.Contains(line, "staging:fn") {
			t.Errorf("a log line carries event content: %s", line)
		}
	}
}

// 500, 500, then 200: the batch is resent with a growing backoff and
// counted sent once.
func TestRetryThenSuccess(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	const minBackoff = 80 * time.Millisecond
	s, c, _ := testSender(t, rc.URL, Config{MinBackoff: minBackoff, BatchSize: 2})
	s.Send(event(0))
	s.Send(event(1))
	mustClose(t, s)
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	// Retry k waits between half and all of minBackoff·2^(k-1).
	for k, atLeast := range []time.Duration{minBackoff / 2, minBackoff} {
		if gap := got[k+1].at.Sub(got[k].at); gap < atLeast {
			t.Errorf("retry %d came %v after attempt %d, want ≥ %v", k+1, gap, k+1, atLeast)
		}
	}
	c.want(t, 2, 0, 0)
}

// A 4xx other than 429, and a redirect (following it would resend the
// events elsewhere), are final: one attempt, counted failed, one warning
// with the status.
func TestNoRetry(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 301, 307, 308} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var followed atomic.Int32
			elsewhere := newReceiver(t, func(int, http.ResponseWriter, *http.Request) { followed.Add(1) })
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				if code/100 == 3 {
					http.Redirect(w, r, elsewhere.URL, code)
					return
				}
				w.WriteHeader(code)
			})
			s, c, logs := testSender(t, rc.URL, Config{MinBackoff: time.Millisecond, BatchSize: 3})
			for i := range 3 {
				s.Send(event(i))
			}
			mustClose(t, s)
			if n := len(rc.deliveries()); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
			if followed.Load() != 0 {
				t.Errorf("the redirect was followed")
			}
			c.want(t, 0, 3, 0)
			wantWarning(t, logs, "audit webhook refused events, not retrying",
				map[string]any{"status": int64(code), "attempts": int64(1), "events": int64(3)})
		})
	}
}

// A network error, a 5xx and a 429 are retried MaxRetries times, then
// the batch counts failed with one warning naming the status and the
// attempts.
func TestRetriesExhausted(t *testing.T) {
	down := closedPort(t)
	for _, tc := range []struct {
		name   string
		url    string
		status int64
	}{
		{"500", newReceiver(t, status(500)).URL, 500},
		{"503", newReceiver(t, status(503)).URL, 503},
		{"429", newReceiver(t, status(429)).URL, 429},
		{"connection refused", down, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, logs := testSender(t, tc.url, Config{MinBackoff: time.Millisecond, MaxRetries: 3})
			s.Send(event(0))
			mustClose(t, s)
			c.want(t, 0, 1, 0)
			wantWarning(t, logs, "audit webhook delivery failed",
				map[string]any{"status": tc.status, "attempts": int64(4), "events": int64(1)})
			if n := len(logs.FilterMessage("audit webhook delivery will be retried").All()); n != 3 {
				t.Errorf("%d retries logged, want 3", n)
			}
		})
	}
}

// Retry-After sets the wait (over a shorter backoff), within MaxBackoff.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, retryAfter string
		code             int
		maxBackoff       time.Duration
		atLeast, below   time.Duration
	}{
		{"429 seconds", "1", 429, 30 * time.Second, time.Second, 30 * time.Second},
		{"503 seconds", "1", 503, 30 * time.Second, time.Second, 30 * time.Second},
		// An hour asked for; the cap (100ms) applies.
		{"capped", "3600", 429, 100 * time.Millisecond, 0, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter)
					w.WriteHeader(tc.code)
				}
			})
			s, c, _ := testSender(t, rc.URL, Config{MinBackoff: time.Millisecond, MaxBackoff: tc.maxBackoff})
			s.Send(event(0))
			if err := closeWithin(t, s, 30*time.Second); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got := rc.deliveries()
			if len(got) != 2 {
				t.Fatalf("%d attempts, want 2", len(got))
			}
			if gap := got[1].at.Sub(got[0].at); gap < tc.atLeast || gap >= tc.below {
				t.Errorf("retried after %v, want [%v, %v)", gap, tc.atLeast, tc.below)
			}
			c.want(t, 1, 0, 0)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"1.5":                           0,
		"soon":                          0,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 09:59:00 GMT": 0, // past
		"99999999999":                   0, // beyond 32 bits: ignored, not overflowed
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &Sender{cfg: Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for attempt, max := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 40: time.Second, 70: time.Second, 1 << 30: time.Second,
	} {
		for range 100 {
			if d := s.backoff(attempt, 0); d < max/2 || d > max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, max/2, max)
			}
		}
	}
	if d := s.backoff(1, 5*time.Second); d != time.Second {
		t.Errorf("Retry-After 5s with a 1s cap waits %v", d)
	}
	if d := s.backoff(1, 300*time.Millisecond); d != 300*time.Millisecond {
		t.Errorf("Retry-After 300ms waits %v", d)
	}
}

// A POST that outlives Timeout is abandoned and retried.
func TestSlowReceiverTimesOut(t *testing.T) {
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	s, c, logs := testSender(t, rc.URL, Config{Timeout: 50 * time.Millisecond, MinBackoff: time.Millisecond, MaxRetries: 1})
	s.Send(event(0))
	s.Send(event(1))
	mustClose(t, s)
	if n := len(rc.deliveries()); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	c.want(t, 0, 2, 0)
	wantWarning(t, logs, "audit webhook delivery failed", map[string]any{"status": int64(0), "attempts": int64(2)})
	e := logs.FilterMessage("audit webhook delivery failed").All()[0]
	if err, _ := e.ContextMap()["error"].(string); !strings.Contains(err, "deadline exceeded") {
		t.Errorf("error %q does not say the deadline passed", err)
	}
}

// A receiver that is down, hangs, or answers 500 forever never slows Send:
// 100000 Sends all return, with at most a queue and a batch accepted, and
// every other one refused and counted dropped at once. Close then gives
// up after its context, and every event is counted exactly once.
func TestUnresponsiveReceiver(t *testing.T) {
	hang := func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	for _, tc := range []struct {
		name string
		rc   *receiver // nil: down
	}{
		{"down", nil},
		{"slow", newReceiver(t, hang)},
		{"500 forever", newReceiver(t, status(500))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := closedPort(t)
			if tc.rc != nil {
				url = tc.rc.URL
			}
			const queue, batch, sends = 50, 10, 100000
			s, c, logs := testSender(t, url, Config{
				QueueSize: queue, BatchSize: batch, FlushInterval: 10 * time.Millisecond,
				Timeout: time.Hour, MinBackoff: time.Hour, MaxBackoff: time.Hour, MaxRetries: 1000,
				LogInterval: time.Hour,
			})
			accepted := 0
			for i := range sends {
				if s.Send(event(i)) {
					accepted++
				}
			}
			if accepted < queue || accepted > queue+batch {
				t.Errorf("%d events accepted, want between the queue (%d) and the queue and a batch (%d)", accepted, queue, queue+batch)
			}
			c.want(t, 0, 0, sends-accepted)
			wantWarning(t, logs, "audit queue full, event dropped", map[string]any{"queue_size": int64(queue), "suppressed": int64(0)})
			if tc.rc != nil {
				tc.rc.next(t) // the first batch reached it and is stuck there or in its backoff
			}

			if err := closeWithin(t, s, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close = %v, want context.DeadlineExceeded", err)
			}
			c.want(t, 0, 0, sends)
			wantWarning(t, logs, "audit sender closed before delivering all events", map[string]any{"dropped": int64(accepted)})
		})
	}
}

// closedPort returns the URL of a 127.0.0.1 port that nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/audit"
	l.Close()
	return url
}

// The limiter lets one warning through per interval and reports how many
// it held back.
func TestLogLimiter(t *testing.T) {
	var l logLimiter
	if ok, n := l.allow(time.Hour); !ok || n != 0 {
		t.Fatalf("first allow = %v, %d", ok, n)
	}
	for range 5 {
		if ok, _ := l.allow(time.Hour); ok {
			t.Fatal("second warning within the interval let through")
		}
	}
	l.next.Store(time.Now().Add(-time.Second).UnixNano()) // the interval has passed
	if ok, n := l.allow(time.Hour); !ok || n != 5 {
		t.Errorf("after the interval: allow = %v, suppressed %d, want true, 5", ok, n)
	}
}
