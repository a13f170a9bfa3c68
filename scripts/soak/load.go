package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	requestPath   = "/system/functions"
	renewRetry    = time.Second
	stallPause    = 200 * time.Millisecond
	generationHdr = "X-Soak-Generation"
)

// worker is one client: it keeps a token, renews it at half life, and
// sends paced requests until ctx ends.
func (s *soak) worker(ctx context.Context) {
	var held token
	var lastTry time.Time
	var interval time.Duration
	if s.o.rate > 0 {
		interval = time.Duration(float64(s.o.workers) / s.o.rate * float64(time.Second))
	}
	next := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		if held.renewDue(now) && now.Sub(lastTry) >= renewRetry {
			lastTry = now
			epoch := s.issuerEpoch.Load()
			if t, err := s.cliToken(tokenClient); err == nil {
				held = t
				s.st.heldTokens.Add(1)
			} else {
				s.tokenFailed(err, epoch)
			}
		}
		if !held.usable(time.Now()) {
			// Not sent: an expired token proves nothing about fed_oidc.
			s.st.stalls.Add(1)
			sleep(ctx, stallPause)
			continue
		}
		tok := held
		if s.o.fresh > 0 && rand.Float64() < s.o.fresh {
			epoch := s.issuerEpoch.Load()
			if t, err := s.freshToken(ctx); err == nil && t.usable(time.Now()) {
				tok = t
				s.st.freshTokens.Add(1)
			} else if err != nil && ctx.Err() == nil {
				s.tokenFailed(err, epoch)
			}
		}
		if interval > 0 {
			if !sleep(ctx, time.Until(next)) {
				return
			}
			// A worker that fell behind starts afresh rather than burst.
			if next = next.Add(interval); next.Before(time.Now()) {
				next = time.Now()
			}
		}
		s.send(ctx, tok)
	}
}

// send makes one request and sorts out its answer.
func (s *soak) send(ctx context.Context, tok token) {
	start := time.Now()
	status, hdr, err := s.get(ctx, tok.authz)
	if ctx.Err() != nil {
		return
	}
	s.st.requests.Add(1)
	at, phase := s.elapsed(), s.phaseName()
	if err != nil {
		s.st.errors.add("transport", err.Error(), at, phase)
		return
	}
	s.noteGeneration(hdr.Get(generationHdr))
	challenge := hdr.Get("WWW-Authenticate")
	switch {
	case status == http.StatusOK:
		s.st.ok.Add(1)
		s.firstOK.CompareAndSwap(0, time.Now().UnixNano())
	case status == http.StatusServiceUnavailable && s.beforeFirstOK(start):
		// The documented answer while the issuer has never answered.
		s.st.window.Add(1)
	case status == http.StatusUnauthorized && strings.HasPrefix(challenge, "Basic"):
		// The stand-in gateway refused the credential fed_oidc sent;
		// it counts the violation itself.
		s.st.gatewayRefused.Add(1)
	case status == http.StatusUnauthorized && s.keys.isWithdrawn(tok.kid):
		s.st.withdrawnKey.Add(1)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusServiceUnavailable:
		s.st.refused.add(strconv.Itoa(status), fmt.Sprintf("kid %s, exp in %v: %s", tok.kid,
			time.Until(tok.exp).Round(time.Second), challenge), at, phase)
	default:
		s.st.errors.add("status "+strconv.Itoa(status), challenge, at, phase)
	}
}

func (s *soak) get(ctx context.Context, authz string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.stack.InvokeURL+requestPath, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", authz)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, err
}

// beforeFirstOK: the request was sent before any request had succeeded,
// that is, possibly before fed_oidc's first key fetch.
func (s *soak) beforeFirstOK(sent time.Time) bool {
	first := s.firstOK.Load()
	return first == 0 || sent.UnixNano() < first
}

func (s *soak) noteGeneration(v string) {
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return
	}
	for {
		seen := s.st.maxGen.Load()
		if g <= seen || s.st.maxGen.CompareAndSwap(seen, g) {
			return
		}
	}
}

// tokenFailed counts a failed token fetch: expected while the issuer is
// down, an error if it was up from before the fetch began until after it
// failed.
func (s *soak) tokenFailed(err error, epochBefore int64) {
	if epochBefore%2 == 0 && s.issuerEpoch.Load() == epochBefore {
		s.st.errors.add("token fetch with the issuer up", firstLine(err.Error()), s.elapsed(), s.phaseName())
		return
	}
	s.st.tokenFailures.Add(1)
	s.lastTokenErr.Store(&tokenErr{at: s.elapsed(), phase: s.phaseName(), err: err.Error()})
}

type tokenErr struct {
	at    time.Duration
	phase string
	err   string
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
