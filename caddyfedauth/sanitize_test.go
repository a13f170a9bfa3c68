package caddyfedauth

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRequestTrailersNeverGoUpstream sends the caller's token in request
// trailers, declared and undeclared, through the real Caddy: the
// gateway gets no trailer at all, and the body intact.
func TestRequestTrailersNeverGoUpstream(t *testing.T) {
	fx := newUpstreamFixture(t)
	newInProcessCaddy(t, fx.site("http://localhost:{http}", "", "")+
		fx.site("http://buffered.localhost:{http}", "", "request_buffers 1MB")+
		fmt.Sprintf(`
	http://plain.localhost:{http} {
		%s
		reverse_proxy %s
	}`, fx.fedOIDC(), fx.gw.srv.URL))
	fx.waitReady(t, "localhost")

	tok := fx.token
	for _, tc := range []struct {
		name, host, path, declare string
	}{
		{name: "declared Authorization trailer", host: "localhost", path: "/system/functions", declare: "Trailer: Authorization, X-Caller-Sig\r\n"},
		{name: "undeclared trailers", host: "localhost", path: "/system/functions"},
		// The gateway hands function requests on to the function.
		{name: "trailers on a function invocation", host: "localhost", path: "/function/hello", declare: "Trailer: Authorization, X-Caller-Sig\r\n"},
		// reverse_proxy reads the whole body, trailers included, before the round trip.
		{name: "request_buffers reads the trailers before proxying", host: "buffered.localhost", path: "/system/functions", declare: "Trailer: Authorization, X-Caller-Sig\r\n"},
		// Dropping trailers is fed_oidc's, not the transport's.
		{name: "without the fed_oidc transport", host: "plain.localhost", path: "/function/hello", declare: "Trailer: Authorization, X-Caller-Sig\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "POST " + tc.path + " HTTP/1.1\r\nHost: " + hostPort(tc.host) + "\r\n" +
				"Authorization: Bearer " + tok + "\r\n" +
				"Transfer-Encoding: chunked\r\n" + tc.declare + "\r\n" +
				"5\r\nhello\r\n6\r\n world\r\n0\r\n" +
				"Authorization: Bearer " + tok + "\r\n" +
				"X-Caller-Sig: sig-" + tok + "\r\n\r\n"
			resp, body := rawHTTP(t, raw)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (%q)", resp.StatusCode, body)
			}
			got := fx.oneHit(t)
			if len(got.Trailer) != 0 {
				t.Errorf("gateway got trailers %v", got.Trailer)
			}
			if b, _ := io.ReadAll(got.Body); string(b) != "hello world" {
				t.Errorf("gateway got body %q", b)
			}
			assertNoCallerSecret(t, got, tok, "sig-")
			a := got.Header.Values("Authorization")
			switch {
			case tc.host == "plain.localhost" || strings.HasPrefix(tc.path, "/function/"):
				if len(a) != 0 {
					t.Errorf("gateway got Authorization %q", a)
				}
			case len(a) != 1 || a[0] != fx.gatewayCred:
				t.Errorf("gateway got Authorization %q, want the gateway credential only", a)
			}
		})
	}
}

// TestHTTP2RequestTrailersNeverGoUpstream is the same over HTTP/2 (TLS),
// where trailers are a HEADERS frame after the body. Go's HTTP/2 server
// already refuses an Authorization trailer, so others carry the token.
func TestHTTP2RequestTrailersNeverGoUpstream(t *testing.T) {
	fx := newUpstreamFixture(t)
	newInProcessCaddy(t, fx.site("https://localhost:{https}", "tls internal", ""))
	client := &http.Client{Transport: &http.Transport{
		// The in-process Caddy's internal CA, in a temporary directory.
		TLSClientConfig:   &tls.Config{ServerName: "localhost", InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}}
	t.Cleanup(client.CloseIdleConnections)
	post := func() (*http.Response, error) {
		req, err := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/system/functions", inproc.httpsPort), io.MultiReader(strings.NewReader("hello world")))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = fmt.Sprintf("localhost:%d", inproc.httpsPort)
		req.ContentLength = -1 // chunked, so trailers can follow
		req.Header.Set("Authorization", "Bearer "+fx.token)
		req.Trailer = http.Header{"X-Caller-Token": {"Bearer " + fx.token}, "X-Caller-Sig": {"sig-" + fx.token}}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	waitFor(t, "keys and certificate in the running config", func() bool {
		resp, err := post()
		return err == nil && resp.StatusCode == http.StatusOK
	})
	fx.gw.take()

	resp, err := post()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	got := fx.oneHit(t)
	if len(got.Trailer) != 0 {
		t.Errorf("gateway got trailers %v", got.Trailer)
	}
	if b, _ := io.ReadAll(got.Body); string(b) != "hello world" {
		t.Errorf("gateway got body %q", b)
	}
	assertNoCallerSecret(t, got, fx.token, "sig-")
	if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != fx.gatewayCred {
		t.Errorf("gateway got Authorization %q, want the gateway credential only", a)
	}
}

// TestUpgradeNeverGoesUpstream: client-sent upgrades (h2c, websocket)
// are ignored, so the gateway never switches protocols under Caddy and
// no later request on the connection skips fed_oidc; CONNECT is refused.
func TestUpgradeNeverGoesUpstream(t *testing.T) {
	fx := newUpstreamFixture(t)
	newInProcessCaddy(t, fx.site("http://localhost:{http}", "", ""))
	fx.waitReady(t, "localhost")
	auth := "Authorization: Bearer " + fx.token + "\r\n"

	for _, tc := range []struct {
		name, requestLine, headers string
		status                     int
	}{
		{name: "h2c upgrade (curl --http2 on http://)", requestLine: "GET /system/info HTTP/1.1",
			headers: "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", status: 200},
		{name: "h2c upgrade, HTTP2-Settings not named in Connection", requestLine: "GET /system/info HTTP/1.1",
			headers: "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", status: 200},
		{name: "websocket to a function", requestLine: "GET /function/hello HTTP/1.1",
			headers: "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", status: 200},
		{name: "websocket to the system API, upgrade in lower case", requestLine: "GET /system/functions HTTP/1.1",
			headers: "connection: upgrade\r\nupgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", status: 200},
		{name: "CONNECT to a gateway path", requestLine: "CONNECT /system/info HTTP/1.1", status: 400},
		// Authority form: Go's server takes the Host from the target, so it names the site.
		{name: "CONNECT to the site's address", requestLine: "CONNECT " + hostPort("localhost") + " HTTP/1.1", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawHTTP(t, tc.requestLine+"\r\nHost: "+hostPort("localhost")+"\r\n"+auth+tc.headers+"\r\n")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				if hits := fx.gw.take(); len(hits) != 0 {
					t.Errorf("refused request reached the gateway: %s %s", hits[0].Method, hits[0].URL)
				}
				return
			}
			got := fx.oneHit(t)
			for _, h := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v := got.Header.Values(h); len(v) != 0 {
					t.Errorf("gateway got %s: %q", h, v)
				}
			}
			assertNoCallerSecret(t, got, fx.token)
		})
	}
}

