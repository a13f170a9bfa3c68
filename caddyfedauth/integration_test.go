package caddyfedauth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// gatewayStandIn records what reaches the "OpenFaaS gateway": each
// request as it stood once its body was read, so with its trailers, and
// the body in the clone's Body.
type gatewayStandIn struct {
	mu   sync.Mutex
	hits []*http.Request
	srv  *httptest.Server
}

func newGatewayStandIn(t *testing.T) *gatewayStandIn {
	g := &gatewayStandIn{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // trailers arrive after the body
		hit := r.Clone(r.Context())
		hit.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.Lock()
		g.hits = append(g.hits, hit)
		g.mu.Unlock()
		fmt.Fprintf(w, "gateway saw %s", r.URL.EscapedPath())
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gatewayStandIn) take() []*http.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.hits
	g.hits = nil
	return h
}

func TestHandlerInCaddy(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k1", "RS256", "rsa2048")
	down := newTestIssuer(t)
	down.down.Store(true)
	gw := newGatewayStandIn(t)

	dir := t.TempDir()
	userFile, passFile := filepath.Join(dir, "basic-auth-user"), filepath.Join(dir, "basic-auth-password")
	if err := os.WriteFile(userFile, []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passFile, []byte("gateway-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tester := newInProcessCaddy(t, fmt.Sprintf(`
	http://localhost:{http} {
		fed_oidc {
			issuer %[1]s
			audience fed-gw.tenant1
			gateway_basic_auth %[2]s %[3]s
		}
		reverse_proxy %[4]s {
			transport fed_oidc
			header_up X-Fed-Sub {http.auth.user.id}
			header_up X-Fed-Azp {http.auth.user.azp}
		}
	}
	http://invoke.localhost:{http} {
		fed_oidc {
			issuer %[1]s
			audience fed-gw.tenant1
			allow_invoke
			gateway_basic_auth %[2]s %[3]s
		}
		reverse_proxy %[4]s {
			transport fed_oidc
		}
	}
	http://down.localhost:{http} {
		fed_oidc {
			issuer %[5]s
			audience fed-gw.tenant1
		}
		reverse_proxy %[4]s
	}
	`, ti.URL(), userFile, passFile, gw.srv.URL, down.URL()))
	waitFor(t, "keys in the running config", func() bool {
		resp := do(t, tester, "GET", "localhost", "/system/info", "Bearer "+ti.token(t, key, ti.claims("fed-gw.tenant1")))
		return resp.StatusCode == http.StatusOK
	})
	gw.take()

	good := ti.token(t, key, ti.claims("fed-gw.tenant1"))
	expired := ti.claims("fed-gw.tenant1")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	gatewayCred := basicValue("admin", "gateway-password")
	// A token naming the unreachable issuer: it picks that issuer, whose
	// keys never arrived.
	downClaims := ti.claims("fed-gw.tenant1")
	downClaims["iss"] = down.URL()
	forDown := ti.token(t, key, downClaims)

	for _, tc := range []struct {
		name, host, method, path, auth string
		extraAuth                      string // a second Authorization header
		earlyData                      string // an Early-Data header, as a proxy in front sets it
		status                         int
		challenge                      string // substring of WWW-Authenticate
	}{
		{name: "valid token on the system API", path: "/system/functions", auth: "Bearer " + good, status: 200},
		{name: "bearer scheme is case-insensitive", path: "/system/info", auth: "bearer " + good, status: 200},
		{name: "deploy through the system API", method: "POST", path: "/system/functions", auth: "Bearer " + good, status: 200},
		{name: "query string is not part of the decision", path: "/system/functions?next=/ui/", auth: "Bearer " + good, status: 200},
		{name: "no token", path: "/system/functions", status: 401, challenge: `Bearer realm="openfaas"`},
		{name: "token in the query string is not accepted", path: "/system/functions?access_token=" + good, status: 401, challenge: `Bearer realm="openfaas"`},
		{name: "the gateway's own basic credential is not accepted", path: "/system/functions", auth: gatewayCred, status: 401},
		{name: "expired token", path: "/system/functions", auth: "Bearer " + ti.token(t, key, expired), status: 401, challenge: `error="invalid_token", error_description="the access token expired"`},
		{name: "token for another audience", path: "/system/functions", auth: "Bearer " + ti.token(t, key, ti.claims("fed-gw.tenant2")), status: 401, challenge: `error="invalid_token"`},
		{name: "garbage token", path: "/system/functions", auth: "Bearer abc.def.ghi", status: 401, challenge: `error="invalid_token"`},
		{name: "bearer without token (faas-cli without --token)", path: "/system/functions", auth: "Bearer ", status: 401, challenge: `Bearer realm="openfaas"`},
		{name: "token with spaces", path: "/system/functions", auth: "Bearer a b", status: 400, challenge: `error="invalid_request"`},
		{name: "two Authorization headers (which one would upstream read?)", path: "/system/functions", auth: "Bearer " + good, extraAuth: gatewayCred, status: 400},
		{name: "function invocation without allow_invoke", path: "/function/hello", auth: "Bearer " + good, status: 403, challenge: `error="insufficient_scope"`},
		{name: "async invocation without allow_invoke", method: "POST", path: "/async-function/hello", auth: "Bearer " + good, status: 403},
		{name: "UI is never allowed", path: "/ui/", auth: "Bearer " + good, status: 403},
		{name: "gateway metrics are never allowed", path: "/metrics", auth: "Bearer " + good, status: 403},
		{name: "healthz is not proxied", path: "/healthz", auth: "Bearer " + good, status: 403},
		{name: "root", path: "/", auth: "Bearer " + good, status: 403},
		{name: "function invocation with allow_invoke", host: "invoke.localhost", path: "/function/hello", auth: "Bearer " + good, status: 200},
		{name: "system API with allow_invoke", host: "invoke.localhost", path: "/system/functions", auth: "Bearer " + good, status: 200},
		{name: "UI with allow_invoke", host: "invoke.localhost", path: "/ui/", auth: "Bearer " + good, status: 403},
		// Path-normalisation bypasses: refused as ambiguous before any token work.
		{name: "dot-dot from system to ui (Envoy CVE-2019-9901)", path: "/system/../ui/", auth: "Bearer " + good, status: 400},
		{name: "dot-dot from function to system", host: "invoke.localhost", path: "/function/../system/functions", auth: "Bearer " + good, status: 400},
		{name: "encoded slash (Envoy CVE-2021-29492, Istio CVE-2021-31920)", path: "/system%2F..%2Fui/", auth: "Bearer " + good, status: 400},
		{name: "encoded dot-dot", path: "/system/%2e%2e/ui/", auth: "Bearer " + good, status: 400},
		{name: "backslash (Istio CVE-2021-31920)", path: "/system/..%5Cui/", auth: "Bearer " + good, status: 400},
		{name: "path parameter (..;/)", path: "/system/..;/ui/", auth: "Bearer " + good, status: 400},
		{name: "double slash", path: "//system/functions", auth: "Bearer " + good, status: 400},
		{name: "encoded NUL", path: "/system/functions%00", auth: "Bearer " + good, status: 400},
		{name: "ambiguous path without a token is still 400", path: "/system/../ui/", status: 400},
		{name: "issuer down: 503 until keys are fetched", host: "down.localhost", path: "/system/functions", auth: "Bearer " + forDown, status: 503},
		{name: "a token of another issuer is 401 there", host: "down.localhost", path: "/system/functions", auth: "Bearer " + good, status: 401},
		// RFC 8470 §5.1: a proxy in front forwarded the request from TLS early data, which can be replayed.
		{name: "valid token that a proxy forwarded from early data", path: "/system/functions", auth: "Bearer " + good, earlyData: "1", status: 425},
		{name: "Early-Data: 0 still marks early data", path: "/system/functions", auth: "Bearer " + good, earlyData: "0", status: 425},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.host
			if host == "" {
				host = "localhost"
			}
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req := newReq(t, method, host, tc.path, tc.auth)
			if tc.extraAuth != "" {
				req.Header.Add("Authorization", tc.extraAuth)
			}
			if tc.earlyData != "" {
				req.Header.Set("Early-Data", tc.earlyData)
			}
			resp, err := tester.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			hits := gw.take()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if strings.Contains(string(body), good) || strings.Contains(resp.Header.Get("WWW-Authenticate"), good) {
				t.Error("the token was echoed back")
			}
			if strings.Contains(string(body), "gateway-password") {
				t.Error("the gateway password reached the client")
			}
			if tc.status != 200 {
				if len(hits) != 0 {
					t.Errorf("refused request reached the gateway: %s", hits[0].URL)
				}
				if tc.challenge != "" && !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.challenge) {
					t.Errorf("WWW-Authenticate %q lacks %q", resp.Header.Get("WWW-Authenticate"), tc.challenge)
				}
				if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				return
			}
			if len(hits) != 1 {
				t.Fatalf("gateway got %d requests, want 1", len(hits))
			}
			got := hits[0]
			a := got.Header.Values("Authorization")
			if strings.HasPrefix(tc.path, "/system/") {
				if len(a) != 1 || a[0] != gatewayCred {
					t.Errorf("gateway got Authorization %q, want the gateway credential only", a)
				}
			} else if len(a) != 0 {
				// The gateway hands these headers to the function itself.
				t.Errorf("function invocation carried Authorization %q upstream", a)
			}
			if got.URL.EscapedPath() != strings.SplitN(tc.path, "?", 2)[0] {
				t.Errorf("gateway got path %q, want %q", got.URL.EscapedPath(), tc.path)
			}
			if tc.host == "" && got.Header.Get("X-Fed-Sub") != "client-123" {
				t.Errorf("placeholder {http.auth.user.id} = %q, want client-123", got.Header.Get("X-Fed-Sub"))
			}
		})
	}

	t.Run("metrics on Caddy's registry", func(t *testing.T) {
		b := scrapeMetrics(t)
		for _, want := range []string{
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="allowed"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="path_denied"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="missing_token"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="expired"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="early_data"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="keys_unavailable"}`, down.URL()),
			fmt.Sprintf(`caddy_fed_oidc_jwks_fetches_total{issuer=%q,result="ok"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_jwks_fetches_total{issuer=%q,result="discovery_error"}`, down.URL()),
			fmt.Sprintf(`caddy_fed_oidc_token_cache_total{issuer=%q,result="hit"}`, ti.URL()),
			fmt.Sprintf(`caddy_fed_oidc_verify_duration_seconds_count{issuer=%q}`, ti.URL()),
		} {
			if !strings.Contains(b, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func newReq(t *testing.T, method, host, path, auth string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", inproc.httpPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = fmt.Sprintf("%s:%d", host, inproc.httpPort)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

func do(t *testing.T, tester *caddytest.Tester, method, host, path, auth string) *http.Response {
	t.Helper()
	resp, err := tester.Client.Do(newReq(t, method, host, path, auth))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// scrapeMetrics returns the in-process Caddy's metrics.
func scrapeMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(adminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
