package sysissuer

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/routes"
)

// RFC 8693 URNs: the grant and the token types accepted as
// subject_token_type and requested_token_type.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
)

// ScopeFunction asks for a function token.
const ScopeFunction = "function"

// MaxAudiences bounds the audience parameters of one request: each is
// checked against the caller's policies.
const MaxAudiences = 64

// ExchangeRequest is an RFC 8693 token exchange request, as ParseExchange
// accepted it.
type ExchangeRequest struct {
	SubjectToken     string
	SubjectTokenType string // TokenTypeIDToken, TokenTypeAccess or TokenTypeJWT
	Scope            string // "" or ScopeFunction

	// Audience are the functions a function token is asked for, each
	// "<namespace>:<function>" with names the gateway accepts (no
	// wildcards), duplicates removed, in the order given. Empty unless
	// Scope is ScopeFunction.
	Audience []string

	// RequestedTokenType is "" or one of the accepted token types; the
	// issued token is a JWT whatever it is.
	RequestedTokenType string
}

// tokenTypes are the accepted subject_token_type and requested_token_type
// values: what go-sdk sends (id_token), and the other two a JWT from a
// trusted issuer is often labelled with (an OIDC access token; a CI or
// Kubernetes token).
var tokenTypes = []string{TokenTypeIDToken, TokenTypeAccess, TokenTypeJWT}

// singleParams are the parameters RFC 6749 §3.2 and RFC 8693 §2.1 allow
// once ("Request and response parameters MUST NOT be included more than
// once"). resource and audience may repeat.
var singleParams = []string{
	"grant_type", "subject_token", "subject_token_type", "scope",
	"requested_token_type", "actor_token", "actor_token_type",
}

// ParseExchange reads an RFC 8693 token exchange request from its form
// values (the body's, or MergeQuery's). A parameter without a value counts
// as absent (RFC 6749 §3.1); parameters it does not know are ignored (RFC
// 6749 §3.2). Refusals, in the order checked:
//   - a repeated single-valued parameter: invalid_request;
//   - grant_type missing: invalid_request; any other than
//     GrantTokenExchange: unsupported_grant_type;
//   - actor_token or actor_token_type (delegation is not supported):
//     invalid_request;
//   - subject_token or subject_token_type missing, or a
//     subject_token_type or requested_token_type not in id_token,
//     access_token, jwt: invalid_request (RFC 8693 §2.2.2);
//   - a scope other than "function": invalid_scope;
//   - resource (the token is for this gateway only), audience without
//     scope=function, an audience that is not "<namespace>:<function>",
//     or more than MaxAudiences: invalid_target.
func ParseExchange(form url.Values) (ExchangeRequest, *Error) {
	for _, p := range singleParams {
		if len(form[p]) > 1 {
			return ExchangeRequest{}, badRequest(CodeInvalidRequest, "parameter "+p+" is repeated")
		}
	}
	switch grant := form.Get("grant_type"); grant {
	case GrantTokenExchange:
	case "":
		return ExchangeRequest{}, errNoGrantType.copy()
	default:
		return ExchangeRequest{}, errGrantType.copy()
	}
	if form.Get("actor_token") != "" || form.Get("actor_token_type") != "" {
		return ExchangeRequest{}, errActorToken.copy()
	}
	req := ExchangeRequest{
		SubjectToken:       form.Get("subject_token"),
		SubjectTokenType:   form.Get("subject_token_type"),
		Scope:              form.Get("scope"),
		RequestedTokenType: form.Get("requested_token_type"),
	}
	switch {
	case req.SubjectToken == "":
		return ExchangeRequest{}, errNoSubjectToken.copy()
	case req.SubjectTokenType == "":
		return ExchangeRequest{}, errNoSubjectTokenType.copy()
	case !slices.Contains(tokenTypes, req.SubjectTokenType):
		return ExchangeRequest{}, errSubjectTokenType.copy()
	case req.RequestedTokenType != "" && !slices.Contains(tokenTypes, req.RequestedTokenType):
		return ExchangeRequest{}, errRequestedTokenType.copy()
	case req.Scope != "" && req.Scope != ScopeFunction:
		return ExchangeRequest{}, errScope.copy()
	case slices.ContainsFunc(form["resource"], nonEmpty):
		return ExchangeRequest{}, errResource.copy()
	}
	for _, aud := range form["audience"] {
		if aud == "" || slices.Contains(req.Audience, aud) {
			continue
		}
		switch {
		case req.Scope != ScopeFunction:
			return ExchangeRequest{}, errAudienceScope.copy()
		case !validFunctionRef(aud):
			return ExchangeRequest{}, errAudience.copy()
		case len(req.Audience) == MaxAudiences:
			return ExchangeRequest{}, errTooManyAudiences.copy()
		}
		req.Audience = append(req.Audience, aud)
	}
	return req, nil
}