// TestClientClaimsNeverGoUpstream sends the headers a proxy uses to tell
// its upstream who the client is, each with a value only the caller could
// have chosen: none reaches the gateway. X-Forwarded-For, -Proto and
// -Host hold what Caddy saw, and header_up can set X-Real-IP from
// {client_ip} again.
func TestClientClaimsNeverGoUpstream(t *testing.T) {
	fx := newUpstreamFixture(t)
	newInProcessCaddy(t, fx.site("http://localhost:{http}", "", "")+
		fx.site("http://realip.localhost:{http}", "", "header_up X-Real-IP {client_ip}"))
	fx.waitReady(t, "localhost")

	const spoofed = "203.0.113.9"
	claims := "Forwarded: for=" + spoofed + ";proto=https;host=evil.example\r\n" +
		"X-Real-IP: " + spoofed + "\r\n" +
		"X-Client-IP: " + spoofed + "\r\n" +
		"True-Client-IP: " + spoofed + "\r\n" +
		"X-Forwarded-For: " + spoofed + "\r\n" +
		"X-Forwarded-Proto: https-" + spoofed + "\r\n" +
		"X-Forwarded-Host: " + spoofed + ".evil.example\r\n" +
		"X-Forwarded-Prefix: /" + spoofed + "\r\n" +
		"X-Forwarded-Port: 1" + spoofed + "\r\n" +
		"X-Forwarded-Server: " + spoofed + "\r\n" +
		// A CGI-style function reads these as Http_X_Forwarded_For and Http_X_Real_Ip.
		"X_Forwarded_For: " + spoofed + "\r\n" +
		"x_real_ip: " + spoofed + "\r\n" +
		"X-Kept: " + spoofed + "\r\n"
	for _, tc := range []struct{ name, host, path, wantRealIP string }{
		{name: "system API", host: "localhost", path: "/system/info"},
		{name: "function invocation", host: "localhost", path: "/function/hello"},
		{name: "X-Real-IP set again by header_up", host: "realip.localhost", path: "/system/info", wantRealIP: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawHTTP(t, "GET "+tc.path+" HTTP/1.1\r\nHost: "+hostPort(tc.host)+"\r\n"+
				"Authorization: Bearer "+fx.token+"\r\n"+claims+"\r\n")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d (%q)", resp.StatusCode, body)
			}
			got := fx.oneHit(t)
			// An ordinary header passes: only the claims are removed.
			if got.Header.Get("X-Kept") != spoofed {
				t.Errorf("X-Kept = %q, want it passed on", got.Header.Get("X-Kept"))
			}
			got.Header.Del("X-Kept")
			assertNoCallerSecret(t, got, spoofed, "evil", fx.token)
			for h, want := range map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Host":  hostPort(tc.host),
				"X-Real-Ip":         tc.wantRealIP,
			} {
				if got := strings.Join(got.Header.Values(h), ","); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestIsClientClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Forwarded", true}, {"X-Real-Ip", true}, {"X-Client-Ip", true}, {"True-Client-Ip", true},
		{"X-Forwarded-Prefix", true}, {"X-Forwarded-Port", true}, {"X-Forwarded-Uri", true},
		{"X_forwarded_for", true}, {"X_real_ip", true}, {"x-real-ip", true}, {"FORWARDED", true},
		// reverse_proxy rewrites these three itself.
		{"X-Forwarded-For", false}, {"X-Forwarded-Proto", false}, {"X-Forwarded-Host", false},
		{"X-Forwarded", false}, {"Forwarded-X", false}, {"X-Real-Ip-Extra", false}, {"X-Call-Id", false},
		{"Content-Type", false}, {"", false}, {"T", false},
	} {
		if got := isClientClaim(tc.name); got != tc.want {
			t.Errorf("isClientClaim(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
