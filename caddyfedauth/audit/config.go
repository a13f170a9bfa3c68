package audit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// The defaults New applies to zero Config fields.
const (
	DefaultQueueSize     = 10000
	DefaultBatchSize     = 100
	DefaultFlushInterval = time.Second
	DefaultTimeout       = 5 * time.Second
	DefaultMaxRetries    = 5
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultLogInterval   = 10 * time.Second
)

// Config configures a Sender. Zero fields take the defaults above.
type Config struct {
	// URL is the webhook: https, or http to a loopback address only,
	// since the events name who did what.
	URL string
	// Secret returns the HMAC key. It is called once per batch, so a
	// rotated secret file applies from the next batch. Required; a batch
	// for which it returns an empty key is not sent and counts failed.
	Secret func() []byte
	// QueueSize is how many events wait for delivery; Send drops beyond
	// it. Default: 10000.
	QueueSize int
	// BatchSize is the most events in one POST. Default: 100.
	BatchSize int
	// FlushInterval is the longest a batch waits to fill once it has its
	// first event. Default: 1s.
	FlushInterval time.Duration
	// Timeout bounds each POST, answer included. Default: 5s.
	Timeout time.Duration
	// MaxRetries is how often a batch is resent after a network error,
	// a 5xx or a 429 before it counts failed. Default: 5; negative: none.
	MaxRetries int
	// MinBackoff is the wait before the first retry; each retry doubles
	// it, up to MaxBackoff, and waits a random time between half of it
	// and all of it. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the backoff and any Retry-After. Default: 30s.
	MaxBackoff time.Duration
	// Client sends the POSTs. Redirects are never followed, since
	// following one would resend the events elsewhere: a copy of Client
	// is used with CheckRedirect replaced. Default: a client with Timeout.
	Client *http.Client
	// Logger gets the warnings, each kind at most once per LogInterval.
	// Event bodies are never logged. Default: no logging.
	Logger *zap.Logger
	// LogInterval is the least time between two warnings of one kind
	// (queue full, closed, failed, rejected, empty secret); the next
	// one says how many were suppressed. Default: 10s.
	LogInterval time.Duration
	// OnResult counts events by result (ResultSent, ResultFailed,
	// ResultDropped). It is called from Send for drops and from the
	// sender's goroutine for the rest, so it must be safe for concurrent
	// use and fast (a counter's Add). Optional.
	OnResult func(result string, n int)
}

// ValidateURL checks a webhook URL without I/O: an absolute https URL,
// or http to localhost or a loopback IP.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("audit webhook URL: %w", err)
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("audit webhook URL %q: not an absolute URL with a host", u.Redacted())
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if host := u.Hostname(); host == "localhost" || isLoopbackIP(host) {
			return nil
		}
		return fmt.Errorf("audit webhook URL %q: http is allowed only to a loopback address; use https", u.Redacted())
	}
	return fmt.Errorf("audit webhook URL %q: scheme must be https", u.Redacted())
}

func isLoopbackIP(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// withDefaults validates c and returns it with the defaults applied.
func (c Config) withDefaults() (Config, error) {
	if err := ValidateURL(c.URL); err != nil {
		return c, err
	}
	if c.Secret == nil {
		return c, errors.New("audit webhook: a secret is required")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"queue size", int64(c.QueueSize)}, {"batch size", int64(c.BatchSize)},
		{"flush interval", int64(c.FlushInterval)}, {"timeout", int64(c.Timeout)},
		{"min backoff", int64(c.MinBackoff)}, {"max backoff", int64(c.MaxBackoff)},
		{"log interval", int64(c.LogInterval)},
	} {
		if f.v < 0 {
			return c, fmt.Errorf("audit webhook: negative %s", f.name)
		}
	}
	orDefault(&c.QueueSize, DefaultQueueSize)
	orDefault(&c.BatchSize, DefaultBatchSize)
	orDefault(&c.FlushInterval, DefaultFlushInterval)
	orDefault(&c.Timeout, DefaultTimeout)
	orDefault(&c.MaxRetries, DefaultMaxRetries)
	orDefault(&c.MinBackoff, DefaultMinBackoff)
	orDefault(&c.MaxBackoff, DefaultMaxBackoff)
	orDefault(&c.LogInterval, DefaultLogInterval)
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.MinBackoff > c.MaxBackoff {
		return c, fmt.Errorf("audit webhook: min backoff %v above max backoff %v", c.MinBackoff, c.MaxBackoff)
	}
	client := http.Client{Timeout: c.Timeout}
	if c.Client != nil {
		client = *c.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Client = &client
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.OnResult == nil {
		c.OnResult = func(string, int) {}
	}
	return c, nil
}

func orDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
