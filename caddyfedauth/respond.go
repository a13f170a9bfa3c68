package caddyfedauth

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// retryAfterSeconds is what a client is told to wait while the issuer's
// keys are unavailable; the key fetch retries on a shorter backoff.
const retryAfterSeconds = "5"

// challenges are the WWW-Authenticate values (RFC 6750 §3), built once.
// Descriptions are fixed text: nothing from the request is echoed.
type challenges struct {
	missing, invalid, expired, forbidden, badRequest, invoke string
}

func newChallenges(realm string) challenges {
	base := `Bearer realm="` + realm + `"`
	return challenges{
		// No error code when the request carried no bearer token (§3.1).
		missing:    base,
		invalid:    base + `, error="invalid_token", error_description="the access token is invalid"`,
		expired:    base + `, error="invalid_token", error_description="the access token expired"`,
		forbidden:  base + `, error="insufficient_scope", error_description="the access token does not allow this request"`,
		badRequest: base + `, error="invalid_request"`,
		// faas-cli invoke answers this realm by exchanging its token for
		// a function token and retrying (commands/invoke.go).
		invoke: `Bearer realm="IAM function invoke"`,
	}
}

// write sends the refusal: status, challenge and a one-line body.
func (c challenges) write(w http.ResponseWriter, status int, outcome string) {
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		switch outcome {
		case outcomeMissingToken:
			h.Set("WWW-Authenticate", c.missing)
		case outcomeMissingFunctionToken:
			h.Set("WWW-Authenticate", c.invoke)
		case reasonExpired:
			h.Set("WWW-Authenticate", c.expired)
		default:
			h.Set("WWW-Authenticate", c.invalid)
		}
	case http.StatusForbidden:
		h.Set("WWW-Authenticate", c.forbidden)
	case http.StatusBadRequest:
		h.Set("WWW-Authenticate", c.badRequest)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", retryAfterSeconds)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

// bearerToken extracts the token from the one Authorization header
// (RFC 6750 §2.1). Tokens in the query string or cookies are never read.
// On failure it returns the status and outcome to answer with.
func bearerToken(r *http.Request) (string, int, string) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", http.StatusUnauthorized, outcomeMissingToken
	}
	if len(vals) > 1 {
		return "", http.StatusBadRequest, outcomeBadRequest
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Basic or another scheme: no bearer token was offered.
		return "", http.StatusUnauthorized, outcomeMissingToken
	}
	if token == "" {
		// faas-cli sends "Bearer " when it has no token: offered nothing.
		return "", http.StatusUnauthorized, outcomeMissingToken
	}
	// Whether it is a b64token at all, the verifier checks on a cache
	// miss (errNotB64Token): a cached token is bytes that passed before.
	return token, 0, ""
}

// isToken68 reports whether s is the b64token of RFC 6750 §2.1. It runs
// on every request over the whole token, so it looks bytes up in a table.
func isToken68(s string) bool {
	i := 0
	for i < len(s) && b64tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// b64tokenChar holds the characters of a b64token before its padding.
var b64tokenChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// identityPlaceholders are set for the handlers after fed_oidc, in the
// order of identity.placeholders. The names follow Caddy's authentication
// handler, so its access-log user_id and existing configs keep working.
var identityPlaceholders = [...]string{
	"http.auth.user.id",
	"http.auth.user.iss",
	"http.auth.user.azp",
	"http.auth.user.client_id",
	"http.auth.user.aud",
	"http.auth.user.scope",
}

func setIdentityPlaceholders(r *http.Request, id *identity) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	for i, name := range identityPlaceholders {
		repl.Set(name, id.placeholders[i])
	}
}
