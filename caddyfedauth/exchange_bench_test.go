package caddyfedauth

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkExchange is one token exchange at the system issuer: a subject
// token verified (a new one each time, so no cache hit), its roles
// matched, an access token made and signed (ES256).
func BenchmarkExchange(b *testing.B) {
	f, ti, key := benchSystemIssuer(b)
	tokens := make([]string, b.N)
	for i := range tokens {
		c := ti.claims("fed-gw.tenant1")
		c["jti"] = i
		tokens[i] = ti.token(b, key, c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if a := call(b, f, "POST", "/oauth/token", "", exchangeForm(tokens[i])); a.status != 200 {
			b.Fatalf("exchange: %d %s", a.status, a.body)
		}
	}
}

// BenchmarkExchangedTokenCached is a request made with an OpenFaaS access
// token once it is in the token cache: decided by its policy claim.
// BenchmarkIdPTokenCached is the same request with the IdP token it was
// exchanged for, decided by its role, through the same harness
// (httptest request and Caddy's request preparation included).
func BenchmarkExchangedTokenCached(b *testing.B) {
	f, ti, key := benchSystemIssuer(b)
	a := call(b, f, "POST", "/oauth/token", "", exchangeForm(ti.token(b, key, ti.claims("fed-gw.tenant1"))))
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(a.body), &resp); err != nil || resp.AccessToken == "" {
		b.Fatalf("exchange: %d %s", a.status, a.body)
	}
	benchCachedRequest(b, f, "Bearer "+resp.AccessToken)
}

func BenchmarkIdPTokenCached(b *testing.B) {
	f, ti, key := benchSystemIssuer(b)
	benchCachedRequest(b, f, "Bearer "+ti.token(b, key, ti.claims("fed-gw.tenant1")))
}

func benchCachedRequest(b *testing.B, f *FedOIDC, auth string) {
	if a := call(b, f, "GET", "/system/functions?namespace=dev", auth, nil); a.status != 200 {
		b.Fatalf("status %d", a.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if a := call(b, f, "GET", "/system/functions?namespace=dev", auth, nil); a.status != 200 {
			b.Fatalf("status %d", a.status)
		}
	}
}

func benchSystemIssuer(b *testing.B) (*FedOIDC, *testIssuer, *testKey) {
	ti := newTestIssuer(b)
	key := ti.addKey(b, "k", "ES256", "p256")
	dir := b.TempDir()
	writeECKey(b, filepath.Join(dir, "issuer.key"))
	writeECKey(b, filepath.Join(dir, "previous.key"))
	f := newSystemIssuerHandler(b, ti, dir)
	f.useLogger(zap.NewNop()) // the work, not the audit log's
	waitFor(b, "keys", func() bool {
		return call(b, f, "POST", "/oauth/token", "", exchangeForm(ti.token(b, key, ti.claims("fed-gw.tenant1")))).status == 200
	})
	return f, ti, key
}
