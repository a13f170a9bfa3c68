package caddyfedauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// reasonOf returns the refusal reason of err, "ok" for nil, or "keys_unavailable".
func reasonOf(err error) string {
	var te *tokenError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &te):
		return te.reason
	case errors.Is(err, errKeysUnavailable):
		return outcomeKeysUnavailable
	}
	return "unexpected: " + err.Error()
}

func TestVerifyTokens(t *testing.T) {
	ti := newTestIssuer(t)
	rsaKey := ti.addKey(t, "rsa-1", "RS256", "rsa2048")
	psKey := ti.addKey(t, "ps-1", "PS256", "rsa2048b")
	ecKey := ti.addKey(t, "ec-1", "ES256", "p256")
	edKey := ti.addKey(t, "ed-1", "EdDSA", "ed25519")
	// A weak key the issuer publishes must never verify anything.
	weak := ti.addKey(t, "weak", "RS256", "rsa1024")
	// Many IdPs omit "alg" from their JWKs; the key type must then fit.
	noAlg := &testKey{kid: "rsa-noalg", alg: "RS256", priv: testSigner(t, "rsa2048b")}
	ti.publish(noAlg)
	f := provisionHandler(t, ti, `,"clock_skew":"30s"`)

	// attacker's own keys, never published
	evilRSA := &testKey{kid: "rsa-1", alg: "RS256", priv: testSigner(t, "rsa2048b")}
	evilEC := &testKey{kid: "ec-1", alg: "ES256", priv: testSigner(t, "p256b")}

	aud := "fed-gw.tenant1"
	valid := func() map[string]any { return ti.claims(aud) }
	with := func(k string, v any) map[string]any {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	now := time.Now()
	pubDER, _ := x509.MarshalPKIXPublicKey(rsaKey.priv.Public())
	hs256 := func(secret []byte, hdr string) string {
		input := b64([]byte(hdr)) + "." + b64(mustJSON(t, valid()))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil))
	}
	evilJWK := string(mustJSON(t, map[string]any{"kty": "RSA", "kid": "rsa-1"}))
	good := ti.token(t, rsaKey, valid())
	parts := strings.Split(good, ".")

	// jku/x5u must never be fetched: this server counts if they are.
	var fetched atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
	defer attacker.Close()

	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"valid RS256", good, "ok"},
		{"valid PS256", ti.token(t, psKey, valid()), "ok"},
		{"valid ES256", ti.token(t, ecKey, valid()), "ok"},
		{"valid EdDSA", ti.token(t, edKey, valid()), "ok"},
		{"aud as array containing ours", ti.token(t, rsaKey, with("aud", []string{"other", aud})), "ok"},
		{"expired within clock skew", ti.token(t, rsaKey, with("exp", now.Add(-10*time.Second).Unix())), "ok"},
		{"fractional exp", ti.token(t, rsaKey, with("exp", float64(now.Add(time.Minute).Unix())+0.5)), "ok"},

		// alg confusion: none and HMAC keyed with the issuer's public key
		{"alg none", b64([]byte(`{"alg":"none","kid":"rsa-1"}`)) + "." + parts[1] + ".", "alg_not_allowed"},
		{"alg None capitalised", b64([]byte(`{"alg":"None"}`)) + "." + parts[1] + ".", "alg_not_allowed"},
		{"HS256 keyed with public key DER", hs256(pubDER, `{"alg":"HS256","kid":"rsa-1"}`), "alg_not_allowed"},
		{"HS256 keyed with JWKS bytes", hs256(ti.jwks(t), `{"alg":"HS256","kid":"rsa-1"}`), "alg_not_allowed"},
		{"missing alg", signToken(t, `{"kid":"rsa-1"}`, valid(), "RS256", rsaKey.priv), "alg_not_allowed"},
		{"alg not a string", signToken(t, `{"alg":["RS256"],"kid":"rsa-1"}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"duplicate alg header", signToken(t, `{"alg":"RS256","alg":"none","kid":"rsa-1"}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"typ not a string", signToken(t, `{"alg":"RS256","kid":"rsa-1","typ":["JWT"]}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"typ null", signToken(t, `{"alg":"RS256","kid":"rsa-1","typ":null}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"duplicate typ header", signToken(t, `{"alg":"RS256","kid":"rsa-1","typ":"JWT","typ":"at+jwt"}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"duplicate inside the jwk header", signToken(t, `{"alg":"RS256","kid":"rsa-1","jwk":{"kty":"RSA","kty":"EC"}}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"no typ is fine by default", signToken(t, `{"alg":"RS256","kid":"rsa-1"}`, valid(), "RS256", rsaKey.priv), "ok"},

		// signatures
		{"wrong key under a known kid (RSA)", ti.token(t, evilRSA, valid()), "bad_signature"},
		{"wrong key under a known kid (EC)", ti.token(t, evilEC, valid()), "bad_signature"},
		{"tampered payload", parts[0] + "." + b64(mustJSON(t, with("sub", "admin"))) + "." + parts[2], "bad_signature"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "bad_signature"},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(ti.token(t, rsaKey, with("sub", "x")), ".")[2], "bad_signature"},

		// key selection comes from the JWKS only
		{"embedded jwk header", signToken(t, `{"alg":"RS256","jwk":`+evilJWK+`}`, valid(), "RS256", evilRSA.priv), "forbidden_header"},
		{"jku header", signToken(t, `{"alg":"RS256","kid":"rsa-1","jku":"`+attacker.URL+`"}`, valid(), "RS256", evilRSA.priv), "forbidden_header"},
		{"x5u header", signToken(t, `{"alg":"RS256","kid":"rsa-1","x5u":"`+attacker.URL+`"}`, valid(), "RS256", evilRSA.priv), "forbidden_header"},
		{"x5c header", signToken(t, `{"alg":"RS256","kid":"rsa-1","x5c":["MIIB"]}`, valid(), "RS256", evilRSA.priv), "forbidden_header"},
		{"unknown crit header", signToken(t, `{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}`, valid(), "RS256", rsaKey.priv), "forbidden_header"},
		{"b64 false", signToken(t, `{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}`, valid(), "RS256", rsaKey.priv), "forbidden_header"},
		{"unknown kid", ti.token(t, &testKey{kid: "nope", alg: "RS256", priv: rsaKey.priv}, valid()), "unknown_key"},
		{"ES256 header on an RSA kid", signToken(t, `{"alg":"ES256","kid":"rsa-1"}`, valid(), "ES256", ecKey.priv), "unknown_key"},
		{"RS256 header on an EC kid", signToken(t, `{"alg":"RS256","kid":"ec-1"}`, valid(), "RS256", rsaKey.priv), "unknown_key"},
		{"RS256 on a key published for PS256", signToken(t, `{"alg":"RS256","kid":"ps-1"}`, valid(), "RS256", psKey.priv), "unknown_key"},
		{"weak RSA key", ti.token(t, weak, valid()), "unknown_key"},
		{"JWK without alg, RS256", ti.token(t, noAlg, valid()), "ok"},
		{"JWK without alg, PS256", signToken(t, `{"alg":"PS256","kid":"rsa-noalg"}`, valid(), "PS256", noAlg.priv), "ok"},
		{"JWK without alg, ES256 header", signToken(t, `{"alg":"ES256","kid":"rsa-noalg"}`, valid(), "ES256", ecKey.priv), "unknown_key"},
		{"no kid, one key fits", signToken(t, `{"alg":"ES256"}`, valid(), "ES256", ecKey.priv), "ok"},
		{"no kid, two keys fit", signToken(t, `{"alg":"RS256"}`, valid(), "RS256", rsaKey.priv), "unknown_key"},

		// claims
		{"expired", ti.token(t, rsaKey, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"no exp", ti.token(t, rsaKey, with("exp", nil)), "malformed_token"},
		{"exp as numeric string", ti.token(t, rsaKey, with("exp", "99999999999")), "malformed_token"},
		{"exp null", ti.token(t, rsaKey, with("exp", json.RawMessage("null"))), "malformed_token"},
		{"future nbf", ti.token(t, rsaKey, with("nbf", now.Add(time.Hour).Unix())), "not_yet_valid"},
		{"future iat", ti.token(t, rsaKey, with("iat", now.Add(time.Hour).Unix())), "not_yet_valid"},
		{"wrong iss", ti.token(t, rsaKey, with("iss", "https://evil.example.com")), "unknown_issuer"},
		{"iss with trailing slash", ti.token(t, rsaKey, with("iss", ti.URL()+"/")), "unknown_issuer"},
		{"absent iss", ti.token(t, rsaKey, with("iss", nil)), "unknown_issuer"},
		{"iss not a string", ti.token(t, rsaKey, with("iss", 1)), "malformed_token"},
		{"wrong aud", ti.token(t, rsaKey, with("aud", "fed-gw.tenant2")), "wrong_audience"},
		{"absent aud", ti.token(t, rsaKey, with("aud", nil)), "wrong_audience"},
		{"aud prefix of ours", ti.token(t, rsaKey, with("aud", "fed-gw.tenant")), "wrong_audience"},
		{"aud array without ours", ti.token(t, rsaKey, with("aud", []string{"a", "b"})), "wrong_audience"},
		{"aud of wrong type", ti.token(t, rsaKey, with("aud", 7)), "malformed_token"},
		{"azp ours but accept_azp off", ti.token(t, rsaKey, with("aud", "account")), "wrong_audience"},
		{"claims not JSON", signToken(t, `{"alg":"RS256","kid":"rsa-1"}`, "not json", "RS256", rsaKey.priv), "malformed_token"},

		// serialization
		{"two parts", parts[0] + "." + parts[1], "malformed_token"},
		{"five parts (JWE shape)", good + ".a.b", "malformed_token"},
		{"JSON serialization", `{"payload":"` + parts[1] + `","signatures":[]}`, "malformed_token"},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], "malformed_token"},
		{"header not an object", b64([]byte(`["RS256"]`)) + "." + parts[1] + "." + parts[2], "malformed_token"},
		{"trailing data after header", signToken(t, `{"alg":"RS256","kid":"rsa-1"}{}`, valid(), "RS256", rsaKey.priv), "malformed_token"},
		{"too large", ti.token(t, rsaKey, with("pad", strings.Repeat("x", defaultMaxTokenSize))), "token_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.issuers().verify(context.Background(), tc.token)
			if got := reasonOf(err); got != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("jku/x5u URL was fetched %d times", n)
	}

	t.Run("identity of a valid token", func(t *testing.T) {
		id, err := f.issuers().verify(context.Background(), ti.token(t, ecKey, with("aud", []string{aud, "x"})))
		if err != nil {
			t.Fatal(err)
		}
		if id.Subject != "client-123" || id.Issuer != ti.URL() || id.AuthorizedParty != "client-123" ||
			id.ClientID != "client-123" || id.Scope != "openid" || id.placeholders[4] != aud+",x" {
			t.Errorf("identity = %+v", id)
		}
	})
}

