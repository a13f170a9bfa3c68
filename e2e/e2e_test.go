package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/zerortt"
)

// TestEndToEnd drives the built binaries: our Caddy in front of the real
// OpenFaaS gateway, tokens from the real oidc-provider through
// `caddy fed-oidc token`, and the real faas-cli. scripts/test.sh builds
// them and sets FEDAUTH_E2E_BIN.
func TestEndToEnd(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	fatal := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s", err, s.Log("caddy"))
		}
	}

	// Caddy starts first, while the issuer is down.
	fatal(s.StartCaddy(ctx))
	fatal(s.StartGateway(ctx))
	tlsClient, err := s.HTTPClient()
	fatal(err)
	var seen strings.Builder // everything a client got back
	get := func(url, token string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := tlsClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen.Write(body)
		for k, v := range resp.Header {
			seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		return resp.StatusCode, resp.Header
	}

	t.Run("503 with Retry-After while the issuer is down", func(t *testing.T) {
		// The token names the issuer, which picks the key source to ask.
		code, h := get(s.SecureURL+"/system/functions", unsignedToken(map[string]any{"iss": s.IdPURL, "aud": KeycloakClient, "sub": "x", "exp": time.Now().Add(time.Minute).Unix()}))
		if code != 503 || h.Get("Retry-After") == "" {
			t.Errorf("got %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
		}
	})

	fatal(s.StartIdP(ctx))
	keycloak, err := s.Token(KeycloakClient)
	fatal(err)
	auth0, err := s.Token(Auth0Client, "--audience", Audience)
	fatal(err)
	otherTenant, err := s.Token(OtherClient)
	fatal(err)
	auth0Other, err := s.Token(Auth0Client, "--audience", "fed-gw.tenant2", "--auth-method", "client_secret_post")
	fatal(err)

	t.Run("recovers by itself once the issuer is up", func(t *testing.T) {
		fatal(waitUntil(ctx, "a 200 through fed_oidc", func() bool {
			code, _ := get(s.SecureURL+"/system/info", keycloak)
			return code == 200
		}))
	})

	t.Run("a valid token in HTTP/3 0-RTT early data gets 425 and reaches no gateway", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		roots, err := s.CARoots()
		if err != nil {
			t.Fatal(err)
		}
		// SecureURL's site serves HTTP/3 on the same port, over UDP.
		c, err := zerortt.New(strings.TrimPrefix(s.SecureURL, "https://"), "127.0.0.1", roots)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		auth := http.Header{"Authorization": {"Bearer " + keycloak}}
		decisions := func(outcome string) string {
			v, _ := s.Metric(`caddy_fed_oidc_decisions_total{issuer="` + s.IdPURL + `",outcome="` + outcome + `"}`)
			return v
		}
		gatewaySaw := func() []ProviderRequest {
			t.Helper()
			reqs, err := s.ProviderRequests()
			if err != nil {
				t.Fatal(err)
			}
			return reqs
		}

		// A complete handshake, which also gets a session ticket.
		resp, err := c.Get(ctx, "/system/functions", auth)
		if err != nil || resp.Status != 200 {
			t.Fatalf("HTTP/3 after the handshake: %v %+v", err, resp)
		}
		gatewaySaw()
		// The same request in 0-RTT, decided on before the handshake can
		// complete (see zerortt.Client.GetEarly), as a replay would be.
		allowed, early := decisions("allowed"), decisions("early_data")
		resp, err = c.GetEarly(ctx, "/system/functions", auth, func(ctx context.Context) error {
			return waitUntil(ctx, "fed_oidc's decision", func() bool {
				return decisions("allowed") != allowed || decisions("early_data") != early
			})
		})
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s", err, s.Log("caddy"))
		}
		seen.Write(resp.Body)
		if !resp.Used0RTT {
			t.Fatal("the server did not accept 0-RTT: the request was not early data")
		}
		if resp.Status != http.StatusTooEarly {
			t.Errorf("0-RTT request: status %d, want 425", resp.Status)
		}
		if reqs := gatewaySaw(); len(reqs) != 0 {
			t.Errorf("the 0-RTT request reached the gateway: %d requests, first %s", len(reqs), reqs[0].Path)
		}
		// RFC 8470 §5.2: the client retries after the handshake.
		resp, err = c.Get(ctx, "/system/functions", auth)
		if err != nil || resp.Status != 200 {
			t.Fatalf("retry after the handshake: %v %+v", err, resp)
		}
		if reqs := gatewaySaw(); len(reqs) == 0 {
			t.Error("the retry did not reach the gateway")
		}
	})

	faas := func(stdin string, args ...string) (string, error) {
		out, err := s.Run("faas-cli", stdin, args...)
		seen.WriteString(out)
		return out, err
	}
	secure := []string{"-g", s.SecureURL, "--tls-no-verify"}

	for _, tc := range []struct{ name, token string }{
		{"Keycloak-shaped token (aud = client id)", keycloak},
		{"Auth0-shaped token (aud = API identifier)", auth0},
	} {
		t.Run("faas-cli with a "+tc.name, func(t *testing.T) {
			name := "hello-" + strings.ToLower(tc.name[:5])
			out, err := faas("", append([]string{"deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", name, "--token", tc.token}, secure...)...)
			if err != nil || !strings.Contains(out, "202") {
				t.Fatalf("deploy: %v\n%s", err, out)
			}
			// the run's own faas-cli config (Stack.FaaSCLIConfig) lists the gateway
			if strings.Contains(out, "Failed to lookup auth config") {
				t.Errorf("faas-cli did not find the run's config:\n%s", out)
			}
			out, err = faas("", append([]string{"list", "--token", tc.token}, secure...)...)
			if err != nil || !strings.Contains(out, name) {
				t.Errorf("list: %v\n%s", err, out)
			}
			out, err = faas("", append([]string{"describe", name, "--token", tc.token}, secure...)...)
			if err != nil || !strings.Contains(out, name) {
				t.Errorf("describe: %v\n%s", err, out)
			}
		})
	}

	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"a token for another tenant (Keycloak shape)", otherTenant},
		{"a token for another audience (Auth0 shape)", auth0Other},
		{"a tampered token", keycloak[:len(keycloak)-4] + "AAAA"},
	} {
		t.Run("faas-cli list with "+tc.name+" gets 401", func(t *testing.T) {
			args := append([]string{"list"}, secure...)
			if tc.token != "" {
				args = append(args, "--token", tc.token)
			}
			out, err := faas("", args...)
			if err == nil || !(strings.Contains(out, "401") || strings.Contains(strings.ToLower(out), "unauthorized")) {
				t.Errorf("want a 401 failure, got err=%v\n%s", err, out)
			}
			code, h := get(s.SecureURL+"/system/functions", tc.token)
			if code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("direct request: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("faas-cli invoke is 403 without allow_invoke", func(t *testing.T) {
		out, err := faas("hi", append([]string{"invoke", "hello-keycl", "-H", "Authorization=Bearer " + keycloak}, secure...)...)
		if err == nil || !strings.Contains(out, "403") {
			t.Errorf("want a 403 failure, got err=%v\n%s", err, out)
		}
	})

	t.Run("faas-cli invoke works with allow_invoke, and the function sees no credential", func(t *testing.T) {
		if _, err := s.ProviderRequests(); err != nil {
			t.Fatal(err)
		}
		out, err := faas("hi", "invoke", "hello-keycl", "-g", s.InvokeURL, "-H", "Authorization=Bearer "+keycloak)
		if err != nil || !strings.Contains(out, "hello from hello-keycl: hi") {
			t.Fatalf("invoke: %v\n%s", err, out)
		}
		reqs, err := s.ProviderRequests()
		if err != nil {
			t.Fatal(err)
		}
		invoked := false
		for _, r := range reqs {
			if strings.HasPrefix(r.Path, "/function/") {
				invoked = true
				if r.Authorization != "" {
					t.Errorf("the function received Authorization %q", r.Authorization)
				}
			}
		}
		if !invoked {
			t.Error("the provider saw no function invocation")
		}
		out, err = faas("", "invoke", "hello-keycl", "-g", s.InvokeURL)
		if err == nil || !strings.Contains(out, "401") {
			t.Errorf("invoke without a token: want 401, got err=%v\n%s", err, out)
		}
	})

	t.Run("the gateway's credential never reaches a client", func(t *testing.T) {
		get(s.SecureURL+"/system/functions", keycloak)
		get(s.SecureURL+"/system/info", auth0)
		get(s.SecureURL+"/ui/", keycloak)
		basic := base64.StdEncoding.EncodeToString([]byte("admin:" + s.GatewayPassword))
		if strings.Contains(seen.String(), s.GatewayPassword) || strings.Contains(seen.String(), basic) {
			t.Error("the gateway password appeared in a client-visible response or faas-cli output")
		}
		// And it works: the gateway itself refuses the same call without it.
		resp, err := http.Get(s.GatewayURL + "/system/functions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("the gateway answered %d without credentials; basic auth is not on", resp.StatusCode)
		}
	})

	t.Run("decisions appear on Caddy's /metrics", func(t *testing.T) {
		for _, outcome := range []string{"allowed", "missing_token", "wrong_audience", "path_denied", "keys_unavailable", "early_data"} {
			v, err := s.Metric(`caddy_fed_oidc_decisions_total{issuer="` + s.IdPURL + `",outcome="` + outcome + `"}`)
			if err != nil || v == "0" {
				t.Errorf("%s: %v %s", outcome, err, v)
			}
		}
	})
}
