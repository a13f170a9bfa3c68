package sysissuer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func loadKeys(t *testing.T, signing, previous string) *Keys {
	t.Helper()
	k, err := LoadKeys(signing, previous)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keySet(t *testing.T, k *Keys) jwk.Set {
	t.Helper()
	set, err := jwk.Parse(k.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// segment decodes part i of a compact JWS.
func segment(t *testing.T, token string, i int) []byte {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts, want a compact JWS", len(parts))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return b
}

func TestSignVerifiesWithJWKS(t *testing.T) {
	k := loadKeys(t, "testdata/p256-ecparam.pem", "")
	now := time.Now()
	claims := map[string]any{
		"iss": "https://gw.example.com", "aud": "https://gw.example.com", "sub": "fed:a81b",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"groups": []any{"dev"}, "html": "<a&b>",
	}
	token, err := k.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}

	if got, want := string(segment(t, token, 0)), `{"alg":"ES256","kid":"`+kidECParam+`","typ":"JWT"}`; got != want {
		t.Errorf("header %s, want exactly %s", got, want)
	}
	if sig := segment(t, token, 2); len(sig) != 64 {
		t.Errorf("signature of %d bytes, want R||S of 64 (RFC 7518 §3.4)", len(sig))
	}
	if !bytes.Contains(segment(t, token, 1), []byte(`"html":"<a&b>"`)) {
		t.Errorf("payload %s: HTML characters escaped", segment(t, token, 1))
	}

	// jwx with the published JWKS: kid required, alg taken from the key.
	parsed, err := jwt.ParseString(token, jwt.WithKeySet(keySet(t, k), jws.WithRequireKid(true)), jwt.WithValidate(true),
		jwt.WithIssuer("https://gw.example.com"), jwt.WithAudience("https://gw.example.com"))
	if err != nil {
		t.Fatalf("jwx does not verify the token with the JWKS: %v", err)
	}
	if sub, _ := parsed.Subject(); sub != "fed:a81b" {
		t.Errorf("sub %q", sub)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if alg, _ := hdr.Algorithm(); alg != jwa.ES256() {
		t.Errorf("alg %v", alg)
	}
	if kid, _ := hdr.KeyID(); kid != k.KeyID() {
		t.Errorf("kid %q, want %s", kid, k.KeyID())
	}
}

// Rotation: the new signing key signs; a token of the old key still
// verifies while the old key is the previous key, and not after.
func TestSignRotation(t *testing.T) {
	old := loadKeys(t, "testdata/p256-noout.pem", "")
	rotated := loadKeys(t, "testdata/p256-ecparam.pem", "testdata/p256-noout.pem")
	dropped := loadKeys(t, "testdata/p256-ecparam.pem", "")

	oldToken, err := old.Sign(map[string]any{"sub": "fed:x"})
	if err != nil {
		t.Fatal(err)
	}
	newToken, err := rotated.Sign(map[string]any{"sub": "fed:x"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(segment(t, newToken, 0)), kidECParam) {
		t.Errorf("rotated keys sign with %s, want the signing key %s", segment(t, newToken, 0), kidECParam)
	}
	verify := func(token string, k *Keys) error {
		_, err := jws.Verify([]byte(token), jws.WithKeySet(keySet(t, k), jws.WithRequireKid(true)))
		return err
	}
	if err := verify(oldToken, rotated); err != nil {
		t.Errorf("old key's token refused while the key is previous: %v", err)
	}
	if err := verify(newToken, rotated); err != nil {
		t.Errorf("new token refused: %v", err)
	}
	if verify(oldToken, dropped) == nil {
		t.Error("old key's token accepted after the previous key was dropped")
	}
	if verify(newToken, old) == nil {
		t.Error("new token accepted by the old key alone")
	}
}

func TestSignNumbersExact(t *testing.T) {
	k := loadKeys(t, "testdata/p256-noout.pem", "")
	token, err := k.Sign(map[string]any{"big": json.Number("12345678901234567890123"), "dec": json.Number("1.50")})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(segment(t, token, 1)); got != `{"big":12345678901234567890123,"dec":1.50}` {
		t.Errorf("payload %s", got)
	}
	if _, err := k.Sign(map[string]any{"bad": json.Number("1e")}); err == nil {
		t.Error("signed an invalid json.Number")
	}
}

func TestDiscovery(t *testing.T) {
	for _, issuer := range []string{"https://gw.tenant1.example.com", "https://gw.tenant1.example.com/"} {
		var doc map[string]any
		if err := json.Unmarshal(Discovery(issuer), &doc); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              "https://gw.tenant1.example.com/.well-known/jwks.json",
			"token_endpoint":                        "https://gw.tenant1.example.com/oauth/token",
			"grant_types_supported":                 []any{"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_types_supported":               []any{"public"},
			"id_token_signing_alg_values_supported": []any{"ES256"},
			"token_endpoint_auth_methods_supported": []any{"none"},
		}
		if len(doc) != len(want) {
			t.Errorf("%s: members %v, want exactly %v", issuer, doc, want)
		}
		for m, v := range want {
			if got, _ := json.Marshal(doc[m]); string(got) != mustJSON(t, v) {
				t.Errorf("%s: %s = %s, want %s", issuer, m, got, mustJSON(t, v))
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// R or S below 2^248 (about one signature in 128) must keep its leading
// zero bytes: a thousand signatures all verify.
func TestSignShortRS(t *testing.T) {
	k := loadKeys(t, "testdata/p256-noout.pem", "")
	for i := range 1000 {
		token, err := k.Sign(map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify([]byte(token), jws.WithKey(jwa.ES256(), &k.signing.PublicKey)); err != nil {
			t.Fatalf("signature %d does not verify: %v", i, err)
		}
	}
}