func TestVerifyOptions(t *testing.T) {
	ti := newTestIssuer(t)
	rsaKey := ti.addKey(t, "rsa-1", "RS256", "rsa2048")
	ecKey := ti.addKey(t, "ec-1", "ES256", "p256")
	keycloak := ti.claims("account") // Keycloak: aud "account", azp = client id
	keycloak["azp"] = "fed-gw.tenant1"

	for _, tc := range []struct {
		name, config string
		token        string
		want         string
	}{
		{"accept_azp takes the client id from azp", `,"accept_azp":true`, ti.token(t, rsaKey, keycloak), "ok"},
		{"accept_azp still refuses another azp", `,"accept_azp":true`, ti.token(t, rsaKey, ti.claims("account")), "wrong_audience"},
		{"several audiences", `,"audience":["a","fed-gw.tenant9"]`, ti.token(t, rsaKey, ti.claims("fed-gw.tenant9")), "ok"},
		{"algorithms narrows the allow-list", `,"algorithms":["ES256"]`, ti.token(t, rsaKey, ti.claims("fed-gw.tenant1")), "alg_not_allowed"},
		{"algorithms allows what it lists", `,"algorithms":["ES256"]`, ti.token(t, ecKey, ti.claims("fed-gw.tenant1")), "ok"},
		{"max_token_size", `,"max_token_size":512`, ti.token(t, rsaKey, ti.claims("fed-gw.tenant1")), "token_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := provisionHandler(t, ti, tc.config)
			_, err := f.issuers().verify(context.Background(), tc.token)
			if got := reasonOf(err); got != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}

	t.Run("zero clock skew refuses a token just expired", func(t *testing.T) {
		f := provisionHandler(t, ti, `,"clock_skew":"1ns"`)
		c := ti.claims("fed-gw.tenant1")
		c["exp"] = time.Now().Add(-2 * time.Second).Unix()
		if got := reasonOf(verifyOnce(f, ti.token(t, rsaKey, c))); got != "expired" {
			t.Errorf("got %s", got)
		}
	})
}

// TestVerifyStrictDecoding: a payload has one reading and a token one
// spelling. Every case is signed by the issuer's own key (or is a
// respelling of a valid token), so only the decoding can refuse it.
func TestVerifyStrictDecoding(t *testing.T) {
	ti := newTestIssuer(t)
	for _, k := range []*testKey{
		ti.addKey(t, "rsa-1", "RS256", "rsa2048"),
		ti.addKey(t, "ec-1", "ES256", "p256"),
	} {
		t.Run(k.alg, func(t *testing.T) {
			f := provisionHandler(t, ti, "")
			for _, tc := range strictDecodingAttacks(t, ti, k) {
				t.Run(tc.name, func(t *testing.T) {
					before := f.issuers().cache.len()
					if got := reasonOf(verifyOnce(f, tc.token)); got != tc.want {
						t.Errorf("got %s, want %s", got, tc.want)
					}
					if grew := f.issuers().cache.len() > before; grew != (tc.want == "ok") {
						t.Errorf("cache grew: %v, for a token that got %s", grew, tc.want)
					}
				})
			}
		})
	}

	// The case: the valid token is cached, and none of its other
	// spellings is accepted from the cache or adds an entry of its own.
	t.Run("respellings of a cached token", func(t *testing.T) {
		k := ti.addKey(t, "rsa-2", "RS256", "rsa2048b")
		f := provisionHandler(t, ti, "")
		good := ti.token(t, k, ti.claims("fed-gw.tenant1"))
		if err := verifyOnce(f, good); err != nil {
			t.Fatal(err)
		}
		spellings := signatureSpellings(t, good)
		if len(spellings) < 15 {
			t.Fatalf("only %d respellings of an RS256 signature", len(spellings))
		}
		for _, v := range append(spellings, tokenCase{name: "padded", token: good + "=="}) {
			if got := reasonOf(verifyOnce(f, v.token)); got != reasonMalformed {
				t.Errorf("%s: got %s", v.name, got)
			}
		}
		if n := f.issuers().cache.len(); n != 1 {
			t.Errorf("cache holds %d entries, want 1", n)
		}
	})
}

func TestCanonicalBase64URL(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		want bool
	}{
		{"", true}, {"AA", true}, {"AAA", true}, {"AAAA", true}, {"-_8", true}, {"QQ", true},
		{"A", false},     // 6 bits end no byte
		{"AB", false},    // stray bits 0001
		{"AAB", false},   // stray bits 01
		{"QR", false},    // "A" is QQ
		{"AA==", false},  // padding
		{"AA+A", false},  // standard alphabet
		{"AA/A", false},  // standard alphabet
		{"AA\nA", false}, // Go's decoder skips newlines
		{"AA\rA", false},
		{"AA A", false},
		{"AA.A", false},
	} {
		seg := strings.NewReplacer(`\n`, "\n", `\r`, "\r").Replace(tc.seg)
		if got := canonicalBase64URL(seg); got != tc.want {
			t.Errorf("canonicalBase64URL(%q) = %v, want %v", seg, got, tc.want)
		}
	}
	// Agreement with the standard library's strict decoder on every
	// short segment of a few characters: canonical exactly when
	// RawURLEncoding.Strict() decodes it and it has no CR or LF.
	for _, seg := range allSegments(3) {
		_, err := base64.RawURLEncoding.Strict().DecodeString(seg)
		want := err == nil && !strings.ContainsAny(seg, "\r\n")
		if got := canonicalBase64URL(seg); got != want {
			t.Fatalf("canonicalBase64URL(%q) = %v, strict decoding says %v", seg, got, want)
		}
	}
}

