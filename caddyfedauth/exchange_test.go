package caddyfedauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// writeECKey writes a new P-256 key the way openssl ecparam -genkey does
// (SEC 1 "EC PRIVATE KEY"), and returns it.
func writeECKey(t testing.TB, file string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	return k
}

// answer is one response of the handler, run directly.
type answer struct {
	status    int
	header    http.Header
	body      string
	forwarded bool
}

// call runs one request through f: auth is the Authorization value ("" for
// none), form a form body for POST.
func call(t testing.TB, f *FedOIDC, method, target, auth string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r = caddyhttp.PrepareRequest(r.WithContext(t.Context()), caddy.NewReplacer(), httptest.NewRecorder(), nil)
	w := httptest.NewRecorder()
	var a answer
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a.forwarded = true
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := f.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	a.status, a.header, a.body = w.Code, w.Header(), w.Body.String()
	return a
}

// exchangeForm is the form go-sdk's ExchangeIDToken sends.
func exchangeForm(subject string, extra ...string) url.Values {
	v := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
		"subject_token":      {subject},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Add(extra[i], extra[i+1])
	}
	return v
}

// decodeClaims of a compact JWS, unverified, for assertions.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

const systemURL = "https://gw.example.com"

func newSystemIssuerHandler(t testing.TB, ti *testIssuer, dir string) *FedOIDC {
	t.Helper()
	cfg := fmt.Sprintf(`{"issuer": %q, "audience": ["fed-gw.tenant1"],
	"iam_objects": [
		{"apiVersion": "iam.openfaas.com/v1", "kind": "Policy", "metadata": {"name": "dev-invoke"},
		 "spec": {"statement": [
			{"sid": "invoke", "action": ["Function:Invoke", "Function:List"], "effect": "Allow", "resource": ["dev:*"]},
			{"sid": "no-secret-fn", "action": ["Function:Invoke"], "effect": "Deny", "resource": ["dev:secret-fn"]}]}},
		{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "devs"},
		 "spec": {"policy": ["dev-invoke"], "principal": {"jwt:sub": ["client-123"]}}}
	],
	"system_issuer": {"url": %q, "signing_key_file": %q, "previous_key_file": %q, "reload_interval": 100000000}}`,
		ti.URL(), systemURL, filepath.Join(dir, "issuer.key"), filepath.Join(dir, "previous.key"))
	var f FedOIDC
	if err := json.Unmarshal([]byte(cfg), &f); err != nil {
		t.Fatal(err)
	}
	startedContext(t, f.Provision)
	t.Cleanup(func() { _ = f.Cleanup() })
	return &f
}

