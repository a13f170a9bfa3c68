package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/caddy-fedauth/caddy-fedauth/e2e"
)

const issuerSettle = 10 * time.Second

// signingKey is one of the issuer's keys, as the private JWK the IdP
// reads from IDP_JWKS_FILE.
type signingKey struct {
	kid string
	jwk json.RawMessage
}

func newSigningKey(kid string) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	k, err := jwk.Import(priv)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	b, err := json.Marshal(k)
	return &signingKey{kid: kid, jwk: b}, err
}

// issuerKeys drives the IdP's keys through its JWKS file and SIGHUP, and
// remembers which kids it has withdrawn.
type issuerKeys struct {
	s    *soak
	file string

	mu        sync.Mutex
	withdrawn map[string]bool
}

// write replaces the IdP's JWKS file; the first key signs, all are
// published. Written by rename, so the IdP never reads half a file.
func (k *issuerKeys) write(keys ...*signingKey) error {
	doc := struct {
		Keys []json.RawMessage `json:"keys"`
	}{}
	for _, key := range keys {
		doc.Keys = append(doc.Keys, key.jwk)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := k.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, k.file)
}

// publish makes the running IdP sign with keys[0] and publish all of
// keys, and waits until its jwks_uri shows exactly those.
func (k *issuerKeys) publish(ctx context.Context, keys ...*signingKey) error {
	if err := k.write(keys...); err != nil {
		return fmt.Errorf("writing the IdP's JWKS: %w", err)
	}
	p := k.s.stack.Process("idp")
	if p == nil {
		return fmt.Errorf("the IdP is not running")
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to the IdP: %w", err)
	}
	want := make([]string, len(keys))
	for i, key := range keys {
		want[i] = key.kid
	}
	slices.Sort(want)
	return k.waitFor(ctx, fmt.Sprintf("the IdP to publish %v", want), func() (bool, error) {
		got, err := k.publishedKids(ctx)
		slices.Sort(got)
		return slices.Equal(got, want), err
	})
}

// freshToken gets a token with a direct client-credentials POST, as a
// client with its own OAuth library would.
func (s *soak) freshToken(ctx context.Context) (token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.stack.IdPURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e2e.KeycloakClient, s.clientSecret)
	resp, err := s.tokenClient.Do(req)
	if err != nil {
		return token{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return token{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return token{}, fmt.Errorf("token endpoint: status %d: %s", resp.StatusCode, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return token{}, fmt.Errorf("token endpoint: %w", err)
	}
	return parseToken(tr.AccessToken)
}

// confirmSigning waits until a token just issued carries kid.
func (k *issuerKeys) confirmSigning(ctx context.Context, kid string) error {
	return k.waitFor(ctx, "the IdP to sign with "+kid, func() (bool, error) {
		t, err := k.s.freshToken(ctx)
		return err == nil && t.kid == kid, err
	})
}

func (k *issuerKeys) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(issuerSettle)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: last error %v", what, err)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (k *issuerKeys) publishedKids(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.s.stack.IdPURL+"/jwks", nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.s.tokenClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, err
	}
	var kids []string
	for _, key := range set.Keys {
		kids = append(kids, key.Kid)
	}
	return kids, nil
}

func (k *issuerKeys) withdraw(kid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.withdrawn[kid] = true
}

func (k *issuerKeys) isWithdrawn(kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.withdrawn[kid]
}