// allSegments lists every string of up to n characters over the base64
// alphabets, padding and CR/LF.
func allSegments(n int) []string {
	const chars = b64URLAlphabet + "+/=\r\n"
	out := []string{""}
	prev := []string{""}
	for range n {
		var next []string
		for _, p := range prev {
			for i := range len(chars) {
				next = append(next, p+chars[i:i+1])
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

// TestVerifyTokenType: require_typ compares as RFC 7515 §4.1.9 says.
func TestVerifyTokenType(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "rsa-1", "RS256", "rsa2048")
	withTyp := func(typ string) string {
		return signToken(t, `{"alg":"RS256","kid":"rsa-1"`+typ+`}`, ti.claims("fed-gw.tenant1"), "RS256", k.priv)
	}
	atJWT := provisionHandler(t, ti, `,"require_typ":["at+jwt"]`)
	either := provisionHandler(t, ti, `,"require_typ":["JWT","application/at+jwt","kb+jwt"]`)
	off := provisionHandler(t, ti, "")
	for _, tc := range []struct {
		name, typ            string
		atJWT, either, unset string
	}{
		{"missing", ``, "wrong_type", "wrong_type", "ok"},
		{"empty", `,"typ":""`, "wrong_type", "wrong_type", "ok"},
		{"JWT (Keycloak, Entra ID)", `,"typ":"JWT"`, "wrong_type", "ok", "ok"},
		{"jwt", `,"typ":"jwt"`, "wrong_type", "ok", "ok"},
		{"at+jwt", `,"typ":"at+jwt"`, "ok", "ok", "ok"},
		{"application/at+jwt", `,"typ":"application/at+jwt"`, "ok", "ok", "ok"},
		{"AT+JWT", `,"typ":"AT+JWT"`, "ok", "ok", "ok"},
		{"Application/At+Jwt", `,"typ":"Application/At+Jwt"`, "ok", "ok", "ok"},
		{"another type's prefix", `,"typ":"text/at+jwt"`, "wrong_type", "wrong_type", "ok"},
		{"application/jwt", `,"typ":"application/jwt"`, "wrong_type", "ok", "ok"},
		{"trailing space", `,"typ":"at+jwt "`, "wrong_type", "wrong_type", "ok"},
		{"a parameter", `,"typ":"at+jwt;x=1"`, "wrong_type", "wrong_type", "ok"},
		{"ID token type of some IdPs", `,"typ":"id_token+jwt"`, "wrong_type", "wrong_type", "ok"},
		{"kb+jwt", `,"typ":"kb+jwt"`, "wrong_type", "ok", "ok"},
		// Unicode case mapping must not make a match: strings.ToLower
		// turns U+212A KELVIN SIGN into an ASCII k.
		{"Kelvin sign for k", `,"typ":"\u212ab+jwt"`, "wrong_type", "wrong_type", "ok"},
		{"escaped at+jwt", `,"typ":"at\u002bjwt"`, "ok", "ok", "ok"},
		{"a number", `,"typ":1`, "malformed_token", "malformed_token", "malformed_token"},
		{"an object", `,"typ":{"t":"at+jwt"}`, "malformed_token", "malformed_token", "malformed_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := withTyp(tc.typ)
			for _, c := range []struct {
				f    *FedOIDC
				want string
			}{{atJWT, tc.atJWT}, {either, tc.either}, {off, tc.unset}} {
				if got := reasonOf(verifyOnce(c.f, tok)); got != c.want {
					t.Errorf("require_typ %q: got %s, want %s", c.f.RequireTyp, got, c.want)
				}
			}
		})
	}
}

// TestVerifyLifetime: max_token_lifetime bounds both what the issuer
// granted (exp - iat) and what is left (exp - now), with a fixed clock.
func TestVerifyLifetime(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "rsa-1", "RS256", "rsa2048")
	f := provisionHandler(t, ti, `,"max_token_lifetime":"1h","clock_skew":"30s","token_cache_size":-1`)
	off := provisionHandler(t, ti, `,"token_cache_size":-1`)
	now := time.Unix(time.Now().Unix(), 0)
	f.issuers().now = func() time.Time { return now }
	off.issuers().now = f.issuers().now
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	const none = time.Duration(math.MinInt64) // no iat claim
	for _, tc := range []struct {
		name          string
		iat, exp      time.Duration
		want, wantOff string
	}{
		{"5 minutes", 0, 5 * time.Minute, "ok", "ok"},
		{"exactly the limit", 0, time.Hour, "ok", "ok"},
		{"a second over the limit", 0, time.Hour + time.Second, "lifetime_too_long", "ok"},
		{"valid for 100 years", 0, 100 * 365 * 24 * time.Hour, "lifetime_too_long", "ok"},
		{"issued long ago, little left", -2 * time.Hour, time.Minute, "lifetime_too_long", "ok"},
		{"issued long ago, expired", -2 * time.Hour, -time.Hour, "expired", "expired"},
		{"no iat, 100 years left", none, 100 * 365 * 24 * time.Hour, "lifetime_too_long", "ok"},
		{"no iat, within the limit", none, 30 * time.Minute, "ok", "ok"},
		{"no iat, the limit plus skew", none, time.Hour + 30*time.Second, "ok", "ok"},
		{"no iat, a second past limit plus skew", none, time.Hour + 31*time.Second, "lifetime_too_long", "ok"},
		{"iat ahead by the skew, a full lifetime", 30 * time.Second, time.Hour + 30*time.Second, "ok", "ok"},
		{"iat ahead past the skew", 31 * time.Second, time.Hour, "not_yet_valid", "not_yet_valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ti.claims("fed-gw.tenant1")
			c["exp"] = at(tc.exp)
			if tc.iat == none {
				delete(c, "iat")
			} else {
				c["iat"] = at(tc.iat)
			}
			tok := ti.token(t, k, c)
			if got := reasonOf(verifyOnce(f, tok)); got != tc.want {
				t.Errorf("max_token_lifetime 1h: got %s, want %s", got, tc.want)
			}
			if got := reasonOf(verifyOnce(off, tok)); got != tc.wantOff {
				t.Errorf("unset: got %s, want %s", got, tc.wantOff)
			}
		})
	}
}

