package caddyfedauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	loginClientID = "openfaas-cli"
	gatewayToken  = "openfaas-access-token" // what the stand-in gateway issues
)

// standinIdP stands in for an OpenID Provider's authorization code flow
// with PKCE: discovery, an authorization endpoint that answers at once
// (the person has logged in) by redirecting to the redirect URI, a token
// endpoint that checks the code, the redirect URI and the PKCE verifier
// against the challenge (RFC 7636 §4.6), and a JWKS. Its client
// credentials grant serves machine clients.
type standinIdP struct {
	srv  *httptest.Server
	keys testIssuer // its published keys only
	key  *testKey

	mu          sync.Mutex
	codes       map[string]url.Values // code → the authorization request
	authReqs    []url.Values
	tokenReqs   []url.Values
	pkceChecked int // token requests whose verifier matched the challenge

	// Misbehaviour, for the refusals.
	callback   func(q url.Values)          // edits the redirect's query
	idClaims   func(claims map[string]any) // edits the ID token's claims
	signWith   *testKey                    // signs ID tokens with this key instead
	challenge  string                      // replaces the challenge the code is bound to
	secret     string                      // the machine client's secret
	noIDToken  bool
	advertised []string // code_challenge_methods_supported
}

func newStandinIdP(t *testing.T) *standinIdP {
	t.Helper()
	idp := &standinIdP{codes: map[string]url.Values{}, secret: "machine-secret", advertised: []string{"S256"}}
	idp.key = idp.keys.addKey(t, "k1", "ES256", "p256")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := idp.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": u, "jwks_uri": u + "/jwks", "token_endpoint": u + "/token",
			"authorization_endpoint":                         u + "/authorize?tenant=t1",
			"code_challenge_methods_supported":               idp.advertised,
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(idp.keys.jwks(t)) })
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) { idp.token(t, w, r) })
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *standinIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	idp.authReqs = append(idp.authReqs, q)
	idp.mu.Unlock()
	if q.Get("response_type") != "code" || q.Get("client_id") != loginClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomURLToken()
	idp.mu.Lock()
	idp.codes[code] = q
	idp.mu.Unlock()
	resp := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {idp.srv.URL}}
	if idp.callback != nil {
		idp.callback(resp)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+resp.Encode(), http.StatusFound)
}

func (idp *standinIdP) token(t *testing.T, w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	idp.mu.Lock()
	idp.tokenReqs = append(idp.tokenReqs, f)
	req, ok := idp.codes[f.Get("code")]
	delete(idp.codes, f.Get("code")) // one use
	idp.mu.Unlock()
	oauthErr := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	switch f.Get("grant_type") {
	case "client_credentials":
		if id, secret, _ := r.BasicAuth(); id != loginClientID || secret != idp.secret {
			oauthErr("invalid_client", "bad client credentials")
			return
		}
		writeJSON(w, map[string]any{"access_token": idp.sign(t, idp.key, map[string]any{"sub": loginClientID, "aud": "gw"}), "token_type": "Bearer"})
		return
	case "authorization_code":
	default:
		oauthErr("unsupported_grant_type", "")
		return
	}
	challenge := req.Get("code_challenge")
	if idp.challenge != "" {
		challenge = idp.challenge
	}
	switch {
	case !ok:
		oauthErr("invalid_grant", "unknown code")
		return
	case f.Get("client_id") != loginClientID || f.Get("redirect_uri") != req.Get("redirect_uri"):
		oauthErr("invalid_grant", "code issued to another client or redirect")
		return
	case pkceChallenge(f.Get("code_verifier")) != challenge:
		oauthErr("invalid_grant", "PKCE verification failed")
		return
	}
	idp.mu.Lock()
	idp.pkceChecked++
	idp.mu.Unlock()
	claims := map[string]any{"sub": "alice", "aud": loginClientID, "nonce": req.Get("nonce"), "email": "alice@example.com"}
	if idp.idClaims != nil {
		idp.idClaims(claims)
	}
	key := idp.key
	if idp.signWith != nil {
		key = idp.signWith
	}
	body := map[string]any{"access_token": "opaque-at", "token_type": "Bearer", "expires_in": 300}
	if !idp.noIDToken {
		body["id_token"] = idp.sign(t, key, claims)
	}
	writeJSON(w, body)
}

