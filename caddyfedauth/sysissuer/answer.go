package sysissuer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of RFC 6749 §5.2 and RFC 8693 §2.2.2 that the token
// endpoint answers.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidScope         = "invalid_scope"
	CodeInvalidTarget        = "invalid_target"
	CodeUnsupportedGrantType = "unsupported_grant_type"
)

// Error is an RFC 6749 §5.2 / RFC 8693 §2.2.2 error answer. Description
// is fixed text chosen by the caller: never token text, never a value the
// client sent (the client may have put its token in the wrong parameter).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// errorJSON is the body of an error answer.
type errorJSON struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Write answers e: the JSON body {"error","error_description"} with
// Content-Type application/json and Cache-Control: no-store, Pragma:
// no-cache (RFC 6749 §5.1, §5.2).
func (e *Error) Write(w http.ResponseWriter) {
	writeJSON(w, e.Status, errorJSON{Error: e.Code, Description: e.Description})
}

// badRequest is a 400 answer with a fixed description.
func badRequest(code, description string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Description: description}
}

// NoPolicies is the answer when no role matches the subject token, exactly
// as the commercial gateway gives it (its troubleshooting page): 400
// {"error":"invalid_request","error_description":"No policies found for
// subject: <sub>"}. sub is the verified token's sub.
func NoPolicies(sub string) *Error {
	return badRequest(CodeInvalidRequest, "No policies found for subject: "+sub)
}

// InvalidSubjectToken is the answer for a subject token that does not
// verify, for any reason: RFC 8693 §2.2.2 requires invalid_request. The
// reason goes to the logs, not to the client.
func InvalidSubjectToken() *Error {
	return badRequest(CodeInvalidRequest, "subject_token is not valid: malformed, expired, or not from a trusted issuer")
}

// Response is the success answer of RFC 8693 §2.2.1.
type Response struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// Write answers r with status 200, Content-Type application/json and
// Cache-Control: no-store, Pragma: no-cache (RFC 6749 §5.1).
func (r Response) Write(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, r)
}

// writeJSON writes v, which always encodes (strings and integers), as the
// token endpoint's answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// marshal is json.Marshal without HTML escaping: tokens and answers are
// JSON for programs, and a claim or the subject in NoPolicies should read
// as it was written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