func verifyOnce(f *FedOIDC, token string) error {
	_, err := f.issuers().verify(context.Background(), token)
	return err
}

func TestTokenCache(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "rsa-1", "RS256", "rsa2048")
	f := provisionHandler(t, ti, `,"clock_skew":"1ns"`)
	clock := time.Now()
	f.issuers().now = func() time.Time { return clock }

	claims := ti.claims("fed-gw.tenant1")
	claims["exp"] = clock.Add(time.Minute).Unix()
	tok := ti.token(t, k, claims)
	if err := verifyOnce(f, tok); err != nil {
		t.Fatal(err)
	}
	if f.issuers().cache.len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", f.issuers().cache.len())
	}

	t.Run("a cached token is not re-verified", func(t *testing.T) {
		// A hit returns the cached *identity itself; verifying again
		// would build a new one.
		e, ok := f.issuers().cache.get(hashToken(tok), clock)
		if !ok {
			t.Fatal("token not cached")
		}
		id, err := f.issuers().verify(context.Background(), tok)
		if err != nil || id != e.id {
			t.Errorf("second verify did not come from the cache: %v", err)
		}
	})

	t.Run("never served past exp", func(t *testing.T) {
		clock = clock.Add(2 * time.Minute)
		if got := reasonOf(verifyOnce(f, tok)); got != "expired" {
			t.Errorf("got %s, want expired", got)
		}
		clock = clock.Add(-2 * time.Minute)
	})

	t.Run("withdrawn key invalidates cached tokens", func(t *testing.T) {
		if err := verifyOnce(f, tok); err != nil {
			t.Fatal(err)
		}
		ti.withdraw("rsa-1")
		ti.addKey(t, "rsa-2", "RS256", "rsa2048b")
		if err := f.issuers().only().keys.refresh(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if got := reasonOf(verifyOnce(f, tok)); got != "unknown_key" {
			t.Errorf("got %s, want unknown_key", got)
		}
	})
}

