package caddyfedauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

var benchAlgs = []struct{ alg, kind string }{
	{"RS256", "rsa2048"}, {"ES256", "p256"}, {"EdDSA", "ed25519"},
}

// BenchmarkVerifyNew verifies a token the cache has not seen (the cache is
// off), signature and claims. Compare with BenchmarkJWTParse: same key,
// same token, jwx's own jwt.Parse.
func BenchmarkVerifyNew(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.alg, func(b *testing.B) {
			ti := newTestIssuer(b)
			k := ti.addKey(b, "k", a.alg, a.kind)
			f := provisionHandler(b, ti, `,"token_cache_size":-1`)
			tok := ti.token(b, k, ti.claims("fed-gw.tenant1"))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuers().verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWTParse is the baseline: a bare jwt.Parse with the same key.
func BenchmarkJWTParse(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.alg, func(b *testing.B) {
			ti := newTestIssuer(b)
			k := ti.addKey(b, "k", a.alg, a.kind)
			tok := []byte(ti.token(b, k, ti.claims("fed-gw.tenant1")))
			alg, _ := jwa.LookupSignatureAlgorithm(a.alg)
			pub := k.priv.Public()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwt.Parse(tok, jwt.WithKey(alg, pub)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached verifies a token already in the cache.
func BenchmarkVerifyCached(b *testing.B) {
	ti := newTestIssuer(b)
	k := ti.addKey(b, "k", "RS256", "rsa2048")
	f := provisionHandler(b, ti, "")
	tok := ti.token(b, k, ti.claims("fed-gw.tenant1"))
	ctx := context.Background()
	if _, err := f.issuers().verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuers().verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkHandlerCached is the whole ServeHTTP for a reused token on an
// allowed path, with the credential swap and placeholders, next a no-op.
func BenchmarkHandlerCached(b *testing.B) {
	ti := newTestIssuer(b)
	k := ti.addKey(b, "k", "RS256", "rsa2048")
	user, pass := writeGatewaySecret(b, "admin", "gateway-password")
	f := provisionHandler(b, ti, fmt.Sprintf(`,"gateway_basic_auth":{"user_file":%q,"password_file":%q}`, user, pass))
	// As in a server whose gateway proxy has transport fed_oidc.
	gatewayTransports.add(f.server, 1)
	b.Cleanup(func() { gatewayTransports.add(f.server, -1) })
	tok := "Bearer " + ti.token(b, k, ti.claims("fed-gw.tenant1"))
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	req := httptest.NewRequest("GET", "/system/functions", nil)
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req.Header.Set("Authorization", tok)
		if err := f.ServeHTTP(w, req, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCacheFlood inserts 100k distinct verified tokens into a
// cache bounded at 10k and reports the entries it ends with.
func BenchmarkTokenCacheFlood(b *testing.B) {
	const bound = 10_000
	now := time.Now()
	keys := make([]tokenKey, 100_000)
	for i := range keys {
		keys[i] = hashToken(fmt.Sprint("token-", i))
	}
	var c *tokenCache
	b.ReportAllocs()
	for b.Loop() {
		c = newTokenCache(bound)
		for _, k := range keys {
			c.put(k, cachedToken{expires: now.Add(time.Hour)}, now)
		}
	}
	if c.len() > bound {
		b.Fatalf("cache holds %d entries, bound %d", c.len(), bound)
	}
	b.ReportMetric(float64(c.len()), "entries")
}

// BenchmarkCheckClaims decodes and checks a verified payload: the test
// issuer's claims, and a Keycloak-shaped access token with nested roles.
func BenchmarkCheckClaims(b *testing.B) {
	ti := newTestIssuer(b)
	v := &verifier{issuer: ti.URL(), audiences: map[string]struct{}{"fed-gw.tenant1": {}}, skew: 30 * time.Second}
	keycloak := ti.claims("fed-gw.tenant1")
	for k, val := range map[string]any{
		"jti": "onrtcc:1c1e6a4c-63f4-4c5e-9d43-cf6b3b57b7c1", "typ": "Bearer", "acr": "1",
		"allowed-origins": []string{"/*"},
		"realm_access":    map[string]any{"roles": []string{"offline_access", "default-roles-openfaas", "uma_authorization"}},
		"resource_access": map[string]any{"account": map[string]any{"roles": []string{"manage-account", "view-profile"}}},
		"clientHost":      "10.0.0.17", "clientAddress": "10.0.0.17", "email_verified": false,
		"preferred_username": "service-account-fed-gw.tenant1",
	} {
		keycloak[k] = val
	}
	for _, p := range []struct {
		name   string
		claims map[string]any
	}{{"small", ti.claims("fed-gw.tenant1")}, {"keycloak", keycloak}} {
		b.Run(p.name, func(b *testing.B) {
			payload := mustJSON(b, p.claims)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.checkClaims(payload, "at+jwt", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