func (e Error) copy() *Error { return &e }

func nonEmpty(s string) bool { return s != "" }

// validFunctionRef reports whether s is "<namespace>:<function>", each a
// name the gateway routes (1 to 253 of [-a-zA-Z_0-9.], not "." or "..").
func validFunctionRef(s string) bool {
	ns, fn, ok := strings.Cut(s, ":")
	return ok && routes.ValidName(ns) && routes.ValidName(fn)
}

// MergeQuery joins the query string's parameters to the body's, for
// clients that send them in the URL (the commercial product's blog does).
// A parameter in both must have the same values in the same order, or the
// answer is invalid_request: two readers could otherwise take different
// ones. Parameters ParseExchange does not read are left out of the check
// (and may be left out of the result).
func MergeQuery(form, query url.Values) (url.Values, *Error) {
	if len(query) == 0 {
		return form, nil
	}
	merged := make(url.Values, len(form)+len(query))
	for _, p := range knownParams {
		b, inBody := form[p]
		q, inQuery := query[p]
		switch {
		case inBody && inQuery && !slices.Equal(b, q):
			return nil, badRequest(CodeInvalidRequest, "parameter "+p+" differs between the query string and the body")
		case inBody:
			merged[p] = b
		case inQuery:
			merged[p] = q
		}
	}
	return merged, nil
}

// knownParams are the parameters ParseExchange reads.
var knownParams = append(slices.Clip(singleParams), "resource", "audience")

// The refusals of ParseExchange and MergeQuery. They are values, and
// each answer is a copy, so a caller that changes one changes no other.
var (
	errNoGrantType        = Error{http.StatusBadRequest, CodeInvalidRequest, "grant_type is missing"}
	errGrantType          = Error{http.StatusBadRequest, CodeUnsupportedGrantType, "the only grant_type supported is " + GrantTokenExchange}
	errActorToken         = Error{http.StatusBadRequest, CodeInvalidRequest, "actor_token is not supported"}
	errNoSubjectToken     = Error{http.StatusBadRequest, CodeInvalidRequest, "subject_token is missing"}
	errNoSubjectTokenType = Error{http.StatusBadRequest, CodeInvalidRequest, "subject_token_type is missing"}
	errSubjectTokenType   = Error{http.StatusBadRequest, CodeInvalidRequest, "subject_token_type is not supported: want " + strings.Join(tokenTypes, ", ")}
	errRequestedTokenType = Error{http.StatusBadRequest, CodeInvalidRequest, "requested_token_type is not supported: want " + strings.Join(tokenTypes, ", ")}
	errScope              = Error{http.StatusBadRequest, CodeInvalidScope, `scope must be absent or "function"`}
	errResource           = Error{http.StatusBadRequest, CodeInvalidTarget, "resource is not supported: tokens are for this gateway; ask for functions with scope=function and audience=<namespace>:<function>"}
	errAudienceScope      = Error{http.StatusBadRequest, CodeInvalidTarget, "audience is accepted only with scope=function"}
	errAudience           = Error{http.StatusBadRequest, CodeInvalidTarget, "audience must be <namespace>:<function>, each of 1 to 253 characters of [-a-zA-Z_0-9.] and not . or .."}
	errTooManyAudiences   = Error{http.StatusBadRequest, CodeInvalidTarget, "too many audience parameters"}
)
