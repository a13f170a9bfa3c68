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

// newExampleStack is newStack with the namespaces of the IAM example
// (IAMObjects): openfaas-fn, staging and dev.
func newExampleStack(t *testing.T) *Stack {
	t.Helper()
	s := newStack(t)
	s.Namespaces = []string{"openfaas-fn", "staging", "dev"}
	return s
}

// failWithCaddyLog returns a check that stops t on an error, showing
// Caddy's log.
func failWithCaddyLog(t *testing.T, s *Stack) func(error) {
	return func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s", err, s.Log("caddy"))
		}
	}
}

// exampleSubjects gets tokens of the four subjects of the IAM example
// (IAMObjects) from the running issuers: the provider's automation and
// auditor, and CI on main and on a feature branch.
func exampleSubjects(s *Stack, fatal func(error)) (automation, auditor, ciMain, ciFeature string) {
	var err error
	automation, err = s.Token(KeycloakClient)
	fatal(err)
	auditor, err = s.Token(Auth0Client, "--audience", Audience)
	fatal(err)
	ciMain, err = s.CIToken(CIMainClient)
	fatal(err)
	ciFeature, err = s.CIToken(CIFeatureClient)
	fatal(err)
	return
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
