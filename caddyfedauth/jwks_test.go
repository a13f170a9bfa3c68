package caddyfedauth

import (
	"context"
	"fmt"
	"sync"
	"testing"
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
	if err := f.verifier.keys.refresh(context.Background(), false); err == nil {
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
		{"not JSON", `nope`, 0, true},
		{"a single key, not a set", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, 0, true},
		{"empty set", `{"keys":[]}`, 0, true},
		{"symmetric key only", `{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`, 0, true},
		{"encryption key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, true},
		{"HS alg on an asymmetric key skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, true},
		{"unknown kty skipped, good key kept", `{"keys":[{"kty":"XYZ"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 1, false},
		{"private key published by mistake skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, true},
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
	ks := without.verifier.keys
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
