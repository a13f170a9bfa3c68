package caddyfedauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/caddyserver/caddy/v2"
)

// testIssuer stands in for an OIDC provider in unit tests: discovery,
// a JWKS it can rotate, and an outage switch. Tokens are built by hand so
// tests can forge any header.
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	published []*testKey
	down      atomic.Bool
	jwksHits  atomic.Int64
	discHits  atomic.Int64
	issuerFor string                 // issuer value put in the discovery document, if not the URL
	jwksBody  atomic.Pointer[string] // served instead of the published keys, if set
}

type testKey struct {
	kid     string
	alg     string
	priv    crypto.Signer
	jwkAlg  string // "alg" published in the JWKS; empty to omit
	private bool   // publish the private key (an IdP misconfiguration)
}

// Cached test keys: RSA generation is slow.
var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

func testSigner(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa2048", "rsa2048b":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "p256", "p256b":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

func newTestIssuer(t testing.TB) *testIssuer { return startTestIssuer(t, false) }

// startTestIssuer starts the issuer, over HTTPS with httptest's own
// certificate when tlsServer is set.
func startTestIssuer(t testing.TB, tlsServer bool) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discHits.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		iss := ti.issuerFor
		if iss == "" {
			iss = ti.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": iss, "jwks_uri": ti.srv.URL + "/jwks", "token_endpoint": ti.srv.URL + "/token",
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if body := ti.jwksBody.Load(); body != nil {
			_, _ = w.Write([]byte(*body))
			return
		}
		_, _ = w.Write(ti.jwks(t))
	})
	if tlsServer {
		ti.srv = httptest.NewTLSServer(mux)
	} else {
		ti.srv = httptest.NewServer(mux)
	}
	t.Cleanup(ti.srv.Close)
	return ti
}

// caBundle writes the TLS issuer's certificate to a PEM file.
func (ti *testIssuer) caBundle(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ti.srv.Certificate().Raw})
	if err := os.WriteFile(p, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ti *testIssuer) URL() string { return ti.srv.URL }

// addKey publishes a new key and returns it.
func (ti *testIssuer) addKey(t testing.TB, kid, alg, kind string) *testKey {
	t.Helper()
	k := &testKey{kid: kid, alg: alg, priv: testSigner(t, kind), jwkAlg: alg}
	ti.publish(k)
	return k
}

func (ti *testIssuer) publish(keys ...*testKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.published = append(ti.published, keys...)
}

func (ti *testIssuer) withdraw(kid string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	var kept []*testKey
	for _, k := range ti.published {
		if k.kid != kid {
			kept = append(kept, k)
		}
	}
	ti.published = kept
}

func (ti *testIssuer) jwks(t testing.TB) []byte {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	var keys []any
	for _, k := range ti.published {
		if rk, ok := k.priv.(*rsa.PrivateKey); ok && rk.N.BitLen() < 2048 {
			// jwx refuses to import weak keys; publish this one by hand.
			keys = append(keys, map[string]string{"kty": "RSA", "kid": k.kid, "alg": k.jwkAlg,
				"n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())})
			continue
		}
		var src any = k.priv.Public()
		if k.private {
			src = k.priv
		}
		key, err := jwk.Import(src)
		if err != nil {
			t.Error(err)
			return nil
		}
		_ = key.Set(jwk.KeyIDKey, k.kid)
		_ = key.Set(jwk.KeyUsageKey, "sig")
		if k.jwkAlg != "" {
			a, _ := jwa.LookupSignatureAlgorithm(k.jwkAlg)
			_ = key.Set(jwk.AlgorithmKey, a)
		}
		keys = append(keys, key)
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Error(err)
	}
	return b
}

// claims returns valid claims for aud, expiring in five minutes.
func (ti *testIssuer) claims(aud any) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": ti.URL(), "sub": "client-123", "aud": aud, "azp": "client-123",
		"client_id": "client-123", "scope": "openid",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// token signs claims with k under a standard header.
func (ti *testIssuer) token(t testing.TB, k *testKey, claims map[string]any) string {
	t.Helper()
	hdr := fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, k.alg, k.kid)
	return signToken(t, hdr, claims, k.alg, k.priv)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signToken builds a compact JWS from a literal header, so tests control
// every byte of it, signed with alg by key.
func signToken(t testing.TB, header string, claims any, alg string, key crypto.Signer) string {
	t.Helper()
	var payload []byte
	if s, ok := claims.(string); ok {
		payload = []byte(s)
	} else {
		payload = mustJSON(t, claims)
	}
	input := b64([]byte(header)) + "." + b64(payload)
	return input + "." + b64(signInput(t, []byte(input), alg, key))
}

func signInput(t testing.TB, input []byte, alg string, key crypto.Signer) []byte {
	t.Helper()
	hashFor := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	var h crypto.Hash
	if len(alg) == 5 {
		h = hashFor[alg[2:]]
	}
	digest := func() []byte {
		switch h {
		case crypto.SHA384:
			d := sha512.Sum384(input)
			return d[:]
		case crypto.SHA512:
			d := sha512.Sum512(input)
			return d[:]
		}
		d := sha256.Sum256(input)
		return d[:]
	}
	var sig []byte
	var err error
	switch alg[:2] {
	case "RS":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), h, digest())
	case "PS":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), h, digest(), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES":
		ek := key.(*ecdsa.PrivateKey)
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, ek, digest())
		if err == nil {
			size := (ek.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	case "Ed":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), input)
	default:
		t.Fatalf("signInput: unsupported alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// provisionHandler provisions a FedOIDC from JSON config against ti, with
// cleanup registered. It waits until the issuer's keys are loaded unless
// the issuer is down.
func provisionHandler(t testing.TB, ti *testIssuer, extra string) *FedOIDC {
	t.Helper()
	cfg := fmt.Sprintf(`{"issuer":%q,"audience":["fed-gw.tenant1"]%s}`, ti.URL(), extra)
	var f FedOIDC
	if err := json.Unmarshal([]byte(cfg), &f); err != nil {
		t.Fatal(err)
	}
	startedContext(t, func(ctx caddy.Context) error { return f.Provision(ctx) })
	t.Cleanup(func() { _ = f.Cleanup() })
	if !ti.down.Load() {
		// Loaded, and the first fetch finished, so a test's own refresh
		// starts a fetch of its own rather than joining that one.
		waitFor(t, "issuer keys", func() bool {
			ks := f.issuers().only().keys
			ks.mu.Lock()
			defer ks.mu.Unlock()
			return ks.keys.Load() != nil && ks.pending == nil
		})
	}
	return &f
}

// startedContext provisions modules with provision in the context of a
// config, then starts that config's apps, as Caddy runs a config.
func startedContext(t testing.TB, provision func(caddy.Context) error) {
	t.Helper()
	ctx := unstartedContext(t)
	if err := provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	app, err := ctx.App("fed_oidc")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.(caddy.App).Start(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// issuers returns the handler's trusted issuers.
func (f *FedOIDC) issuers() *trustedIssuers { return f.snap.Load().issuers }

// only returns the one trusted issuer's verifier.
func (t *trustedIssuers) only() *verifier { return t.list[0] }
