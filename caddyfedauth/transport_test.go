package caddyfedauth

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// upstreamFixture is an issuer with a key, a recording gateway and the
// gateway credential's files, for the tests of what goes upstream.
type upstreamFixture struct {
	ti                 *testIssuer
	gw                 *gatewayStandIn
	userFile, passFile string
	token              string // a valid access token
	gatewayCred        string // the Authorization value the gateway expects
}

func newUpstreamFixture(t *testing.T) *upstreamFixture {
	t.Helper()
	fx := &upstreamFixture{ti: newTestIssuer(t), gw: newGatewayStandIn(t)}
	key := fx.ti.addKey(t, "k1", "RS256", "rsa2048")
	fx.token = fx.ti.token(t, key, fx.ti.claims("fed-gw.tenant1"))
	fx.userFile, fx.passFile = writeGatewaySecret(t, "admin", "gateway-password")
	fx.gatewayCred = basicValue("admin", "gateway-password")
	return fx
}

// fedOIDC is the fed_oidc block of the fixture's sites.
func (fx *upstreamFixture) fedOIDC() string {
	return fmt.Sprintf(`fed_oidc {
			issuer %s
			audience fed-gw.tenant1
			allow_invoke
			gateway_basic_auth %s %s
		}`, fx.ti.URL(), fx.userFile, fx.passFile)
}

// site is a Caddyfile site at address: fed_oidc, the handlers between,
// then reverse_proxy to the gateway with transport fed_oidc and proxyOpts.
func (fx *upstreamFixture) site(address, between, proxyOpts string) string {
	return fmt.Sprintf(`
	%s {
		%s
		%s
		reverse_proxy %s {
			transport fed_oidc
			%s
		}
	}`, address, fx.fedOIDC(), between, fx.gw.srv.URL, proxyOpts)
}

// waitReady waits until the site at host has the issuer's keys.
func (fx *upstreamFixture) waitReady(t *testing.T, host string) {
	t.Helper()
	waitFor(t, "keys in the running config", func() bool {
		resp, _ := rawHTTP(t, "GET /system/info HTTP/1.1\r\nHost: "+hostPort(host)+"\r\nAuthorization: Bearer "+fx.token+"\r\n\r\n")
		return resp.StatusCode == http.StatusOK
	})
	fx.gw.take()
}

// oneHit returns the one request the gateway got.
func (fx *upstreamFixture) oneHit(t *testing.T) *http.Request {
	t.Helper()
	hits := fx.gw.take()
	if len(hits) != 1 {
		t.Fatalf("gateway got %d requests, want 1", len(hits))
	}
	return hits[0]
}

