package caddyfedauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
)

const (
	// callbackPath is the loopback redirect's path, faas-cli pro auth's.
	callbackPath = "/oauth/callback"

	// callbackShutdownGrace lets the answer page reach the browser before
	// the listener goes away.
	callbackShutdownGrace = 2 * time.Second
)

// authCodeLogin is one run of the OAuth 2.0 authorization code flow for
// a native app (RFC 8252): PKCE with S256, a random state and nonce, and
// a redirect to a loopback address we listen on.
type authCodeLogin struct {
	issuer      string
	meta        *providerMetadata
	clientID    string
	scope       string
	audience    string // sent only if non-empty (Auth0)
	redirectURI string

	state string
	nonce string
	pkce  pkce
}

// newAuthCodeLogin prepares a login with the issuer's endpoints, and
// fresh secrets for this one run.
func newAuthCodeLogin(issuer string, meta *providerMetadata, clientID, scope, audience, redirectURI string) (*authCodeLogin, error) {
	switch {
	case meta.AuthorizationEndpoint == "":
		return nil, fmt.Errorf("discovery document of %s has no authorization_endpoint", issuer)
	case meta.TokenEndpoint == "":
		return nil, fmt.Errorf("discovery document of %s has no token_endpoint", issuer)
	case meta.CodeChallengeMethodsSupported != nil && !slices.Contains(meta.CodeChallengeMethodsSupported, pkceMethod):
		// an IdP that ignored the challenge would leave the code unbound
		return nil, fmt.Errorf("%s does not support PKCE with %s (code_challenge_methods_supported: %q)", issuer, pkceMethod, meta.CodeChallengeMethodsSupported)
	}
	return &authCodeLogin{
		issuer: issuer, meta: meta, clientID: clientID, scope: scope, audience: audience, redirectURI: redirectURI,
		state: randomURLToken(), nonce: randomURLToken(), pkce: newPKCE(),
	}, nil
}

// authURL is the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3,
// OpenID Connect Core §3.1.2.1) for the browser to open. The endpoint's
// own query, if any, is kept.
func (l *authCodeLogin) authURL() string {
	u, _ := url.Parse(l.meta.AuthorizationEndpoint) // checked by fetchDiscovery
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", l.clientID)
	q.Set("redirect_uri", l.redirectURI)
	q.Set("scope", l.scope)
	q.Set("state", l.state)
	q.Set("nonce", l.nonce)
	q.Set("code_challenge", l.pkce.challenge)
	q.Set("code_challenge_method", pkceMethod)
	if l.audience != "" {
		q.Set("audience", l.audience)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// checkCallback reads the authorization response (RFC 6749 §4.1.2) and
// returns its code. The state is checked first: a response that is not
// the answer to this login's request is refused whatever it says, since
// a forged callback could log the user in as someone else.
func (l *authCodeLogin) checkCallback(q url.Values) (string, error) {
	for name, vs := range q {
		if len(vs) > 1 {
			return "", fmt.Errorf("refusing the login callback: parameter %q is repeated", name)
		}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.state)) != 1 {
		if e := q.Get("error"); e != "" {
			return "", fmt.Errorf("refusing the login callback: its state does not match this login's (it reports error %q, which cannot be trusted)", e)
		}
		return "", errors.New("refusing the login callback: its state does not match this login's; it is from another login, or forged")
	}
	if e := q.Get("error"); e != "" {
		if d := q.Get("error_description"); d != "" {
			return "", fmt.Errorf("the identity provider refused the login: %q: %q", e, d)
		}
		return "", fmt.Errorf("the identity provider refused the login: %q", e)
	}
	// RFC 9207: the issuer that answered, against mix-up attacks when a
	// client knows several
	switch iss := q.Get("iss"); {
	case iss != "" && iss != l.issuer:
		return "", fmt.Errorf("refusing the login callback: it is from issuer %q, not %q", iss, l.issuer)
	case iss == "" && l.meta.AuthorizationResponseIssParameterSupported:
		return "", errors.New("refusing the login callback: it does not name its issuer (iss), which the issuer's discovery document promises")
	}
	code := q.Get("code")
	if code == "" {
		return "", errors.New("the login callback has no code")
	}
	return code, nil
}

// redeem exchanges the code for tokens at the token endpoint, with the
// PKCE verifier, and returns them once the ID token checks out.
func (l *authCodeLogin) redeem(ctx context.Context, client *http.Client, code string, keys keySourceSettings) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {l.redirectURI},
		"client_id":     {l.clientID},
		"code_verifier": {l.pkce.verifier},
	}
	tresp, err := postTokenForm(ctx, client, l.meta.TokenEndpoint, form, nil, newSecretRedactor(code, l.pkce.verifier))
	if err != nil {
		return nil, err
	}
	if tresp.IDToken == "" {
		return nil, fmt.Errorf("the token response has no id_token; is openid among the scopes (%q)?", l.scope)
	}
	if err := verifyIDToken(ctx, keys, l.clientID, l.nonce, tresp.IDToken); err != nil {
		return nil, err
	}
	return tresp, nil
}

