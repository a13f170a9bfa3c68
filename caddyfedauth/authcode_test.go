package caddyfedauth

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 7636 Appendix B.
func TestPKCEChallenge(t *testing.T) {
	if got := pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("got %s", got)
	}
	a, b := newPKCE(), newPKCE()
	if a.verifier == b.verifier || len(a.verifier) != 43 || a.challenge != pkceChallenge(a.verifier) {
		t.Errorf("verifiers %q %q", a.verifier, b.verifier)
	}
}

// get sends one request to the callback listener, with host as the Host
// header, and returns the status.
func get(t *testing.T, u, host string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The listener is on 127.0.0.1 only, ignores requests that are not the
// callback, takes one callback, and is gone after.
func TestLoopbackCallback(t *testing.T) {
	cb, err := listenCallback("localhost", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := cb.ln.Addr().(*net.TCPAddr)
	if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("listening on %v", addr)
	}
	u, _ := url.Parse(cb.redirectURI)
	if u.Hostname() != "localhost" || u.Path != "/oauth/callback" {
		t.Errorf("redirect URI %s", cb.redirectURI)
	}
	base := "http://" + addr.String()
	got := make(chan url.Values, 2)
	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := cb.wait(context.Background(), func(q url.Values) (string, error) {
			got <- q
			return q.Get("code"), nil
		})
		done <- result{code, err}
	}()
	waitFor(t, "the listener", func() bool {
		c, err := net.Dial("tcp", addr.String())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	own := u.Host
	for _, tc := range []struct {
		what, path, host string
		want             int
	}{
		{"another path", "/favicon.ico", own, http.StatusNotFound},
		// a page of another site whose name resolves to 127.0.0.1
		{"DNS rebinding", "/oauth/callback?code=evil", "evil.example:" + u.Port(), http.StatusMisdirectedRequest},
	} {
		if code := get(t, base+tc.path, tc.host); code != tc.want {
			t.Errorf("%s: got %d, want %d", tc.what, code, tc.want)
		}
	}
	if code := get(t, base+"/oauth/callback?code=c1&state=s", own); code != http.StatusOK {
		t.Errorf("callback: got %d", code)
	}
	select {
	case res := <-done:
		if res.err != nil || res.code != "c1" {
			t.Errorf("got %q %v", res.code, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return")
	}
	if len(got) != 1 {
		t.Errorf("check ran %d times, want once", len(got))
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener is still open after the callback")
	}
}

func TestCheckCallback(t *testing.T) {
	l := &authCodeLogin{issuer: "https://idp", meta: &providerMetadata{}, state: "the-state"}
	for _, tc := range []struct {
		query   string
		want    string // the code, if accepted
		wantErr string
	}{
		{query: "code=c&state=the-state", want: "c"},
		{query: "code=c&state=the-state&iss=https%3A%2F%2Fidp", want: "c"},
		{query: "code=c", wantErr: "state does not match"},
		{query: "code=c&state=the-stat", wantErr: "state does not match"},
		{query: "error=access_denied", wantErr: `state does not match this login's (it reports error "access_denied"`},
		{query: "code=c&state=the-state&state=other", wantErr: `"state" is repeated`},
		{query: "code=c&code=d&state=the-state", wantErr: `"code" is repeated`},
		{query: "state=the-state&error=login_required", wantErr: `refused the login: "login_required"`},
		{query: "state=the-state&error=x%1b%5B31m", wantErr: `"x\x1b[31m"`}, // quoted: no terminal escapes
		{query: "state=the-state", wantErr: "no code"},
		{query: "code=c&state=the-state&iss=https%3A%2F%2Fother", wantErr: `from issuer "https://other"`},
	} {
		q, _ := url.ParseQuery(tc.query)
		code, err := l.checkCallback(q)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %q %v, want error %q", tc.query, code, err, tc.wantErr)
			}
			continue
		}
		if err != nil || code != tc.want {
			t.Errorf("%s: got %q %v", tc.query, code, err)
		}
	}
	// an issuer that promises iss (RFC 9207) must send it
	l.meta.AuthorizationResponseIssParameterSupported = true
	if _, err := l.checkCallback(url.Values{"code": {"c"}, "state": {"the-state"}}); err == nil || !strings.Contains(err.Error(), "does not name its issuer") {
		t.Errorf("got %v", err)
	}
}

func TestWriteDecodedJWT(t *testing.T) {
	tok := b64([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"fed:alice","exp":1706131945,"policy":["fn-rw"],"url":"a&b"}`)) + ".sig"
	var out strings.Builder
	if err := writeDecodedJWT(&out, tok); err != nil {
		t.Fatal(err)
	}
	want := `{
  "header": {
    "alg": "ES256",
    "typ": "JWT"
  },
  "payload": {
    "exp": 1706131945,
    "policy": [
      "fn-rw"
    ],
    "sub": "fed:alice",
    "url": "a&b"
  }
}
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if err := writeDecodedJWT(&out, "opaque"); err == nil {
		t.Error("an opaque token was decoded")
	}
}
