package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLogin: `caddy fed-oidc login` against the real oidc-provider, its
// login and consent pages driven by a real HTTP client, the token saved in
// faas-cli's config, and the real faas-cli using it with no --token
// against our Caddy.
func TestLogin(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	fatal := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s\n--- idp log:\n%s", err, s.Log("caddy"), s.Log("idp"))
		}
	}
	// fed_oidc accepts the IdP's ID tokens (aud: the login client) and
	// the machine client's access tokens.
	fatal(s.StartGateway(ctx))
	fatal(s.StartIdP(ctx))
	fatal(s.StartCaddyWith(ctx, s.Caddyfile()+s.IAMSite("issuer "+s.IdPURL+"\naudience "+LoginClient+" "+KeycloakClient)))
	gw := s.IAMURL
	faas := func(args ...string) (string, error) {
		return s.Run("faas-cli", "", append(args, "--gateway", gw)...)
	}
	configFile := filepath.Join(s.FaaSCLIConfig(), "config.yml")

	if out, err := faas("list"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Fatalf("before login, faas-cli list: %v %s; want Unauthorized", err, out)
	}

	t.Run("a person logs in in the browser; faas-cli uses the saved token", func(t *testing.T) {
		r, err := s.Login("alice", "--gateway", gw+"/", "--authority", s.IdPURL, "--client-id", LoginClient,
			"--port", "0", "--no-exchange", "--pretty")
		fatal(err)
		if r.CallbackStatus != 200 || !strings.Contains(r.CallbackPage, "Logged in") {
			t.Errorf("the browser got %d %q", r.CallbackStatus, r.CallbackPage)
		}
		for _, p := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"} {
			if !strings.Contains(r.AuthURL, p) {
				t.Errorf("login URL %s lacks %s", r.AuthURL, p)
			}
		}
		// --pretty: the ID token, with the login page's account
		var decoded struct {
			Header  map[string]any `json:"header"`
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &decoded); err != nil {
			t.Fatalf("--pretty output %q: %v", r.Stdout, err)
		}
		p := decoded.Payload
		if p["iss"] != s.IdPURL || p["aud"] != LoginClient || p["sub"] != "alice" || p["email"] != "alice@example.com" || p["nonce"] == nil {
			t.Errorf("ID token claims %v", p)
		}

		if out, err := faas("deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", "hello"); err != nil || !strings.Contains(out, "202") {
			t.Fatalf("faas-cli deploy with the saved token: %v %s", err, out)
		}
		if out, err := faas("list"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("faas-cli list with the saved token: %v %s", err, out)
		}
		// the other sites' entries are still there, and the file is 0600
		cfg := readConfig(t, configFile)
		for _, g := range []string{s.SecureURL, s.InvokeURL, gw} {
			if _, ok := cfg[g]; !ok {
				t.Errorf("no entry for %s in %v", g, cfg)
			}
		}
		if cfg[gw].Auth != "oauth2" || cfg[gw].Token == "" || cfg[s.SecureURL].Token != "" {
			t.Errorf("entries %+v", cfg)
		}
		if st, err := os.Stat(configFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("config file: %v %v, want mode 0600", st.Mode(), err)
		}
	})

	t.Run("a machine logs in with client credentials", func(t *testing.T) {
		before := readConfig(t, configFile)[gw].Token
		_, err := s.Login("", "--gateway", gw, "--authority", s.IdPURL, "--client-id", KeycloakClient,
			"--client-secret-file", s.SecretFile(KeycloakClient), "--no-exchange")
		fatal(err)
		after := readConfig(t, configFile)[gw].Token
		if after == before || strings.Count(after, ".") != 2 {
			t.Errorf("token not replaced by the machine's: %q", after)
		}
		if out, err := faas("list"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("faas-cli list with the machine's token: %v %s", err, out)
		}
	})

	t.Run("a wrong client id is refused by the IdP", func(t *testing.T) {
		before, _ := os.ReadFile(configFile)
		_, err := s.Login("alice", "--gateway", gw, "--authority", s.IdPURL, "--client-id", "nobody", "--port", "0", "--no-exchange", "--timeout", "3s")
		// oidc-provider shows its error page instead of redirecting
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("got %v, want the IdP's invalid_client", err)
		}
		if after, _ := os.ReadFile(configFile); string(after) != string(before) {
			t.Error("the config file changed after a failed login")
		}
	})
}

type authEntry struct {
	Auth, Token string
}

// readConfig reads faas-cli's config file, by gateway.
func readConfig(t *testing.T, path string) map[string]authEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths []struct{ Gateway, Auth, Token string } `yaml:"auths"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	m := map[string]authEntry{}
	for _, a := range cfg.Auths {
		m[a.Gateway] = authEntry{a.Auth, a.Token}
	}
	return m
}
