package caddyfedauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestKeysStartWhileIssuerDown(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "ES256", "p256")
	ti.down.Store(true)

	// Provisioning must not fail or block on an unreachable issuer.
	f := provisionHandler(t, ti, "")
	tok := ti.token(t, k, ti.claims("fed-gw.tenant1"))
	if got := reasonOf(verifyOnce(f, tok)); got != outcomeKeysUnavailable {
		t.Fatalf("while the issuer is down: got %s, want %s", got, outcomeKeysUnavailable)
	}
	// The issuer comes back: keys are fetched without outside help.
	ti.down.Store(false)
	waitFor(t, "keys after the issuer recovers", func() bool { return verifyOnce(f, tok) == nil })
}

func TestKeysSurviveIssuerOutage(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "ES256", "p256")
	f := provisionHandler(t, ti, "")
	ti.down.Store(true)
	if err := f.issuers().only().keys.refresh(context.Background(), false); err == nil {
		t.Fatal("refresh against a down issuer succeeded")
	}
	// A new token, not a cached one, still verifies with the cached keys.
	if err := verifyOnce(f, ti.token(t, k, ti.claims("fed-gw.tenant1"))); err != nil {
		t.Errorf("cached keys stopped working during the outage: %v", err)
	}
}

func TestKeyRotationAndKidFlood(t *testing.T) {
	ti := newTestIssuer(t)
	ti.addKey(t, "old", "RS256", "rsa2048")
	f := provisionHandler(t, ti, `,"jwks_min_refresh_interval":"1s","jwks_refresh_interval":"1h"`)
	before := ti.jwksHits.Load()

	// Hundreds of tokens with random kids, concurrently: they share the
	// rate-limited refresh instead of each fetching the JWKS.
	attacker := testSigner(t, "rsa2048b")
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := signToken(t, fmt.Sprintf(`{"alg":"RS256","kid":"random-%d"}`, i), ti.claims("fed-gw.tenant1"), "RS256", attacker)
			if got := reasonOf(verifyOnce(f, tok)); got != reasonUnknownKey {
				t.Errorf("random kid: got %s", got)
			}
		}()
	}
	wg.Wait()
	if n := ti.jwksHits.Load() - before; n > 2 {
		t.Errorf("300 tokens with random kids caused %d JWKS fetches, want at most 2", n)
	}

	// The issuer rotates a key in: the first token under it triggers a
	// refresh once the rate limit allows, and is accepted.
	nk := ti.addKey(t, "new", "ES256", "p256")
	tok := ti.token(t, nk, ti.claims("fed-gw.tenant1"))
	waitFor(t, "the rotated-in key", func() bool { return verifyOnce(f, tok) == nil })
}

func TestDiscovery(t *testing.T) {
	t.Run("issuer mismatch in discovery keeps keys out", func(t *testing.T) {
		ti := newTestIssuer(t)
		k := ti.addKey(t, "k1", "ES256", "p256")
		ti.issuerFor = "https://impostor.example.com"
		ti.down.Store(true) // provisionHandler must not wait for keys
		f := provisionHandler(t, ti, "")
		ti.down.Store(false)
		waitFor(t, "discovery attempts", func() bool { return ti.discHits.Load() >= 2 })
		if got := reasonOf(verifyOnce(f, ti.token(t, k, ti.claims("fed-gw.tenant1")))); got != outcomeKeysUnavailable {
			t.Errorf("got %s, want %s", got, outcomeKeysUnavailable)
		}
		if ti.jwksHits.Load() != 0 {
			t.Error("JWKS was fetched from a discovery document for another issuer")
		}
	})
	t.Run("jwks_url skips discovery", func(t *testing.T) {
		ti := newTestIssuer(t)
		k := ti.addKey(t, "k1", "ES256", "p256")
		f := provisionHandler(t, ti, fmt.Sprintf(`,"jwks_url":%q`, ti.URL()+"/jwks"))
		if err := verifyOnce(f, ti.token(t, k, ti.claims("fed-gw.tenant1"))); err != nil {
			t.Fatal(err)
		}
		if ti.discHits.Load() != 0 {
			t.Error("discovery was fetched although jwks_url was given")
		}
	})
}

