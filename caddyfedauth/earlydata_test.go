package caddyfedauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/internal/zerortt"
)

// TestEarlyDataRefused sends requests that may be replays of TLS early
// data (RFC 8470) straight to the handler: each gets 425 before any path,
// token or credential work, whatever it asks for.
func TestEarlyDataRefused(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "RS256", "rsa2048")
	f := provisionHandler(t, ti, "")
	good := ti.token(t, k, ti.claims("fed-gw.tenant1"))
	early := &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: false}
	complete := &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true}

	for _, tc := range []struct {
		name, path, auth string
		tls              *tls.ConnectionState
		earlyData        []string // Early-Data header lines
		status           int
	}{
		{name: "0-RTT request with a valid token", tls: early, status: 425},
		{name: "0-RTT request without a token (still 425, not 401)", auth: "-", tls: early, status: 425},
		{name: "0-RTT request on an ambiguous path (still 425, not 400)", path: "/system/../ui/", tls: early, status: 425},
		{name: "0-RTT request on a refused path (still 425, not 403)", path: "/ui/", tls: early, status: 425},
		{name: "a proxy in front forwarded early data (Early-Data: 1)", tls: complete, earlyData: []string{"1"}, status: 425},
		{name: "Early-Data over plain HTTP from a TLS-terminating proxy", earlyData: []string{"1"}, status: 425},
		{name: "Early-Data: 0 counts as 1 (§5.1)", tls: complete, earlyData: []string{"0"}, status: 425},
		{name: "empty Early-Data counts as 1", tls: complete, earlyData: []string{""}, status: 425},
		{name: "two Early-Data lines count as 1", tls: complete, earlyData: []string{"0", "1"}, status: 425},
		{name: "complete handshake: allowed", tls: complete, status: 200},
		{name: "plain HTTP: allowed", status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/system/functions"
			}
			req := httptest.NewRequest("GET", path, nil)
			req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
			req.TLS = tc.tls
			if tc.auth != "-" {
				req.Header.Set("Authorization", "Bearer "+good)
			}
			for _, v := range tc.earlyData {
				req.Header.Add("Early-Data", v)
			}
			cached := f.issuers().cache.len()
			reached := false
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { reached = true; return nil })
			w := httptest.NewRecorder()
			if err := f.ServeHTTP(w, req, next); err != nil {
				t.Fatal(err)
			}
			if tc.status == 200 {
				if !reached {
					t.Fatalf("status %d, want the request passed on", w.Code)
				}
				return
			}
			if w.Code != tc.status || reached {
				t.Fatalf("status %d (passed on: %v), want %d", w.Code, reached, tc.status)
			}
			if got := f.issuers().cache.len(); got != cached {
				t.Errorf("token cache went from %d to %d: the token was verified", cached, got)
			}
			if b := w.Body.String(); b != "Too Early\n" || strings.Contains(b, good) {
				t.Errorf("body %q, want the fixed one-line text", b)
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("headers %v, want Cache-Control: no-store and no challenge", w.Header())
			}
		})
	}
}

