package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

const (
	tokenAudience = "fed-gw.load"
	tokenSubject  = "load-client"
	tokenLifetime = 5 * time.Minute
	signingKID    = "load-1"
)

// issuer is a stand-in OIDC provider: discovery, a one-key JWKS, and a
// minting function. It is just enough for fed_oidc to load its keys.
type issuer struct {
	url  string
	key  *rsa.PrivateKey
	srv  *http.Server
	jwks []byte
}

func startIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := &issuer{url: "http://" + ln.Addr().String(), key: key}
	if iss.jwks, err = publicJWKS(key); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.serveDiscovery)
	mux.HandleFunc("GET /jwks", iss.serveJWKS)
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = iss.srv.Serve(ln) }()
	return iss, nil
}

// publicJWKS renders the key's public half as a JWK Set with kid, alg and
// use=sig, the fields fed_oidc checks before it trusts a key.
func publicJWKS(key *rsa.PrivateKey) ([]byte, error) {
	k, err := jwk.Import(key.Public())
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: signingKID, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(k); err != nil {
		return nil, err
	}
	return json.Marshal(set)
}

func (iss *issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                iss.url,
		"jwks_uri":                              iss.url + "/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (iss *issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(iss.jwks)
}

func (iss *issuer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = iss.srv.Shutdown(ctx)
}

// mint returns a ready Authorization header value, "Bearer <jwt>", for an
// access token with a unique jti, whose sub and groups hold four roles of
// the IAM site's (iamfixture.Objects). Building the header here keeps
// string work out of the load loop.
func (iss *issuer) mint(jti string) (string, error) {
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss":    iss.url,
		"sub":    tokenSubject,
		"aud":    tokenAudience,
		"iat":    now.Unix(),
		"exp":    now.Add(tokenLifetime).Unix(),
		"jti":    jti,
		"groups": iamfixture.Groups,
	})
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, signingKID); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
		return "", err
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), iss.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return "Bearer " + string(tok), nil
}

// mintPool mints n distinct tokens on all cores. It runs before a timed
// run, never during one: an RSA signature costs far more CPU than the
// verification being measured.
func (iss *issuer) mintPool(ctx context.Context, prefix string, n int) ([]string, error) {
	pool := make([]string, n)
	workers := min(runtime.NumCPU(), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Worker w takes every workers-th slot: no coordination needed.
			for i := w; i < n; i += workers {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				tok, err := iss.mint(prefix + strconv.Itoa(i))
				if err != nil {
					errs[w] = err
					return
				}
				pool[i] = tok
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return pool, nil
}
