package caddyfedauth

import (
	"os"
	"strings"
	"testing"
)

// Handlers with the same issuer settings share one running key source,
// in one config and across configs; it stops with its last user.
func TestKeySourcePool(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "ES256", "p256")
	tok := ti.token(t, k, ti.claims("fed-gw.tenant1"))
	const settings = `,"jwks_refresh_interval":"1h"`

	old := provisionHandler(t, ti, settings)
	if err := verifyOnce(old, tok); err != nil {
		t.Fatal(err)
	}
	fetches := ti.jwksHits.Load()

	// The next config, as a reload provisions it before the old one
	// is cleaned up: same source, its keys already there.
	next := provisionHandler(t, ti, settings)
	if next.issuers().only().keys != old.issuers().only().keys {
		t.Fatal("equal issuer settings got a second key source")
	}
	if next.issuers().cache != old.issuers().cache {
		t.Error("equal configs got a second token cache")
	}
	if err := verifyOnce(next, tok); err != nil {
		t.Errorf("the new config's first request: %v", err)
	}
	if n := ti.jwksHits.Load() - fetches; n != 0 {
		t.Errorf("the new config fetched the JWKS %d times; want its keys taken over", n)
	}

	// Other verification settings: the keys are shared, the cache is not.
	azp := provisionHandler(t, ti, settings+`,"accept_azp":true`)
	if azp.issuers().only().keys != old.issuers().only().keys {
		t.Error("a change outside the key settings started a second key source")
	}
	if azp.issuers().cache == old.issuers().cache {
		t.Error("a token cache was shared between different verification settings")
	}
	// Other key settings: a source of its own.
	other := provisionHandler(t, ti, `,"jwks_refresh_interval":"2h"`)
	if other.issuers().only().keys == old.issuers().only().keys {
		t.Error("different key settings shared a key source")
	}

	src := old.issuers().only().keys
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if src.life.Err() != nil {
		t.Fatal("cleaning up the old config stopped the key source the new one uses")
	}
	if err := verifyOnce(next, tok); err != nil {
		t.Errorf("after the old config's cleanup: %v", err)
	}
	_ = next.Cleanup()
	_ = azp.Cleanup()
	if src.life.Err() == nil {
		t.Error("the key source kept running after its last user was cleaned up")
	}
	if n := countPooled(ti.URL()); n != 1 { // other's source only
		t.Errorf("%d key sources for the issuer still pooled, want 1", n)
	}
	_ = other.Cleanup()
	if n := countPooled(ti.URL()); n != 0 {
		t.Errorf("%d key sources still pooled after every cleanup", n)
	}
}

// A CA bundle whose contents change under the same file name is a new
// key source: the old one's client trusts the old bundle.
func TestKeySourcePoolCABundleContents(t *testing.T) {
	ti := startTestIssuer(t, true)
	ti.addKey(t, "k1", "ES256", "p256")
	bundle := ti.caBundle(t)
	cfg := `,"ca_bundle":"` + bundle + `"`
	first := provisionHandler(t, ti, cfg)
	// Rotated: another CA added beside the old one (all httptest
	// servers share one certificate, so any other PEM will do).
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundle, append(b, b...), 0o600); err != nil {
		t.Fatal(err)
	}
	second := provisionHandler(t, ti, cfg)
	if second.issuers().only().keys == first.issuers().only().keys {
		t.Error("a changed CA bundle kept the key source built with the old one")
	}
}

func countPooled(issuer string) int {
	n := 0
	keySources.Range(func(key, _ any) bool {
		if strings.Contains(key.(string), `"issuer":"`+issuer+`"`) {
			n++
		}
		return true
	})
	return n
}