// assertNoCallerSecret fails if the caller's token, or a value only the
// caller chose (marker), is anywhere in what reached upstream.
func assertNoCallerSecret(t *testing.T, got *http.Request, secrets ...string) {
	t.Helper()
	for _, where := range []struct {
		name string
		h    http.Header
	}{{"header", got.Header}, {"trailer", got.Trailer}} {
		for k, vv := range where.h {
			for _, v := range vv {
				for _, s := range secrets {
					if strings.Contains(k, s) || strings.Contains(v, s) {
						t.Errorf("upstream %s %s: %.40q carries %.20q", where.name, k, v, s)
					}
				}
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(got.URL.String(), s) {
			t.Errorf("upstream URL carries %.20q", s)
		}
	}
}

func hostPort(host string) string { return fmt.Sprintf("%s:%d", host, inproc.httpPort) }

// rawHTTP writes raw to the in-process Caddy's HTTP port as is, and
// reads one response.
func rawHTTP(t *testing.T, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", inproc.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A bound on a hung exchange, not a timing assertion.
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestGatewayCredentialOnlyToTheGateway puts handlers after fed_oidc
// that would carry the gateway credential out of the cluster if it were
// on the request: forward_auth (which sends the request's headers to its
// auth service), placeholders of the request's Authorization header, the
// transport on the wrong proxy, and a rewrite after the decision. Only
// the gateway's own proxy sends it, and only on /system/.
func TestGatewayCredentialOnlyToTheGateway(t *testing.T) {
	fx := newUpstreamFixture(t)
	authSvc := newGatewayStandIn(t)
	newInProcessCaddy(t, fx.site("http://localhost:{http}", `forward_auth `+authSvc.srv.URL+` {
			uri /check
			header_up X-Seen-Authorization {http.request.header.Authorization}
		}`, "header_up X-Seen-Authorization {http.request.header.Authorization}")+
		fx.site("http://misplaced.localhost:{http}", `forward_auth `+authSvc.srv.URL+` {
			uri /check
			transport fed_oidc
		}`, "")+
		fx.site("http://rewrite.localhost:{http}", "", "rewrite /ui/"))
	fx.waitReady(t, "rewrite.localhost")

	password := "gateway-password"
	for _, tc := range []struct {
		name, host, method, path string
		wantCred                 bool // the gateway gets the credential
		auth                     bool // the request passes forward_auth
	}{
		{name: "system API read", host: "localhost", method: "GET", path: "/system/functions", wantCred: true, auth: true},
		{name: "system API deploy", host: "localhost", method: "POST", path: "/system/functions", wantCred: true, auth: true},
		{name: "function invocation", host: "localhost", method: "GET", path: "/function/hello", auth: true},
		{name: "transport on forward_auth too", host: "misplaced.localhost", method: "GET", path: "/system/functions", wantCred: true, auth: true},
		{name: "rewrite after the decision", host: "rewrite.localhost", method: "GET", path: "/system/functions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawHTTP(t, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: "+hostPort(tc.host)+"\r\n"+
				"Authorization: Bearer "+fx.token+"\r\nContent-Length: 0\r\n\r\n")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (%q)", resp.StatusCode, body)
			}
			if strings.Contains(body, password) || strings.Contains(body, fx.gatewayCred) {
				t.Error("the gateway credential reached the client")
			}
			authHits := authSvc.take()
			if tc.auth != (len(authHits) == 1) {
				t.Fatalf("auth service got %d requests", len(authHits))
			}
			for _, a := range authHits {
				if v := a.Header.Values("Authorization"); len(v) != 0 {
					t.Errorf("auth service got Authorization %q", v)
				}
				if v := a.Header.Get("X-Seen-Authorization"); v != "" {
					t.Errorf("placeholder {http.request.header.Authorization} = %q at the auth service", v)
				}
				if a.URL.Path != "/check" {
					t.Errorf("auth service got path %q", a.URL.Path)
				}
				assertNoCallerSecret(t, a, fx.token, fx.gatewayCred, strings.TrimPrefix(fx.gatewayCred, "Basic "), password)
			}
			got := fx.oneHit(t)
			if v := got.Header.Get("X-Seen-Authorization"); v != "" {
				t.Errorf("placeholder {http.request.header.Authorization} = %q at the gateway", v)
			}
			a := got.Header.Values("Authorization")
			if tc.wantCred {
				if len(a) != 1 || a[0] != fx.gatewayCred {
					t.Errorf("gateway got Authorization %q on %s, want the gateway credential only", a, got.URL.Path)
				}
			} else if len(a) != 0 {
				t.Errorf("gateway got Authorization %q on %s", a, got.URL.Path)
			}
			got.Header.Del("Authorization")
			assertNoCallerSecret(t, got, fx.token, password)
		})
	}
}

