package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The webhook's headers, as the commercial product sends them.
const (
	headerEvent     = "X-Openfaas-Event"
	headerDelivery  = "X-Openfaas-Delivery"
	headerSignature = "X-Openfaas-Signature-256"
	eventAPIAccess  = "api_access"
)

// deliver POSTs one batch, retrying as configured, and counts it. It
// returns how many events it dropped because Close's context ended.
func (s *Sender) deliver(batch []Event) (dropped int) {
	n := len(batch)
	if s.abort.Err() != nil {
		s.cfg.OnResult(ResultDropped, n)
		return n
	}
	secret := s.cfg.Secret()
	if len(secret) == 0 {
		if c, suppressed := s.warn(logSecret, "audit webhook secret is empty, events not sent"); c != nil {
			c.Write(zap.Int("events", n), suppressed)
		}
		s.cfg.OnResult(ResultFailed, n)
		return 0
	}
	body, err := encode(batch)
	if err != nil { // only a Time outside years 0-9999
		s.fail(logFailed, "audit events not encodable", n, 0, 0, err)
		return 0
	}
	id, sig := newDeliveryID(), Sign(secret, body)
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := s.post(body, id, sig)
		switch {
		case err == nil && status >= 200 && status < 300:
			s.cfg.OnResult(ResultSent, n)
			return 0
		case s.abort.Err() != nil:
			s.cfg.OnResult(ResultDropped, n)
			return n
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			s.fail(logRejected, "audit webhook refused events, not retrying", n, status, attempt, nil)
			return 0
		case attempt > s.cfg.MaxRetries:
			s.fail(logFailed, "audit webhook delivery failed", n, status, attempt, err)
			return 0
		}
		wait := s.backoff(attempt, retryAfter)
		if c := s.cfg.Logger.Check(zapcore.DebugLevel, "audit webhook delivery will be retried"); c != nil {
			c.Write(zap.Int("status", status), zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.abort.Done():
			t.Stop()
			s.cfg.OnResult(ResultDropped, n)
			return n
		}
	}
}

func (s *Sender) fail(kind int, msg string, n, status, attempts int, err error) {
	s.cfg.OnResult(ResultFailed, n)
	if c, suppressed := s.warn(kind, msg); c != nil {
		c.Write(zap.Int("events", n), zap.Int("status", status), zap.Int("attempts", attempts),
			zap.Error(err), suppressed)
	}
}

// encode writes the batch as the commercial body: a JSON array, times in
// UTC and actions never null.
func encode(batch []Event) ([]byte, error) {
	for i := range batch {
		batch[i].Time = batch[i].Time.UTC()
		if batch[i].Actions == nil {
			batch[i].Actions = []string{}
		}
	}
	return json.Marshal(batch)
}

// post sends one attempt. status is 0 on a network error; retryAfter is
// the receiver's Retry-After, 0 if none.
func (s *Sender) post(body []byte, id, sig string) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(s.abort, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerEvent, eventAPIAccess)
	req.Header.Set(headerDelivery, id)
	req.Header.Set(headerSignature, sig)
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	// Drain a little so the connection can be reused; the answer is not read.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before retry number attempt: the receiver's
// Retry-After if it gave one, else MinBackoff doubled per retry with
// jitter between half and all of it; MaxBackoff caps both.
func (s *Sender) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, s.cfg.MaxBackoff)
	}
	d := s.cfg.MaxBackoff
	if shift := attempt - 1; shift < 62 && s.cfg.MinBackoff<<shift>>shift == s.cfg.MinBackoff {
		d = min(s.cfg.MinBackoff<<shift, d)
	}
	return d/2 + rand.N(d/2+1)
}
