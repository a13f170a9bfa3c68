package sysissuer

import (
	"net/url"
	"testing"
	"time"
)

// BenchmarkAccessToken is the issuing half of an exchange: the claims of
// the docs' Keycloak token made into an access token and signed.
func BenchmarkAccessToken(b *testing.B) {
	k, err := LoadKeys("testdata/p256-ecparam.pem", "")
	if err != nil {
		b.Fatal(err)
	}
	original := decode(b, keycloakToken)
	policies := []string{"fn-rw"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(AccessClaims(original, gateway, policies, time.Now(), 12*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseExchange reads faas-cli invoke's function-token request.
func BenchmarkParseExchange(b *testing.B) {
	f := form(url.Values{"scope": {"function"}, "audience": {"openfaas-fn:env"}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseExchange(f); err != nil {
			b.Fatal(err)
		}
	}
}