// TestEarlyDataInCaddy is the attack on the wire: a valid token sent in
// TLS early data to the real Caddy, over HTTP/3 0-RTT and over TLS 1.3 on
// TCP, never reaches the gateway; the same request after the handshake
// does, with the gateway credential.
func TestEarlyDataInCaddy(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k1", "RS256", "rsa2048")
	gw := newGatewayStandIn(t)
	dir := t.TempDir()
	userFile, passFile := filepath.Join(dir, "user"), filepath.Join(dir, "password")
	for file, v := range map[string]string{userFile: "admin", passFile: "gateway-password"} {
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Caddy's default protocols: HTTP/1.1, HTTP/2 and HTTP/3 (0-RTT on).
	// /witness/ has no fed_oidc: reverse_proxy marks a request it forwards
	// before the handshake completed with Early-Data: 1 (RFC 8470 §5.1).
	newInProcessCaddy(t, fmt.Sprintf(`
	https://localhost:{https} {
		tls internal
		handle /witness/* {
			reverse_proxy %[4]s
		}
		handle {
			fed_oidc {
				issuer %[1]s
				audience fed-gw.tenant1
				gateway_basic_auth %[2]s %[3]s
			}
			reverse_proxy %[4]s {
				transport fed_oidc
			}
		}
	}
	`, ti.URL(), userFile, passFile, gw.srv.URL))
	roots := internalCARoots(t)
	good := ti.token(t, key, ti.claims("fed-gw.tenant1"))
	auth := http.Header{"Authorization": {"Bearer " + good}}
	addr := fmt.Sprintf("127.0.0.1:%d", inproc.httpsPort)
	gatewayCred := basicValue("admin", "gateway-password")

	tcp := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	waitFor(t, "a 200 over TCP", func() bool {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://localhost:%d/system/info", inproc.httpsPort), nil)
		req.Header = auth.Clone()
		resp, err := tcp.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	gw.take()

	// One request reached the gateway with its credential, or none did.
	expectGateway := func(t *testing.T, want int) {
		t.Helper()
		hits := gw.take()
		if len(hits) != want {
			t.Fatalf("the gateway got %d requests, want %d", len(hits), want)
		}
		if want == 1 && hits[0].Header.Get("Authorization") != gatewayCred {
			t.Errorf("the gateway got Authorization %q, want its credential", hits[0].Header.Get("Authorization"))
		}
	}

	t.Run("HTTP/3 0-RTT", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := zerortt.New(addr, "localhost", roots)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()

		// A complete handshake, which also gets a session ticket for 0-RTT.
		resp, err := c.Get(ctx, "/system/functions", auth)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || resp.Used0RTT {
			t.Fatalf("after a full handshake: status %d, 0-RTT %v; want 200 without 0-RTT", resp.Status, resp.Used0RTT)
		}
		expectGateway(t, 1)

		// The client keeps the server's packets from the client until the
		// server has acted, so it acted with its handshake incomplete: as on
		// a replay, which never completes.
		until := func(cond func() bool) func(context.Context) error {
			return func(ctx context.Context) error {
				for !cond() {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(20 * time.Millisecond):
					}
				}
				return nil
			}
		}

		// The witness: Caddy saw a 0-RTT request with HandshakeComplete false.
		var witnessed []*http.Request
		resp, err = c.GetEarly(ctx, "/witness/x", nil, until(func() bool { witnessed = gw.take(); return len(witnessed) > 0 }))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Used0RTT || witnessed[0].Header.Get("Early-Data") != "1" {
			t.Fatalf("0-RTT %v, upstream Early-Data %q: the request was not received as early data",
				resp.Used0RTT, witnessed[0].Header.Get("Early-Data"))
		}

		// The attack: a valid token in 0-RTT.
		before := decisionCount(t, ti.URL(), "")
		resp, err = c.GetEarly(ctx, "/system/functions", auth, until(func() bool { return decisionCount(t, ti.URL(), "") > before }))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Used0RTT {
			t.Fatal("the server did not accept 0-RTT: the request was not early data")
		}
		if resp.Status != http.StatusTooEarly {
			t.Errorf("0-RTT request: status %d, want 425", resp.Status)
		}
		if string(resp.Body) != "Too Early\n" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("0-RTT answer: body %q, Cache-Control %q", resp.Body, resp.Header.Get("Cache-Control"))
		}
		expectGateway(t, 0)
		if n := decisionCount(t, ti.URL(), outcomeEarlyData); n < 1 {
			t.Errorf("early_data decisions: %v, want at least 1", n)
		}

		// RFC 8470 §5.2: the client retries after the handshake; that works.
		resp, err = c.Get(ctx, "/system/functions", auth)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 {
			t.Errorf("retry after the handshake: status %d, want 200", resp.Status)
		}
		expectGateway(t, 1)
	})

	t.Run("TLS 1.3 early data over TCP", func(t *testing.T) {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl is not installed")
		}
		dir := t.TempDir()
		// A session that allows early data, from a server that accepts it:
		// Go's TLS server never issues one on TCP.
		sess := earlyDataSession(t, openssl, dir)
		req := fmt.Sprintf("GET /system/functions HTTP/1.1\r\nHost: localhost:%d\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", inproc.httpsPort, good)
		reqFile := filepath.Join(dir, "request")
		if err := os.WriteFile(reqFile, []byte(req), 0o600); err != nil {
			t.Fatal(err)
		}
		sClient := func(stdin string, args ...string) string {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, append([]string{"s_client", "-connect", addr, "-servername", "localhost",
				"-sess_in", sess, "-ign_eof"}, args...)...)
			cmd.Stdin = strings.NewReader(stdin)
			out, _ := cmd.CombinedOutput()
			return string(out)
		}

		before := decisionCount(t, ti.URL(), "")
		out := sClient("", "-early_data", reqFile)
		// Alert 110, unsupported_extension: Go's server aborts a handshake
		// whose ClientHello offers early data on TCP, before reading any.
		if !strings.Contains(out, "alert number 110") || strings.Contains(out, "HTTP/1.1 ") {
			t.Errorf("early data over TCP: want the handshake refused with alert 110 and no HTTP answer:\n%s", out)
		}
		expectGateway(t, 0)
		if decisionCount(t, ti.URL(), "") != before {
			t.Error("fed_oidc decided on a request sent in early data over TCP")
		}

		// The same request on the same session without early data.
		if out := sClient(req, "-quiet"); !strings.Contains(out, "HTTP/1.1 200") {
			t.Errorf("without early data: want 200:\n%s", out)
		}
		expectGateway(t, 1)
	})
}