func TestTokenCacheBound(t *testing.T) {
	const bound = 1000
	c := newTokenCache(bound)
	now := time.Now()
	for i := range 100_000 {
		c.put(hashToken(fmt.Sprint("token-", i)), cachedToken{expires: now.Add(time.Hour)}, now)
		if c.len() > bound {
			t.Fatalf("cache grew to %d entries after %d inserts (bound %d)", c.len(), i+1, bound)
		}
	}
	if c.len() != bound {
		t.Errorf("cache holds %d entries, want %d", c.len(), bound)
	}
	// Expired entries go first when full.
	c = newTokenCache(2)
	c.put(hashToken("old"), cachedToken{expires: now.Add(time.Second)}, now)
	c.put(hashToken("live"), cachedToken{expires: now.Add(time.Hour)}, now)
	later := now.Add(2 * time.Second)
	c.put(hashToken("new"), cachedToken{expires: now.Add(time.Hour)}, later)
	if _, ok := c.get(hashToken("live"), later); !ok {
		t.Error("a live entry was evicted while an expired one was there")
	}
	// An already expired token is not stored.
	c.put(hashToken("dead"), cachedToken{expires: now}, later)
	if _, ok := c.entries[hashToken("dead")]; ok {
		t.Error("expired token was cached")
	}
}
