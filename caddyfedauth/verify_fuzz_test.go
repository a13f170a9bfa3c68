package caddyfedauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// FuzzVerifyToken feeds arbitrary tokens to the verifier. Invariants: it
// never panics, every refusal is a tokenError with a known reason, and a
// token it accepts signs exactly the header and claims of a token the
// issuer minted, spelled canonically: no other spelling of a token, and
// so no second cache entry for it, gets through.
func FuzzVerifyToken(f *testing.F) {
	ti := newTestIssuer(f)
	rsaKey := ti.addKey(f, "rsa-1", "RS256", "rsa2048")
	ecKey := ti.addKey(f, "ec-1", "ES256", "p256")
	h := provisionHandler(f, ti, `,"token_cache_size":-1`)
	minted := map[string]bool{}
	for _, k := range []*testKey{rsaKey, ecKey} {
		tok := ti.token(f, k, ti.claims("fed-gw.tenant1"))
		minted[signedPart(tok)] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(b64([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".")
		f.Add(b64([]byte(`{"alg":"HS256","kid":"rsa-1"}`)) + "." + parts[1] + "." + parts[2])
		f.Add(b64([]byte(`{"alg":"RS256","kid":"rsa-1","jwk":{"kty":"RSA"}}`)) + "." + parts[1] + "." + parts[2])
		f.Add(parts[0] + "." + parts[1])
		for _, tc := range strictDecodingAttacks(f, ti, k) {
			if tc.want == "ok" {
				minted[signedPart(tc.token)] = true
			}
			f.Add(tc.token)
		}
	}
	known := map[string]bool{
		reasonTooLarge: true, reasonMalformed: true, reasonAlgNotAllowed: true, reasonForbiddenHeader: true,
		reasonUnknownKey: true, reasonBadSignature: true, reasonExpired: true, reasonNotYetValid: true,
		reasonWrongIssuer: true, reasonUnknownIssuer: true, reasonWrongAudience: true, reasonWrongType: true, reasonLifetimeTooLong: true,
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := h.issuers().verify(context.Background(), token)
		if err == nil {
			if !minted[signedPart(token)] {
				t.Fatalf("accepted a token the issuer did not mint: %q", token)
			}
			for _, seg := range strings.Split(token, ".") {
				if !canonicalBase64URL(seg) {
					t.Fatalf("accepted a non-canonical spelling: %q", token)
				}
			}
			return
		}
		if r := reasonOf(err); !known[r] {
			t.Fatalf("refusal with unexpected reason %q", r)
		}
	})
}

// signedPart is the JWS signing input: header and payload.
func signedPart(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return token
	}
	return token[:i]
}

// FuzzParseHeader is a differential check: a header we accept must read
// the same to encoding/json and to jwx's own header parser, which
// cross-checks alg during verification, so no header means one thing to
// our allow-list and another to the signature check.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		`{"alg":"RS256","kid":"k"}`, `{"alg":"RS256","alg":"none"}`, `{"alg":1}`, `[]`, `{"crit":["exp"]}`,
		`{"alg":"RS256"}x`, `{"a":{"alg":"none"},"alg":"ES256"}`, `{"alg":"\u0052S256"}`,
		`{"alg":"RS256","typ":"at+jwt"}`, `{"alg":"RS256","typ":1}`, `{"alg":"RS256","jwk":{"kty":"RSA","kty":"EC"}}`,
		`{"alg":"RS256","ALG":"none"}`, `{"alg":"RS256","x":"\ud800"}`,
	} {
		f.Add(b64([]byte(s)))
	}
	f.Fuzz(func(t *testing.T, enc string) {
		h, err := parseHeader(enc)
		if err != nil {
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			t.Fatalf("accepted a header that does not decode: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("accepted a header encoding/json refuses: %v", err)
		}
		if a, _ := m["alg"].(string); a != h.alg {
			t.Fatalf("alg %q, encoding/json reads %q", h.alg, a)
		}
		if typ, _ := m["typ"].(string); typ != h.typ {
			t.Fatalf("typ %q, encoding/json reads %q", h.typ, typ)
		}
		if h.alg != "" {
			a, err := jwsbb.HeaderGetString(jwsbb.HeaderParse(raw), "alg")
			if err != nil || a != h.alg {
				t.Fatalf("alg %q, jwx reads %q (%v)", h.alg, a, err)
			}
		}
	})
}