func TestSystemIssuer(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k", "ES256", "p256")
	dir := t.TempDir()
	writeECKey(t, filepath.Join(dir, "issuer.key"))
	writeECKey(t, filepath.Join(dir, "previous.key"))
	f := newSystemIssuerHandler(t, ti, dir)
	idp := ti.token(t, key, ti.claims("fed-gw.tenant1"))
	waitFor(t, "keys", func() bool { return call(t, f, "POST", "/oauth/token", "", exchangeForm(idp)).status == 200 })

	t.Run("discovery and keys need no token", func(t *testing.T) {
		a := call(t, f, "GET", "/.well-known/openid-configuration", "", nil)
		var doc map[string]any
		if a.status != 200 || json.Unmarshal([]byte(a.body), &doc) != nil {
			t.Fatalf("discovery: %d %q", a.status, a.body)
		}
		if doc["issuer"] != systemURL || doc["jwks_uri"] != systemURL+"/.well-known/jwks.json" || doc["token_endpoint"] != systemURL+"/oauth/token" {
			t.Errorf("discovery %v", doc)
		}
		a = call(t, f, "GET", "/.well-known/jwks.json", "", nil)
		var jwks struct{ Keys []map[string]any }
		if a.status != 200 || json.Unmarshal([]byte(a.body), &jwks) != nil || len(jwks.Keys) != 2 {
			t.Fatalf("jwks: %d %q", a.status, a.body)
		}
		for _, k := range jwks.Keys {
			if _, private := k["d"]; private || k["kid"] == "" {
				t.Errorf("jwks key %v", k)
			}
		}
		if a := call(t, f, "POST", "/.well-known/jwks.json", "", nil); a.status != 405 || a.forwarded {
			t.Errorf("POST to the JWKS: %d", a.status)
		}
	})

	var access string
	t.Run("exchange", func(t *testing.T) {
		a := call(t, f, "POST", "/oauth/token", "", exchangeForm(idp))
		var resp map[string]any
		if a.status != 200 || json.Unmarshal([]byte(a.body), &resp) != nil {
			t.Fatalf("exchange: %d %q", a.status, a.body)
		}
		if resp["issued_token_type"] != "urn:ietf:params:oauth:token-type:id_token" || resp["token_type"] != "Bearer" || resp["expires_in"] != 3600.0 {
			t.Errorf("exchange answer %v", resp)
		}
		if a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
		}
		access, _ = resp["access_token"].(string)
		c := jwtClaims(t, access)
		if c["iss"] != systemURL || c["sub"] != "fed:client-123" || c["fed:iss"] != ti.URL() ||
			fmt.Sprint(c["policy"]) != "[dev-invoke]" || c["client_id"] != "client-123" {
			t.Errorf("access token claims %v", c)
		}
		if aud := fmt.Sprint(c["aud"]); aud != systemURL && aud != "["+systemURL+"]" {
			t.Errorf("aud %v", c["aud"])
		}
	})

	t.Run("audit names the original issuer", func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel) // an allowed read is logged at debug
		f.useLogger(zap.New(core))
		defer f.useLogger(zap.NewNop())
		call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+access, nil)
		entries := logs.FilterMessage("decision").All()
		if len(entries) != 1 {
			t.Fatalf("%d audit entries", len(entries))
		}
		m := entries[0].ContextMap()
		if m["sub"] != "fed:client-123" || m["iss"] != systemURL || m["fed_iss"] != ti.URL() || m["policy"] != "dev-invoke" {
			t.Errorf("audit entry %v", m)
		}
	})

	t.Run("the access token is decided by its policies", func(t *testing.T) {
		for target, want := range map[string]int{
			"/system/functions?namespace=dev":  200,
			"/system/functions?namespace=prod": 403,
			"/system/secrets?namespace=dev":    403,
		} {
			if a := call(t, f, "GET", target, "Bearer "+access, nil); a.status != want || a.forwarded != (want == 200) {
				t.Errorf("%s: %d, want %d", target, a.status, want)
			}
		}
	})

	t.Run("exchange refusals", func(t *testing.T) {
		other := ti.claims("fed-gw.tenant1")
		other["sub"] = "nobody"
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			body   string
		}{
			{"no role matches", exchangeForm(ti.token(t, key, other)), 400, `{"error":"invalid_request","error_description":"No policies found for subject: nobody"}`},
			{"an invalid subject token", exchangeForm(idp[:len(idp)-4] + "AAAA"), 400, `"invalid_request"`},
			{"another audience", exchangeForm(ti.token(t, key, ti.claims("fed-gw.tenant2"))), 400, `"invalid_request"`},
			{"an access token again", exchangeForm(access), 400, `"invalid_request"`},
			{"the wrong grant", url.Values{"grant_type": {"client_credentials"}}, 400, `"unsupported_grant_type"`},
			{"no subject token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, 400, `"invalid_request"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := call(t, f, "POST", "/oauth/token", "", tc.form)
				if a.status != tc.status || !strings.Contains(a.body, tc.body) {
					t.Errorf("%d %s, want %d with %s", a.status, a.body, tc.status, tc.body)
				}
				if st := tc.form.Get("subject_token"); st != "" && strings.Contains(a.body, st[:20]) {
					t.Error("the answer echoes the token")
				}
			})
		}
		if a := call(t, f, "GET", "/oauth/token", "", nil); a.status != 405 {
			t.Errorf("GET /oauth/token: %d", a.status)
		}
	})

	t.Run("function tokens", func(t *testing.T) {
		a := call(t, f, "POST", "/oauth/token", "", exchangeForm(access, "scope", "function", "audience", "dev:env"))
		var resp map[string]any
		if a.status != 200 || json.Unmarshal([]byte(a.body), &resp) != nil {
			t.Fatalf("function token: %d %q", a.status, a.body)
		}
		if resp["scope"] != "function" || resp["expires_in"] != 300.0 {
			t.Errorf("answer %v", resp)
		}
		fn := resp["access_token"].(string)
		c := jwtClaims(t, fn)
		grant, _ := c["function"].(map[string]any)
		if fmt.Sprint(grant["permissions"]) != "[dev:*]" || fmt.Sprint(grant["audience"]) != "[dev:env]" {
			t.Errorf("function claim %v", c["function"])
		}
		for _, tc := range []struct {
			method, target string
			want           int
		}{
			{"POST", "/function/env.dev", 200},
			{"GET", "/function/figlet.dev", 403}, // outside its audience
			{"GET", "/system/functions?namespace=dev", 403},
		} {
			if a := call(t, f, tc.method, tc.target, "Bearer "+fn, nil); a.status != tc.want {
				t.Errorf("function token on %s %s: %d, want %d", tc.method, tc.target, a.status, tc.want)
			}
		}
		// Without an audience it may invoke what its permissions cover,
		// less what a Deny of its policies refuses.
		wide := call(t, f, "POST", "/oauth/token", "", exchangeForm(access, "scope", "function"))
		anyFn := map[string]any{}
		_ = json.Unmarshal([]byte(wide.body), &anyFn)
		tok, _ := anyFn["access_token"].(string)
		for target, want := range map[string]int{"/function/figlet.dev": 200, "/function/secret-fn.dev": 403, "/function/x.prod": 403} {
			if a := call(t, f, "POST", target, "Bearer "+tok, nil); a.status != want {
				t.Errorf("audience-less function token on %s: %d, want %d", target, a.status, want)
			}
		}
		for _, aud := range []string{"prod:fn", "dev:secret-fn"} {
			if a := call(t, f, "POST", "/oauth/token", "", exchangeForm(access, "scope", "function", "audience", aud)); a.status != 400 || !strings.Contains(a.body, "invalid_target") {
				t.Errorf("audience %s: %d %s, want 400 invalid_target", aud, a.status, a.body)
			}
		}
		if a := call(t, f, "POST", "/oauth/token", "", exchangeForm(idp, "scope", "function")); a.status != 400 {
			t.Errorf("a function token from an IdP token: %d", a.status)
		}
	})

	t.Run("an invocation without a token gets the realm faas-cli answers", func(t *testing.T) {
		a := call(t, f, "POST", "/function/env.dev", "", nil)
		if a.status != 401 || a.header.Get("WWW-Authenticate") != `Bearer realm="IAM function invoke"` || a.forwarded {
			t.Errorf("%d %q", a.status, a.header.Get("WWW-Authenticate"))
		}
		if a := call(t, f, "GET", "/system/functions", "", nil); a.header.Get("WWW-Authenticate") != `Bearer realm="openfaas"` {
			t.Errorf("the API keeps its realm: %q", a.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("forged system tokens", func(t *testing.T) {
		parts := strings.Split(access, ".")
		c := jwtClaims(t, access)
		c["policy"] = []string{"dev-invoke", "admin"}
		edited := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, c)) + "." + parts[2]
		var hdr map[string]any
		b, _ := base64.RawURLEncoding.DecodeString(parts[0])
		_ = json.Unmarshal(b, &hdr)
		stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		otherKey := signToken(t, fmt.Sprintf(`{"alg":"ES256","kid":%q,"typ":"JWT"}`, hdr["kid"]), jwtClaims(t, access), "ES256", stranger)
		// The classic forgery: HMAC keyed with the published public key.
		hsInput := b64([]byte(fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"JWT"}`, hdr["kid"]))) + "." + parts[1]
		mac := hmac.New(sha256.New, []byte(call(t, f, "GET", "/.well-known/jwks.json", "", nil).body))
		mac.Write([]byte(hsInput))
		hs := hsInput + "." + b64(mac.Sum(nil))
		for name, tok := range map[string]string{"policy claim edited": edited, "another key, same kid": otherKey, "alg HS256": hs} {
			if a := call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+tok, nil); a.status != 401 {
				t.Errorf("%s: %d, want 401", name, a.status)
			}
		}
	})

	t.Run("key rotation", func(t *testing.T) {
		// The signing key becomes the previous one, a new one signs.
		old := call(t, f, "GET", "/.well-known/jwks.json", "", nil).body
		prev, err := os.ReadFile(filepath.Join(dir, "issuer.key"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "previous.key"), string(prev))
		writeECKey(t, filepath.Join(dir, "issuer.key"))
		waitFor(t, "the new key", func() bool { return call(t, f, "GET", "/.well-known/jwks.json", "", nil).body != old })
		if a := call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+access, nil); a.status != 200 {
			t.Errorf("a token of the previous key: %d, want 200", a.status)
		}
		a := call(t, f, "POST", "/oauth/token", "", exchangeForm(idp))
		var resp map[string]any
		_ = json.Unmarshal([]byte(a.body), &resp)
		fresh, _ := resp["access_token"].(string)
		if a := call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+fresh, nil); a.status != 200 {
			t.Errorf("a token of the new key: %d", a.status)
		}
		// The previous key withdrawn: its tokens stop at once.
		writeECKey(t, filepath.Join(dir, "previous.key"))
		waitFor(t, "the old key withdrawn", func() bool {
			return call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+access, nil).status == 401
		})
		if a := call(t, f, "GET", "/system/functions?namespace=dev", "Bearer "+fresh, nil); a.status != 200 {
			t.Errorf("the new key's token after the withdrawal: %d", a.status)
		}
	})
}

// A flood of exchanges with junk subject tokens costs no more key fetches
// than the same tokens on the API: unknown issuers none, unknown kids one
// per jwks_min_refresh_interval.
func TestExchangeFloodCostsNoFetches(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k", "ES256", "p256")
	dir := t.TempDir()
	writeECKey(t, filepath.Join(dir, "issuer.key"))
	writeECKey(t, filepath.Join(dir, "previous.key"))
	f := newSystemIssuerHandler(t, ti, dir)
	waitFor(t, "keys", func() bool {
		return call(t, f, "POST", "/oauth/token", "", exchangeForm(ti.token(t, key, ti.claims("fed-gw.tenant1")))).status == 200
	})
	before := ti.jwksHits.Load() + ti.discHits.Load()
	stranger := ti.claims("fed-gw.tenant1")
	stranger["iss"] = "https://stranger.example.com"
	for i := range 200 {
		c := ti.claims("fed-gw.tenant1")
		c["jti"] = i
		junk := []string{
			signToken(t, fmt.Sprintf(`{"alg":"ES256","kid":"random-%d"}`, i), c, "ES256", key.priv),
			ti.token(t, key, stranger),
			"not.a.token",
		}
		for _, tok := range junk {
			if a := call(t, f, "POST", "/oauth/token", "", exchangeForm(tok)); a.status != 400 {
				t.Fatalf("junk exchange: %d %s", a.status, a.body)
			}
		}
	}
	// jwks_min_refresh_interval is 30s: one refresh at most for the kids.
	if n := ti.jwksHits.Load() + ti.discHits.Load() - before; n > 1 {
		t.Errorf("600 junk exchanges made %d key fetches, want at most 1", n)
	}
}
