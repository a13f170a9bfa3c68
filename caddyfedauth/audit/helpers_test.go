package audit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var testSecret = []byte("test-secret")

// delivery is one POST as the receiver saw it.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

// events decodes the delivery's body, failing the test on any error.
func (d delivery) events(t *testing.T) []Event {
	t.Helper()
	var evs []Event
	if err := json.Unmarshal(d.body, &evs); err != nil {
		t.Fatalf("body is not a JSON array of events: %v: %s", err, d.body)
	}
	return evs
}

// receiver is a webhook on 127.0.0.1 that records every POST and answers
// with respond (nil: 200). n counts from 1.
type receiver struct {
	*httptest.Server
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	got  []delivery
	each chan delivery
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond, each: make(chan delivery, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: reading body: %v", err)
		}
		d := delivery{header: r.Header.Clone(), body: body, at: time.Now()}
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		n := len(rc.got)
		rc.mu.Unlock()
		select {
		case rc.each <- d:
		default: // a test that sends more than it reads with next
		}
		if rc.respond != nil {
			rc.respond(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// next waits for the next POST.
func (rc *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-rc.each:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return delivery{}
	}
}

// counts records OnResult.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(result string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[result] += n
}

func (c *counts) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]int{ResultSent: c.m[ResultSent], ResultFailed: c.m[ResultFailed], ResultDropped: c.m[ResultDropped]}
}

func (c *counts) want(t *testing.T, sent, failed, dropped int) {
	t.Helper()
	want := map[string]int{ResultSent: sent, ResultFailed: failed, ResultDropped: dropped}
	if got := c.get(); got[ResultSent] != sent || got[ResultFailed] != failed || got[ResultDropped] != dropped {
		t.Errorf("OnResult counts = %v, want %v", got, want)
	}
}

// testSender starts a Sender for url with the test secret, counting into
// the returned counts and logging into the returned observer. Fields
// left zero in cfg take the defaults; Close runs at cleanup.
func testSender(t *testing.T, url string, cfg Config) (*Sender, *counts, *observer.ObservedLogs) {
	t.Helper()
	c := new(counts)
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.URL = url
	if cfg.Secret == nil {
		cfg.Secret = func() []byte { return testSecret }
	}
	cfg.OnResult = c.add
	cfg.Logger = zap.New(core)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(t, s, 10*time.Second) })
	return s, c, logs
}

// closeWithin closes s with a context that ends after d and returns
// Close's error.
func closeWithin(t *testing.T, s *Sender, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Close(ctx)
}

// mustClose closes s and fails the test unless everything queued was
// delivered in time.
func mustClose(t *testing.T, s *Sender) {
	t.Helper()
	if err := closeWithin(t, s, 10*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// event returns a distinct event; its RequestID is i.
func event(i int) Event {
	return Event{
		Actor:        Actor{Sub: "repo:acme/app:ref:refs/heads/main", Issuer: "https://token.actions.githubusercontent.com"},
		Path:         "/system/functions",
		Method:       http.MethodPut,
		Actions:      []string{"Function:Update"},
		ResponseCode: http.StatusAccepted,
		Time:         time.Date(2026, 12, 1, 10, 0, 0, i, time.UTC),
		RequestID:    strconv.Itoa(i),
		Resource:     "staging:fn",
		Decision:     "allowed",
	}
}