// sign makes a token of this issuer, valid for five minutes, with claims.
func (idp *standinIdP) sign(t *testing.T, k *testKey, claims map[string]any) string {
	now := time.Now()
	c := map[string]any{"iss": idp.srv.URL, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	for n, v := range claims {
		c[n] = v
	}
	return signToken(t, fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT"}`, k.alg, k.kid), c, k.alg, k.priv)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// standinGateway stands in for the gateway's token endpoint (RFC 8693):
// it records the forms it gets and answers with status and body.
type standinGateway struct {
	srv    *httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	status int
	body   string
	echo   bool // the error description quotes the subject token
}

func newStandinGateway(t *testing.T) *standinGateway {
	t.Helper()
	g := &standinGateway{status: http.StatusOK, body: fmt.Sprintf(
		`{"access_token":%q,"issued_token_type":"urn:ietf:params:oauth:token-type:id_token","token_type":"Bearer","expires_in":7200}`, gatewayToken)}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "not the token endpoint", http.StatusNotFound)
			return
		}
		_ = r.ParseForm()
		g.mu.Lock()
		g.forms = append(g.forms, r.PostForm)
		g.mu.Unlock()
		body := g.body
		if g.echo {
			body = fmt.Sprintf(`{"error":"invalid_grant","error_description":"bad token %s"}`, r.PostForm.Get("subject_token"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// browser follows the login URL as a browser would once the person has
// logged in, and keeps the page the callback answered.
type browser struct {
	done   chan struct{}
	status int
	page   string
	err    error
}

func (b *browser) open(u string) error {
	go func() {
		defer close(b.done)
		resp, err := http.Get(u)
		if err != nil {
			b.err = err
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		b.status, b.page = resp.StatusCode, string(body)
	}()
	return nil
}

// loginRun is one login against the stand-ins.
type loginRun struct {
	err            error
	stdout, stderr string
	browser        *browser
	configDir      string
}

// standinOptions are a login's flags for the stand-ins, with no browser.
func standinOptions(t *testing.T, idp *standinIdP, gw *standinGateway) loginOptions {
	return loginOptions{
		gateway: gw.srv.URL + "/", authority: idp.srv.URL, clientID: loginClientID,
		redirectHost: defaultLoginHost, scope: defaultLoginScope,
		timeout: 10 * time.Second, configDir: filepath.Join(t.TempDir(), "openfaas"),
	}
}

func runLogin(t *testing.T, idp *standinIdP, gw *standinGateway, edit func(*loginOptions)) loginRun {
	t.Helper()
	o := standinOptions(t, idp, gw)
	b := &browser{done: make(chan struct{})}
	o.openURL = b.open
	if edit != nil {
		edit(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var stdout, stderr strings.Builder
	err := o.run(ctx, &stdout, &stderr)
	if o.secretFile == "" {
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			t.Fatal("the browser did not finish")
		}
	}
	return loginRun{err: err, stdout: stdout.String(), stderr: stderr.String(), browser: b, configDir: o.configDir}
}

// savedToken is the token faas-cli's config holds for gateway, "" if none.
func savedToken(t *testing.T, dir, gateway string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.yml"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg := readFaaSCLIConfig(t, data)
	for _, a := range cfg.Auths {
		if a.Gateway == gateway {
			if a.Auth != "oauth2" {
				t.Errorf("auth of %s is %q, want oauth2", gateway, a.Auth)
			}
			return a.Token
		}
	}
	return ""
}

func TestLoginAuthorizationCode(t *testing.T) {
	idp := newStandinIdP(t)
	gw := newStandinGateway(t)
	r := runLogin(t, idp, gw, nil)
	if r.err != nil {
		t.Fatalf("login: %v\nstderr: %s", r.err, r.stderr)
	}

	// The authorization request: PKCE S256, fresh state and nonce, the
	// loopback redirect, the endpoint's own query kept.
	if len(idp.authReqs) != 1 {
		t.Fatalf("%d authorization requests, want 1", len(idp.authReqs))
	}
	q := idp.authReqs[0]
	for _, p := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(p)) != 43 {
			t.Errorf("%s = %q, want 43 base64url characters (32 random bytes)", p, q.Get(p))
		}
	}
	if q.Get("state") == q.Get("nonce") {
		t.Error("state and nonce are the same value")
	}
	if q.Get("scope") != defaultLoginScope || q.Get("tenant") != "t1" {
		t.Errorf("scope %q, tenant %q", q.Get("scope"), q.Get("tenant"))
	}
	if !strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") || !strings.HasSuffix(q.Get("redirect_uri"), "/oauth/callback") {
		t.Errorf("redirect_uri %q", q.Get("redirect_uri"))
	}
	if !strings.Contains(r.stderr, idp.srv.URL+"/authorize?") {
		t.Errorf("the login URL was not printed: %q", r.stderr)
	}
	// The stand-in redeemed the code only for the verifier of the challenge.
	if idp.pkceChecked != 1 {
		t.Errorf("PKCE verified %d times, want 1", idp.pkceChecked)
	}
	if r.browser.status != http.StatusOK || !strings.Contains(r.browser.page, "Logged in") {
		t.Errorf("browser got %d %q", r.browser.status, r.browser.page)
	}

	// The exchange: exactly go-sdk's form, with the ID token.
	if len(gw.forms) != 1 {
		t.Fatalf("%d exchanges, want 1", len(gw.forms))
	}
	idToken := gw.forms[0].Get("subject_token")
	want := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
		"subject_token":      {idToken},
	}
	if fmt.Sprint(gw.forms[0]) != fmt.Sprint(want) || strings.Count(idToken, ".") != 2 {
		t.Errorf("exchange form %v", gw.forms[0])
	}

	// Saved under the gateway as faas-cli spells it: no trailing slash.
	if got := savedToken(t, r.configDir, gw.srv.URL); got != gatewayToken {
		t.Errorf("saved token %q, want the gateway's", got)
	}
	if r.stdout != "" || strings.Contains(r.stderr, gatewayToken) || strings.Contains(r.stderr, idToken) {
		t.Errorf("a token was printed unasked: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestLoginNoExchangePrint(t *testing.T) {
	idp := newStandinIdP(t)
	gw := newStandinGateway(t)
	r := runLogin(t, idp, gw, func(o *loginOptions) { o.noExchange, o.printToken, o.pretty = true, true, true })
	if r.err != nil {
		t.Fatalf("login: %v", r.err)
	}
	if len(gw.forms) != 0 {
		t.Errorf("the gateway got %d exchanges with --no-exchange", len(gw.forms))
	}
	saved := savedToken(t, r.configDir, gw.srv.URL)
	token, pretty, _ := strings.Cut(r.stdout, "\n")
	if saved == "" || token != saved {
		t.Fatalf("printed %q, saved %q: want the ID token both", token, saved)
	}
	var decoded struct {
		Header  map[string]any `json:"header"`
		Payload map[string]any `json:"payload"`
	}
	if err := json.Unmarshal([]byte(pretty), &decoded); err != nil {
		t.Fatalf("--pretty output %q: %v", pretty, err)
	}
	if decoded.Header["alg"] != "ES256" || decoded.Payload["sub"] != "alice" || decoded.Payload["aud"] != loginClientID {
		t.Errorf("--pretty: %+v", decoded)
	}
	if !strings.HasPrefix(pretty, "{\n  \"header\": {\n    \"alg\"") {
		t.Errorf("--pretty is not indented by two spaces, header first: %q", pretty)
	}
}

// Each refusal: nothing is saved, and the error says why without a token.
func TestLoginRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(idp *standinIdP, gw *standinGateway)
		wantErr   string
		redeemed  bool // the code reached the token endpoint
		exchanged bool
	}{
		{
			// a forged callback (login CSRF) or another login's
			name: "state mismatch",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.callback = func(q url.Values) { q.Set("state", randomURLToken()) }
			},
			wantErr: "state does not match",
		},
		{
			name: "identity provider error in the callback",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.callback = func(q url.Values) {
					q.Del("code")
					q.Set("error", "access_denied")
					q.Set("error_description", "The user said no")
				}
			},
			wantErr: `refused the login: "access_denied": "The user said no"`,
		},
		{
			// RFC 9207 mix-up: the answer of another issuer
			name: "callback from another issuer",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.callback = func(q url.Values) { q.Set("iss", "https://evil.example") }
			},
			wantErr: `from issuer "https://evil.example"`,
		},
		{
			// an intercepted code redeemed without our verifier fails
			name:     "PKCE verifier does not match",
			setup:    func(idp *standinIdP, _ *standinGateway) { idp.challenge = pkceChallenge("another verifier") },
			wantErr:  `"invalid_grant": "PKCE verification failed"`,
			redeemed: true,
		},
		{
			// a replayed ID token of another login
			name: "nonce mismatch",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.idClaims = func(c map[string]any) { c["nonce"] = "another login's" }
			},
			wantErr:  "nonce is not this login's",
			redeemed: true,
		},
		{
			name:     "no nonce",
			setup:    func(idp *standinIdP, _ *standinGateway) { idp.idClaims = func(c map[string]any) { delete(c, "nonce") } },
			wantErr:  "nonce is not this login's",
			redeemed: true,
		},
		{
			// signed by a key the issuer does not publish, under its kid
			name: "bad ID token signature",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.signWith = &testKey{kid: idp.key.kid, alg: "ES256", priv: testSigner(t, "p256b")}
			},
			wantErr:  "bad_signature",
			redeemed: true,
		},
		{
			name: "ID token for another client",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.idClaims = func(c map[string]any) { c["aud"] = "another-client" }
			},
			wantErr:  "wrong_audience",
			redeemed: true,
		},
		{
			name: "ID token expired",
			setup: func(idp *standinIdP, _ *standinGateway) {
				idp.idClaims = func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }
			},
			wantErr:  "expired",
			redeemed: true,
		},
		{
			name:     "no ID token",
			setup:    func(idp *standinIdP, _ *standinGateway) { idp.noIDToken = true },
			wantErr:  "no id_token",
			redeemed: true,
		},
		{
			name: "gateway refuses the exchange",
			setup: func(_ *standinIdP, gw *standinGateway) {
				gw.status, gw.body = http.StatusBadRequest, `{"error":"invalid_request","error_description":"No policies found for subject: alice"}`
			},
			wantErr:   `400 Bad Request: "invalid_request": "No policies found for subject: alice"`,
			redeemed:  true,
			exchanged: true,
		},
		{
			// a gateway that echoes the token it was sent
			name:      "gateway echoes the token",
			setup:     func(_ *standinIdP, gw *standinGateway) { gw.status, gw.echo = http.StatusBadRequest, true },
			wantErr:   "[REDACTED]",
			redeemed:  true,
			exchanged: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := newStandinIdP(t)
			gw := newStandinGateway(t)
			tc.setup(idp, gw)
			r := runLogin(t, idp, gw, nil)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", r.err, tc.wantErr)
			}
			if got := len(idp.tokenReqs) > 0; got != tc.redeemed {
				t.Errorf("code redeemed: %v, want %v", got, tc.redeemed)
			}
			if got := len(gw.forms) > 0; got != tc.exchanged {
				t.Errorf("exchanged: %v, want %v", got, tc.exchanged)
			}
			if tc.exchanged && strings.Contains(r.err.Error(), gw.forms[0].Get("subject_token")) {
				t.Errorf("the error holds the ID token: %v", r.err)
			}
			if _, err := os.Stat(filepath.Join(r.configDir, "config.yml")); !os.IsNotExist(err) {
				t.Errorf("config written after a failed login: %v", err)
			}
			if !tc.redeemed && (r.browser.status != http.StatusBadRequest || !strings.Contains(r.browser.page, "Login failed")) {
				t.Errorf("browser got %d %q, want the failure page", r.browser.status, r.browser.page)
			}
		})
	}
}