// verifyIDToken checks an ID token as OpenID Connect Core §3.1.3.7 asks,
// with the verifier fed_oidc checks access tokens with: signed with a key
// of the issuer's JWKS and an allowed algorithm, iss the issuer, aud the
// client ID, not expired; then azp, if present or needed, the client ID,
// and the nonce this login sent, which binds the token to it. The keys
// are fetched once, for this token.
func verifyIDToken(ctx context.Context, keys keySourceSettings, clientID, nonce, idToken string) error {
	keys.MaxStale = caddy.Duration(defaultJWKSMaxStale)
	_ = initMetrics(nil) // the key source counts its fetches; nothing exports them here
	src, err := newKeySource(keys, zap.NewNop())
	if err != nil {
		return err
	}
	defer func() { _ = src.Destruct() }()
	if err := src.refresh(ctx, false); err != nil {
		return fmt.Errorf("fetching the keys of %s: %w", keys.Issuer, err)
	}
	cfg := issuerConfig{
		Issuer:     keys.Issuer,
		Audiences:  []string{clientID},
		Algorithms: defaultAlgorithms,
		ClockSkew:  caddy.Duration(defaultClockSkew),
	}
	v := cfg.verifier(src)
	v.keepClaims = true
	now := time.Now()
	set, err := src.current(now)
	if err != nil {
		return err
	}
	id, _, err := v.verifyNew(ctx, idToken, set, now)
	if err != nil {
		return fmt.Errorf("the ID token is not valid: %w", err)
	}
	if id.AuthorizedParty != "" && id.AuthorizedParty != clientID || id.AuthorizedParty == "" && len(id.Audience) > 1 {
		return fmt.Errorf("the ID token is not valid: azp %q is not the client ID", id.AuthorizedParty)
	}
	got, _ := id.claims["nonce"].(string)
	if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return errors.New("the ID token is not valid: its nonce is not this login's")
	}
	return nil
}

// loopbackCallback is the listener the browser is redirected to: on
// 127.0.0.1 only, for exactly one authorization response.
type loopbackCallback struct {
	ln          net.Listener
	hosts       []string // Host headers naming us: 127.0.0.1:port, localhost:port
	redirectURI string
}

// listenCallback listens on 127.0.0.1:port (a free port if 0), and makes
// the redirect URI with redirectHost, 127.0.0.1 or localhost (RFC 8252
// §7.3 prefers the literal: localhost may resolve elsewhere).
func listenCallback(redirectHost string, port int) (*loopbackCallback, error) {
	if err := checkRedirectHost(redirectHost); err != nil {
		return nil, fmt.Errorf("redirect host: %w", err)
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listening for the login callback: %w", err)
	}
	p := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return &loopbackCallback{
		ln:          ln,
		hosts:       []string{net.JoinHostPort("127.0.0.1", p), net.JoinHostPort("localhost", p)},
		redirectURI: "http://" + net.JoinHostPort(redirectHost, p) + callbackPath,
	}, nil
}

// checkRedirectHost accepts the names of the address we listen on.
func checkRedirectHost(host string) error {
	if host != "127.0.0.1" && host != "localhost" {
		return fmt.Errorf("%q: want 127.0.0.1 or localhost, the address we listen on", host)
	}
	return nil
}

// close releases the listener of a callback never waited for.
func (c *loopbackCallback) close() { _ = c.ln.Close() }

// wait serves the callback until one authorization response has arrived,
// or ctx ends, and closes the listener. check reads the response's query;
// the browser gets a short page that says whether the login went on. A
// request for another path or host (a DNS-rebinding page), or with
// another method, is answered and does not count; a second response is
// answered 410.
func (c *loopbackCallback) wait(ctx context.Context, check func(url.Values) (string, error)) (string, error) {
	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	var taken atomic.Bool
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path != callbackPath:
				http.NotFound(w, r)
				return
			case !slices.Contains(c.hosts, strings.ToLower(r.Host)):
				http.Error(w, "wrong host", http.StatusMisdirectedRequest)
				return
			case r.Method != http.MethodGet:
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			case !taken.CompareAndSwap(false, true):
				http.Error(w, "this login has had its callback", http.StatusGone)
				return
			}
			code, err := check(r.URL.Query())
			writeCallbackPage(w, err == nil)
			done <- result{code, err}
		}),
	}
	go func() { _ = srv.Serve(c.ln) }()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		res.err = fmt.Errorf("waiting for the login in the browser: %w", ctx.Err())
	}
	sctx, cancel := context.WithTimeout(context.Background(), callbackShutdownGrace)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		_ = srv.Close()
	}
	return res.code, res.err
}

// writeCallbackPage answers the browser. It reflects nothing of the
// request, and links nowhere: the URL holds the code.
func writeCallbackPage(w http.ResponseWriter, ok bool) {
	title, text, status := "Logged in", "You can close this window and return to the terminal.", http.StatusOK
	if !ok {
		title, text, status = "Login failed", "Return to the terminal to see why.", http.StatusBadRequest
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%[1]s</title></head>\n<body><h1>%[1]s</h1><p>%[2]s</p></body></html>\n",
		html.EscapeString("fed-oidc login: "+title), html.EscapeString(text))
}
