package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// newStack lays out a stack for a test and stops it at the end; the test
// is skipped without FEDAUTH_E2E_BIN.
func newStack(t *testing.T) *Stack {
	t.Helper()
	bin := os.Getenv("FEDAUTH_E2E_BIN")
	if bin == "" {
		t.Skip("FEDAUTH_E2E_BIN is not set; scripts/test.sh builds the stack and runs this test")
	}
	s, err := New(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

var iamClient = &http.Client{Timeout: 10 * time.Second}

// do sends one request with a bearer token (none if empty) and returns
// the status and headers.
func do(t *testing.T, method, url, token, body string) (int, http.Header) {
	t.Helper()
	code, h, _, err := request(method, url, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, h
}

func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	code, _, body, err := request("GET", url, token, "")
	if err != nil {
		t.Fatal(err)
	}
	if code == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return code
}

func request(method, url, token, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := iamClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// unsignedToken is a JWT with the given claims and a made-up signature,
// for the cases decided before any key is looked at.
func unsignedToken(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "unknown"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}
