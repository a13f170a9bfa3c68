package sysissuer

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// checkAnswer asserts a token endpoint answer: status, body exactly, and
// the headers RFC 6749 §5.1 requires.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d", rec.Code, status)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body\n%s\nwant\n%s", got, body)
	}
	for h, want := range map[string]string{
		"Content-Type":   "application/json",
		"Cache-Control":  "no-store",
		"Pragma":         "no-cache",
		"Content-Length": strconv.Itoa(len(body)),
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestErrorWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		body string
	}{
		// troubleshooting.md of the commercial product, to the byte
		{"no policies", NoPolicies("a81bcb85-72a8-446a-9263-004944a4e9f4"),
			`{"error":"invalid_request","error_description":"No policies found for subject: a81bcb85-72a8-446a-9263-004944a4e9f4"}`},
		{"no policies, Kubernetes subject with HTML characters", NoPolicies("system:serviceaccount:<ns>&x"),
			`{"error":"invalid_request","error_description":"No policies found for subject: system:serviceaccount:<ns>&x"}`},
		{"invalid subject token", InvalidSubjectToken(),
			`{"error":"invalid_request","error_description":"subject_token is not valid: malformed, expired, or not from a trusted issuer"}`},
		{"unsupported grant", errGrantType.copy(),
			`{"error":"unsupported_grant_type","error_description":"the only grant_type supported is urn:ietf:params:oauth:grant-type:token-exchange"}`},
		{"scope", errScope.copy(),
			`{"error":"invalid_scope","error_description":"scope must be absent or \"function\""}`},
		{"no description", &Error{Status: http.StatusInternalServerError, Code: "server_error"},
			`{"error":"server_error"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.err.Write(rec)
			checkAnswer(t, rec, tc.err.Status, tc.body)
		})
	}
	if got := NoPolicies("x").Error(); got != "invalid_request: No policies found for subject: x" {
		t.Errorf("Error() = %q", got)
	}
	if NoPolicies("x").Status != http.StatusBadRequest {
		t.Error("NoPolicies is not 400")
	}
}

func TestResponseWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp Response
		body string
	}{
		// the blog's answers (kubernetes-tokens-openfaas-api, built-in-function-authentication)
		{"access token", Response{AccessToken: "eyJ.a.b", IssuedTokenType: TokenTypeIDToken, TokenType: "Bearer", ExpiresIn: 7200},
			`{"access_token":"eyJ.a.b","issued_token_type":"urn:ietf:params:oauth:token-type:id_token","token_type":"Bearer","expires_in":7200}`},
		{"function token", Response{AccessToken: "eyJ.a.b", TokenType: "Bearer", ExpiresIn: 300, Scope: "function"},
			`{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":300,"scope":"function"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.resp.Write(rec)
			checkAnswer(t, rec, http.StatusOK, tc.body)
		})
	}
}