func TestParseKeySet(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		keys       int
		wantErr    bool
	}{
		// Not a JWK Set, or nothing we can read: an error, so the
		// cached keys stay in use.
		{"not JSON", `nope`, 0, true},
		{"a single key, not a set", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, 0, true},
		{"no keys member", `{}`, 0, true},
		{"keys is null", `{"keys":null}`, 0, true},
		{"keys is not an array", `{"keys":{}}`, 0, true},
		{"only keys we cannot parse", `{"keys":[{"kty":"XYZ"}]}`, 0, true},
		// A well-formed set without a usable key: the issuer's word, an
		// empty set that refuses every token.
		{"empty set", `{"keys":[]}`, 0, false},
		{"symmetric key only", `{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`, 0, false},
		{"encryption key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, false},
		{"HS alg on an asymmetric key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, false},
		{"unknown kty skipped, good key kept", `{"keys":[{"kty":"XYZ"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 1, false},
		{"private key published by mistake skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, _, err := parseKeySet([]byte(tc.body), nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && len(ks.all) != tc.keys {
				t.Errorf("got %d keys, want %d", len(ks.all), tc.keys)
			}
		})
	}
}

func TestCABundle(t *testing.T) {
	ti := startTestIssuer(t, true)
	k := ti.addKey(t, "k1", "ES256", "p256")
	tok := ti.token(t, k, ti.claims("fed-gw.tenant1"))

	// The issuer's certificate chains to no system root: without the
	// bundle, no keys are ever fetched.
	ti.down.Store(true) // provisionHandler must not wait for keys
	without := provisionHandler(t, ti, "")
	ti.down.Store(false)
	ks := without.issuers().only().keys
	waitFor(t, "a completed fetch attempt", func() bool {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		return !ks.lastAttempt.IsZero() && ks.pending == nil
	})
	if ti.discHits.Load() != 0 {
		t.Error("discovery was served over an untrusted TLS connection")
	}
	if got := reasonOf(verifyOnce(without, tok)); got != outcomeKeysUnavailable {
		t.Errorf("without ca_bundle: got %s, want %s", got, outcomeKeysUnavailable)
	}

	with := provisionHandler(t, ti, fmt.Sprintf(`,"ca_bundle":%q`, ti.caBundle(t)))
	if err := verifyOnce(with, tok); err != nil {
		t.Errorf("with ca_bundle: %v", err)
	}
}

// An issuer that answers with a well-formed set and no usable key has
// withdrawn its keys: tokens they signed, cached or not, are refused.
// Only an answer we cannot read leaves the cached keys in use.
func TestKeyWithdrawal(t *testing.T) {
	encOnly := `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	for _, tc := range []struct {
		name, body string
		withdrawn  bool
	}{
		{"empty set", `{"keys":[]}`, true},
		{"encryption keys only", encOnly, true},
		{"not JSON (a broken IdP, not a withdrawal)", `<html>oops</html>`, false},
		{"no keys member", `{"error":"maintenance"}`, false},
		{"keys we cannot parse", `{"keys":[{"kty":"XYZ"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ti := newTestIssuer(t)
			k := ti.addKey(t, "k1", "ES256", "p256")
			f := provisionHandler(t, ti, `,"jwks_refresh_interval":"1h"`)
			cached := ti.token(t, k, ti.claims("fed-gw.tenant1"))
			if err := verifyOnce(f, cached); err != nil {
				t.Fatal(err)
			}
			ti.jwksBody.Store(&tc.body)
			refreshErr := f.issuers().only().keys.refresh(context.Background(), false)
			fresh := ti.token(t, k, ti.claims("fed-gw.tenant1"))
			for name, tok := range map[string]string{"cached token": cached, "new token": fresh} {
				err := verifyOnce(f, tok)
				if tc.withdrawn {
					if refreshErr != nil {
						t.Errorf("a withdrawal is an answer, not a failed fetch: %v", refreshErr)
					}
					if got := reasonOf(err); got != reasonUnknownKey {
						t.Errorf("%s after withdrawal: got %s, want %s", name, got, reasonUnknownKey)
					}
				} else if err != nil {
					t.Errorf("%s after an unreadable answer: %v, want the cached keys in use", name, err)
				}
			}
			if !tc.withdrawn && refreshErr == nil {
				t.Error("an unreadable JWKS counted as a successful fetch")
			}
			// A later outage does not bring withdrawn keys back.
			ti.down.Store(true)
			_ = f.issuers().only().keys.refresh(context.Background(), false)
			if tc.withdrawn {
				if got := reasonOf(verifyOnce(f, cached)); got != reasonUnknownKey {
					t.Errorf("after withdrawal and outage: got %s", got)
				}
			}
		})
	}
}

// Cached keys outlive an outage only for jwks_max_stale after the
// issuer's last answer; then requests get 503, until it answers again.
func TestKeysStaleness(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "ES256", "p256")
	f := provisionHandler(t, ti, `,"jwks_refresh_interval":"1h","jwks_max_stale":"2h"`)
	claims := ti.claims("fed-gw.tenant1")
	claims["exp"] = time.Now().Add(4 * time.Hour).Unix()
	tok := ti.token(t, k, claims)
	if err := verifyOnce(f, tok); err != nil {
		t.Fatal(err)
	}
	ti.down.Store(true)
	if err := f.issuers().only().keys.refresh(context.Background(), false); err == nil {
		t.Fatal("refresh against a down issuer succeeded")
	}
	start := time.Now()
	at := func(d time.Duration) { f.issuers().now = func() time.Time { return start.Add(d) } }

	at(2*time.Hour - time.Minute)
	if err := verifyOnce(f, tok); err != nil {
		t.Errorf("within jwks_max_stale: %v", err)
	}
	at(2*time.Hour + time.Minute)
	if err := verifyOnce(f, tok); !errors.Is(err, errKeysStale) {
		t.Errorf("past jwks_max_stale: got %v, want %v", err, errKeysStale)
	}
	// Through the handler: 503 with Retry-After, never the cached token.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/system/functions", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if err := f.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("stale keys through the handler: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}

	// The issuer answers again: fresh keys, served.
	ti.down.Store(false)
	at(0)
	if err := f.issuers().only().keys.refresh(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if err := verifyOnce(f, tok); err != nil {
		t.Errorf("after the issuer answered again: %v", err)
	}
}

// A fetch cut short by the source stopping (a reload, or the end of
// `caddy validate`) is not an error and is not logged as one.
func TestStoppedFetchIsNotLogged(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	core, logs := observer.New(zapcore.DebugLevel)
	src, err := newKeySource(keySourceSettings{
		Issuer: hung.URL, RefreshEvery: caddy.Duration(time.Hour), MinInterval: caddy.Duration(time.Second),
		MaxStale: caddy.Duration(2 * time.Hour),
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	src.start()
	waitFor(t, "a fetch under way", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.pending != nil
	})
	if err := src.Destruct(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fetch to end", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.pending == nil
	})
	for _, e := range logs.All() {
		if e.Level >= zapcore.WarnLevel {
			t.Errorf("stopping logged %s %q", e.Level, e.Message)
		}
	}
}