// internalCARoots is Caddy's internal CA, from the in-process Caddy's
// storage.
func internalCARoots(t *testing.T) *x509.CertPool {
	t.Helper()
	var pemBytes []byte
	waitFor(t, "Caddy's internal CA", func() bool {
		var err error
		pemBytes, err = os.ReadFile(filepath.Join(inproc.stateDir, "pki", "authorities", "local", "root.crt"))
		return err == nil
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in Caddy's internal CA file")
	}
	return pool
}

// decisionCount is caddy_fed_oidc_decisions_total for issuer and outcome,
// or summed over every outcome when outcome is empty, from the in-process
// Caddy's /metrics.
func decisionCount(t *testing.T, issuer, outcome string) float64 {
	t.Helper()
	resp, err := http.Get(adminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := fmt.Sprintf("caddy_fed_oidc_decisions_total{issuer=%q,outcome=%q}", issuer, outcome)
	if outcome == "" {
		prefix = prefix[:strings.LastIndex(prefix, "outcome=")]
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// earlyDataSession gets a TLS 1.3 session that allows early data from
// openssl's own server, and returns its file for s_client -sess_in.
func earlyDataSession(t *testing.T, openssl, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.CommandContext(ctx, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=localhost").CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	ports, err := freeLoopbackPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.CommandContext(ctx, openssl, "s_server", "-accept", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"-cert", certFile, "-key", keyFile, "-tls1_3", "-max_early_data", "16384", "-www", "-naccept", "1")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	// s_server prints ACCEPT once it listens.
	ready, sc := false, bufio.NewScanner(stdout)
	for !ready && sc.Scan() {
		ready = sc.Text() == "ACCEPT"
	}
	if !ready {
		t.Fatalf("openssl s_server did not start: %v", sc.Err())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	sess := filepath.Join(dir, "session.pem")
	cli := exec.CommandContext(ctx, openssl, "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"-servername", "localhost", "-sess_out", sess, "-ign_eof")
	cli.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("openssl s_client for a session: %v\n%s", err, out)
	}
	text, err := exec.CommandContext(ctx, openssl, "sess_id", "-in", sess, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(text), "Max Early Data: 16384") {
		t.Fatalf("the session does not allow early data: %v\n%s", err, text)
	}
	return sess
}