func TestLoginRefusesIdPWithoutS256(t *testing.T) {
	idp := newStandinIdP(t)
	idp.advertised = []string{"plain"}
	o := standinOptions(t, idp, newStandinGateway(t))
	o.openURL = func(string) error { t.Error("a browser was opened"); return nil }
	err := o.run(context.Background(), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not support PKCE with S256") {
		t.Fatalf("got %v", err)
	}
}

func TestLoginTimeout(t *testing.T) {
	o := standinOptions(t, newStandinIdP(t), newStandinGateway(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := o.run(ctx, io.Discard, io.Discard) // no browser: nobody logs in
	if err == nil || !strings.Contains(err.Error(), "waiting for the login in the browser") {
		t.Fatalf("got %v", err)
	}
}

func TestLoginMachineClient(t *testing.T) {
	idp := newStandinIdP(t)
	gw := newStandinGateway(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(idp.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	configDir := filepath.Join(t.TempDir(), "openfaas")
	stdout, err := runFedOIDCCommand(t, "login", "--gateway", gw.srv.URL, "--authority", idp.srv.URL,
		"--client-id", loginClientID, "--client-secret-file", secretFile, "--config-dir", configDir, "--print-token")
	if err != nil {
		t.Fatal(err)
	}
	if len(idp.authReqs) != 0 {
		t.Error("a machine client went through the authorization endpoint")
	}
	if len(idp.tokenReqs) != 1 || idp.tokenReqs[0].Get("grant_type") != "client_credentials" || idp.tokenReqs[0].Has("scope") {
		t.Fatalf("token requests %v, want one client_credentials grant without scope", idp.tokenReqs)
	}
	if len(gw.forms) != 1 || strings.Count(gw.forms[0].Get("subject_token"), ".") != 2 {
		t.Fatalf("exchanges %v, want the access token's", gw.forms)
	}
	if stdout != gatewayToken+"\n" || savedToken(t, configDir, gw.srv.URL) != gatewayToken {
		t.Errorf("printed %q, saved %q", stdout, savedToken(t, configDir, gw.srv.URL))
	}

	// a wrong secret: refused, nothing saved, the secret not shown
	if err := os.WriteFile(secretFile, []byte("wrong-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	_, err = runFedOIDCCommand(t, "login", "--gateway", gw.srv.URL, "--authority", idp.srv.URL,
		"--client-id", loginClientID, "--client-secret-file", secretFile, "--config-dir", other)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("got %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("config dir made after a failed login: %v", err)
	}
}

func TestLoginFlags(t *testing.T) {
	t.Setenv("OPENFAAS_URL", "")
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--authority", "https://idp", "--client-id", "c"}, "--gateway is required"},
		{[]string{"--gateway", "https://gw", "--client-id", "c"}, "--authority is required"},
		{[]string{"--gateway", "https://gw", "--authority", "https://idp"}, "--client-id is required"},
		{[]string{"--gateway", "https://gw", "--authority", "https://idp", "--client-id", "c", "--port", "70000"}, "--port 70000"},
		{[]string{"--gateway", "https://gw", "--authority", "https://idp", "--client-id", "c", "--timeout", "0s"}, "--timeout must be positive"},
		// the token would cross the network in the clear
		{[]string{"--gateway", "http://gw.example.com", "--authority", "https://idp", "--client-id", "c", "--config-dir", t.TempDir()}, "plain http is allowed only to a loopback address"},
		{[]string{"--gateway", "https://gw", "--authority", "https://idp", "--client-id", "c", "--redirect-host", "0.0.0.0"}, "want 127.0.0.1 or localhost"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := runFedOIDCCommand(t, append([]string{"login"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
