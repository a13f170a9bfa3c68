package sysissuer

import (
	"encoding/json"
	"math"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/uuid"
)

// FunctionTokenTTL is the lifetime of a function token.
const FunctionTokenTTL = 5 * time.Minute

// droppedClaims are the original token's claims an access token does not
// copy, each because copying it would make the new token claim something
// the exchange never checked:
//   - nbf: the new token is valid from its iat (the commercial tokens have
//     none; a copied nbf is at best redundant);
//   - function: an access token with a "function" claim, signed by the
//     system issuer with aud = issuer, is a function token to a watchdog,
//     so an IdP claim of that name would let an API token invoke;
//   - act, may_act (RFC 8693 §4.1, §4.4): delegation the exchange did not
//     perform;
//   - cnf (RFC 7800): a proof-of-possession binding the gateway does not
//     enforce on its bearer tokens.
//
// The OIDC claims about the login (azp, nonce, at_hash, c_hash,
// auth_time, sid, session_state) are kept: the commercial gateway keeps
// them (its docs' decoded token has at_hash, auth_time, azp, nonce, sid),
// no verifier of an access token checks them, and users read them.
var droppedClaims = [...]string{"nbf", "function", "act", "may_act", "cnf"}

// AccessClaims builds the claims of an OpenFaaS access token from the
// payload of the verified subject token (all its claims, any JSON types,
// as encoding/json decodes them with UseNumber): every claim is copied
// (nested values shared, not deep-copied), droppedClaims are removed,
// then
//
//	iss, aud  = issuer (aud a string, as the commercial token has it)
//	sub       = "fed:" + the original sub
//	fed:iss   = the original iss
//	policy    = policies ([] when nil)
//	iat       = now, exp = now + ttl (whole seconds)
//	jti       = a new random UUID
//
// overwriting claims of those names. The verifier has checked that sub
// and iss are strings; if one is not, the claim derived from it is left
// out rather than invented. Meant for tokens of trusted issuers: an access
// token exchanged again would get sub "fed:fed:...".
func AccessClaims(original map[string]any, issuer string, policies []string, now time.Time, ttl time.Duration) map[string]any {
	c := make(map[string]any, len(original)+4)
	for k, v := range original {
		c[k] = v
	}
	for _, k := range droppedClaims {
		delete(c, k)
	}
	delete(c, "sub")
	delete(c, "fed:iss")
	if sub, ok := original["sub"].(string); ok {
		c["sub"] = "fed:" + sub
	}
	if iss, ok := original["iss"].(string); ok {
		c["fed:iss"] = iss
	}
	c["iss"] = issuer
	c["aud"] = issuer
	c["policy"] = cloneList(policies)
	c["iat"] = now.Unix()
	c["exp"] = now.Add(ttl).Unix()
	c["jti"] = newJTI()
	return c
}

// FunctionClaims builds the claims of a function token from the claims of
// an OpenFaaS access token (for a subject token of another issuer, first
// AccessClaims of it), in the shape of the commercial product's blog and
// faas-middleware's FunctionClaims:
//
//	{"iss", "sub", "aud": [issuer], "iat", "exp", "jti",
//	 "function": {"permissions": [...], "audience": [...]}}
//
// sub is the access token's sub. permissions are the resources where the
// caller may invoke ([] when nil); audience, the functions asked for, is
// left out when empty, as the watchdog then checks permissions only. exp
// is now + FunctionTokenTTL, or the access token's exp when that is
// sooner: a function token does not outlive the token it came from.
func FunctionClaims(access map[string]any, issuer string, permissions, audience []string, now time.Time) map[string]any {
	fn := map[string]any{"permissions": cloneList(permissions)}
	if len(audience) > 0 {
		fn["audience"] = cloneList(audience)
	}
	exp := now.Add(FunctionTokenTTL).Unix()
	if accessExp, ok := numericDate(access["exp"]); ok && accessExp < exp {
		exp = accessExp
	}
	c := map[string]any{
		"iss":      issuer,
		"aud":      []string{issuer},
		"iat":      now.Unix(),
		"exp":      exp,
		"jti":      newJTI(),
		"function": fn,
	}
	if sub, ok := access["sub"].(string); ok {
		c["sub"] = sub
	}
	return c
}

// cloneList copies s, never nil: a list claim encodes as [], not null.
func cloneList(s []string) []string { return append(make([]string, 0, len(s)), s...) }

// ExpiresIn is the expires_in of an answer carrying a token with claims:
// its exp less now, in seconds, at least 0.
func ExpiresIn(claims map[string]any, now time.Time) int64 {
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return 0
	}
	return max(exp-now.Unix(), 0)
}

// numericDate reads a NumericDate claim as JSON decoding (with or without
// UseNumber) or this package leaves it, truncated to whole seconds.
func numericDate(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		return int64(f), err == nil && !math.IsInf(f, 0) && math.Abs(f) < math.MaxInt64
	case float64:
		return int64(n), !math.IsNaN(n) && math.Abs(n) < math.MaxInt64
	}
	return 0, false
}

// newJTI is a random (version 4) UUID, the form of the commercial
// tokens' jti.
func newJTI() string { return uuid.NewV4() }
