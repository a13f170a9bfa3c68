package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLogin: `caddy fed-oidc login` against the real oidc-provider, its
// login and consent pages driven by a real HTTP client; the ID token
// exchanged at our gateway (system_issuer) for an OpenFaaS access token,
// saved in faas-cli's config; the real faas-cli using it with no --token.
func TestLogin(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	fatal := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s\n--- idp log:\n%s", err, s.Log("caddy"), s.Log("idp"))
		}
	}
	gw := s.IAMURL
	// People log in with the login client, whose ID tokens have aud
	// faas-cli; alice has a role, bob none. The machine is the Keycloak
	// client.
	iamDir := filepath.Join(s.Dir, "iam")
	fatal(WriteFiles(iamDir, map[string]string{"iam.yaml": fmt.Sprintf(`apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata: {name: people, namespace: openfaas}
spec:
  iss: %[1]s
  aud: [%[2]s, %[3]s]
  tokenExpiry: 30m
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: fn-rw, namespace: openfaas}
spec:
  statement:
  - sid: 1-fn-rw
    action: ["Function:*"]
    effect: Allow
    resource: ["openfaas-fn:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: developers, namespace: openfaas}
spec:
  policy: [fn-rw]
  principal:
    jwt:sub: [alice, %[3]s]
  condition:
    StringEqual:
      jwt:iss: ["%[1]s"]
`, s.IdPURL, LoginClient, KeycloakClient)}))
	keyFile := filepath.Join(s.Dir, "issuer.key")
	fatal(writeP256Key(keyFile))
	site := s.IAMSite(fmt.Sprintf("iam %s\nsystem_issuer %s {\nsigning_key_file %s\n}", iamDir, gw, keyFile))
	skipUnlessIAM(t, s, s.Caddyfile()+site)
	fatal(s.StartGateway(ctx))
	fatal(s.StartIdP(ctx))
	fatal(s.StartCaddyWith(ctx, s.Caddyfile()+site))
	faas := func(stdin string, args ...string) (string, error) {
		return s.Run("faas-cli", stdin, append(args, "--gateway", gw)...)
	}
	configFile := filepath.Join(s.FaaSCLIConfig(), "config.yml")
	login := func(user string, args ...string) (LoginResult, error) {
		return s.Login(user, append([]string{"--gateway", gw + "/", "--authority", s.IdPURL, "--port", "0", "--timeout", "20s"}, args...)...)
	}

	if out, err := faas("", "list"); err == nil || !strings.Contains(out, "Unauthorized") {
		t.Fatalf("before login, faas-cli list: %v %s; want Unauthorized", err, out)
	}

	t.Run("a person logs in in the browser; faas-cli uses the exchanged token", func(t *testing.T) {
		r, err := login("alice", "--client-id", LoginClient, "--pretty")
		fatal(err)
		if r.CallbackStatus != 200 || !strings.Contains(r.CallbackPage, "Logged in") {
			t.Errorf("the browser got %d %q", r.CallbackStatus, r.CallbackPage)
		}
		for _, p := range []string{"code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"} {
			if !strings.Contains(r.AuthURL, p) {
				t.Errorf("login URL %s lacks %s", r.AuthURL, p)
			}
		}
		// --pretty: the OpenFaaS access token, with the ID token's claims
		p := decodedPayload(t, r.Stdout)
		if p["iss"] != gw || p["sub"] != "fed:alice" || p["fed:iss"] != s.IdPURL || p["email"] != "alice@example.com" || fmt.Sprint(p["policy"]) != "[fn-rw]" {
			t.Errorf("access token claims %v", p)
		}
		cfg := readConfig(t, configFile)
		if e := cfg[gw]; e.Auth != "oauth2" || strings.Count(e.Token, ".") != 2 {
			t.Fatalf("entry for %s: %+v", gw, e)
		}

		if out, err := faas("", "deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", "hello"); err != nil || !strings.Contains(out, "202") {
			t.Fatalf("faas-cli deploy with the saved token: %v %s", err, out)
		}
		if out, err := faas("", "list"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("faas-cli list with the saved token: %v %s", err, out)
		}
		// the first call has no token; the 401 realm makes faas-cli
		// exchange the saved token for a function token and retry
		if out, err := faas("hi", "invoke", "hello"); err != nil {
			t.Errorf("faas-cli invoke with the saved token: %v %s", err, out)
		}
		if v, err := s.Metric(`caddy_fed_oidc_exchanges_total{kind="function",result="ok"}`); err != nil || v != "1" {
			t.Errorf("function token exchanges: %q %v, want 1 (faas-cli's retry)", v, err)
		}
		// the other sites' entries are still there, and the file is 0600
		for _, g := range []string{s.SecureURL, s.InvokeURL, gw} {
			if _, ok := cfg[g]; !ok {
				t.Errorf("no entry for %s in %v", g, cfg)
			}
		}
		if cfg[s.SecureURL].Token != "" {
			t.Errorf("another gateway's entry changed: %+v", cfg[s.SecureURL])
		}
		if st, err := os.Stat(configFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("config file: %v %v, want mode 0600", st.Mode(), err)
		}
	})

	t.Run("--no-exchange saves the ID token itself", func(t *testing.T) {
		r, err := login("alice", "--client-id", LoginClient, "--no-exchange", "--print-token", "--pretty")
		fatal(err)
		token, pretty, _ := strings.Cut(r.Stdout, "\n")
		p := decodedPayload(t, pretty)
		if p["iss"] != s.IdPURL || p["aud"] != LoginClient || p["sub"] != "alice" || p["nonce"] == nil {
			t.Errorf("ID token claims %v", p)
		}
		if readConfig(t, configFile)[gw].Token != token {
			t.Error("the saved token is not the printed one")
		}
		// IAM decides the ID token by its roles, as any trusted issuer's
		if out, err := faas("", "list"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("faas-cli list with the ID token: %v %s", err, out)
		}
	})

	t.Run("a person without a role is refused at the exchange", func(t *testing.T) {
		before, _ := os.ReadFile(configFile)
		_, err := login("bob", "--client-id", LoginClient)
		if err == nil || !strings.Contains(err.Error(), "No policies found for subject: bob") {
			t.Fatalf("got %v, want the gateway's No policies", err)
		}
		if after, _ := os.ReadFile(configFile); string(after) != string(before) {
			t.Error("the config file changed after a refused login")
		}
	})

	t.Run("a machine logs in with client credentials", func(t *testing.T) {
		before := readConfig(t, configFile)[gw].Token
		r, err := login("", "--client-id", KeycloakClient, "--client-secret-file", s.SecretFile(KeycloakClient), "--pretty")
		fatal(err)
		if p := decodedPayload(t, r.Stdout); p["sub"] != "fed:"+KeycloakClient || p["iss"] != gw {
			t.Errorf("access token claims %v", p)
		}
		if after := readConfig(t, configFile)[gw].Token; after == before {
			t.Error("the token was not replaced by the machine's")
		}
		if out, err := faas("", "list"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("faas-cli list with the machine's token: %v %s", err, out)
		}
	})

	t.Run("an unknown client is refused by the IdP", func(t *testing.T) {
		before, _ := os.ReadFile(configFile)
		_, err := login("alice", "--client-id", "nobody", "--timeout", "3s")
		// oidc-provider shows its error page instead of redirecting
		if err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("got %v, want the IdP's invalid_client", err)
		}
		if after, _ := os.ReadFile(configFile); string(after) != string(before) {
			t.Error("the config file changed after a failed login")
		}
	})
}

// writeP256Key writes a system issuer signing key, as `openssl ecparam
// -genkey -name prime256v1 -noout` does.
func writeP256Key(path string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// decodedPayload is the payload of --pretty's output.
func decodedPayload(t *testing.T, out string) map[string]any {
	t.Helper()
	var decoded struct {
		Header  map[string]any `json:"header"`
		Payload map[string]any `json:"payload"`
	}
	if err := json.Unmarshal([]byte(out), &decoded); err != nil || !slices.Contains([]string{"RS256", "ES256"}, fmt.Sprint(decoded.Header["alg"])) {
		t.Fatalf("--pretty output %q: %v", out, err)
	}
	return decoded.Payload
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