// TestMissingGatewayTransport: gateway_basic_auth without the transport
// fails closed, the gateway gets no credential at all.
func TestMissingGatewayTransport(t *testing.T) {
	fx := newUpstreamFixture(t)
	newInProcessCaddy(t, fmt.Sprintf(`
	http://localhost:{http} {
		%[1]s
		reverse_proxy %[2]s
	}
	`, fx.fedOIDC(), fx.gw.srv.URL))
	fx.waitReady(t, "localhost")
	for _, path := range []string{"/system/functions", "/function/hello"} {
		resp, body := rawHTTP(t, "GET "+path+" HTTP/1.1\r\nHost: "+hostPort("localhost")+"\r\nAuthorization: Bearer "+fx.token+"\r\n\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d (%q)", path, resp.StatusCode, body)
		}
		got := fx.oneHit(t)
		if v := got.Header.Values("Authorization"); len(v) != 0 {
			t.Errorf("%s: gateway got Authorization %q without the transport", path, v)
		}
		assertNoCallerSecret(t, got, fx.token, "gateway-password")
	}
}

// TestMissingGatewayTransportLogged: the first /system/ request in a
// server without the transport logs one error naming the fix; with a
// transport in the server, nothing.
func TestMissingGatewayTransportLogged(t *testing.T) {
	fx := newUpstreamFixture(t)
	for _, withTransport := range []bool{false, true} {
		t.Run(fmt.Sprint("transport ", withTransport), func(t *testing.T) {
			f := provisionHandler(t, fx.ti, fmt.Sprintf(`,"allow_invoke":true,"gateway_basic_auth":{"user_file":%q,"password_file":%q}`, fx.userFile, fx.passFile))
			f.server = new(int) // this test's own server
			if withTransport {
				gatewayTransports.add(f.server, 1)
				t.Cleanup(func() { gatewayTransports.add(f.server, -1) })
			}
			var logs bytes.Buffer
			f.logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zapcore.DebugLevel))
			var granted []bool
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				g, _ := r.Context().Value(credentialGrantKey{}).(*credentialGrant)
				granted = append(granted, g != nil)
				return nil
			})
			for _, path := range []string{"/function/hello", "/system/functions", "/system/info"} {
				req := httptest.NewRequest("GET", path, nil)
				req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
				req.Header.Set("Authorization", "Bearer "+fx.token)
				if err := f.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(granted) != "[false true true]" {
				t.Errorf("credential granted %v, want only on /system/", granted)
			}
			n := strings.Count(logs.String(), `"level":"error"`)
			switch {
			case withTransport && n != 0:
				t.Errorf("error logged with the transport present:\n%s", &logs)
			case !withTransport && (n != 1 || !strings.Contains(logs.String(), "reverse_proxy <gateway> { transport fed_oidc }")):
				t.Errorf("want one error naming the fix, got:\n%s", &logs)
			}
		})
	}
}

// TestGatewayTransportLeavesItsRequestAlone: the credential goes on a
// copy of the request. reverse_proxy logs the request it handed to the
// transport (unredacted with log_credentials), and retries send it
// again: that one never holds the credential.
func TestGatewayTransportLeavesItsRequestAlone(t *testing.T) {
	fx := newUpstreamFixture(t)
	f := provisionHandler(t, fx.ti, fmt.Sprintf(`,"gateway_basic_auth":{"user_file":%q,"password_file":%q}`, fx.userFile, fx.passFile))
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	var tr GatewayTransport
	if err := tr.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Cleanup() })

	for _, tc := range []struct {
		name, grantedPath, path string
		want                    string
	}{
		{name: "granted path", grantedPath: "/system/functions", path: "/system/functions", want: fx.gatewayCred},
		{name: "other path", grantedPath: "/system/functions", path: "/system/functions/", want: ""},
		{name: "no grant", path: "/system/functions", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", fx.gw.srv.URL+tc.path, nil)
			req.RequestURI = ""
			if tc.grantedPath != "" {
				req = f.grantCredential(req, tc.grantedPath)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if v := req.Header.Values("Authorization"); len(v) != 0 {
				t.Errorf("the transport's caller's request now holds Authorization %q", v)
			}
			got := fx.oneHit(t)
			if a := got.Header.Get("Authorization"); a != tc.want {
				t.Errorf("gateway got Authorization %q, want %q", a, tc.want)
			}
		})
	}
}
