package caddyfedauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/sysissuer"
)

// Exchange results, the result label of caddy_fed_oidc_exchanges_total.
const (
	exchangeOK          = "ok"
	exchangeBadRequest  = "invalid_request" // the request itself
	exchangeBadToken    = "invalid_token"   // the subject token
	exchangeNoPolicies  = "no_policies"
	exchangeBadTarget   = "invalid_target" // a function the caller may not invoke
	exchangeUnavailable = "unavailable"    // the subject issuer's keys
)

// serveTokenExchange is POST /oauth/token (RFC 8693), as go-sdk and the
// commercial gateway speak it: a trusted issuer's token for an OpenFaaS
// access token, or (scope=function) an OpenFaaS access token for a
// function token. Every failure is an RFC 6749 error body; no token is
// ever echoed.
func (f *FedOIDC) serveTokenExchange(w http.ResponseWriter, r *http.Request) error {
	kind := "access"
	result, e := f.exchange(w, r, &kind)
	fedMetrics.exchanges.WithLabelValues(kind, result).Inc()
	if e != nil {
		if c := f.auditLog.Check(zap.InfoLevel, "token exchange refused"); c != nil {
			c.Write(zap.String("kind", kind), zap.String("result", result), zap.String("error", e.Code),
				zap.String("detail", e.Description), zap.String("remote_ip", r.RemoteAddr))
		}
		e.Write(w)
	}
	return nil
}

// exchange does the exchange and says its result; on failure it returns
// the error to answer with.
func (f *FedOIDC) exchange(w http.ResponseWriter, r *http.Request, kind *string) (string, *sysissuer.Error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return exchangeBadRequest, &sysissuer.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST"}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return exchangeBadRequest, badExchange("the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxExchangeBody)
	if err := r.ParseForm(); err != nil {
		return exchangeBadRequest, badExchange("the form could not be read")
	}
	// The blog's curl passes the parameters in the query; they must not
	// say otherwise than the body.
	form, e := sysissuer.MergeQuery(r.PostForm, r.URL.Query())
	if e != nil {
		return exchangeBadRequest, e
	}
	req, e := sysissuer.ParseExchange(form)
	if e != nil {
		return exchangeBadRequest, e
	}
	if req.Scope == sysissuer.ScopeFunction {
		*kind = "function"
	}
	snap := f.snap.Load()
	id, err := snap.issuers.verify(r.Context(), req.SubjectToken)
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) || errors.Is(err, errNotB64Token) {
			f.logger.Debug("token exchange: subject token refused", zap.Error(err))
			return exchangeBadToken, sysissuer.InvalidSubjectToken()
		}
		return exchangeUnavailable, &sysissuer.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the subject token's issuer keys are not available"}
	}
	claims, err := payloadClaims(req.SubjectToken)
	if err != nil {
		return exchangeBadToken, sysissuer.InvalidSubjectToken()
	}
	now := time.Now()
	if req.Scope == sysissuer.ScopeFunction {
		return f.functionToken(w, snap, id, claims, req, now)
	}
	if id.verifier.system {
		return exchangeBadRequest, badExchange("the subject token is an OpenFaaS token already")
	}
	roles := id.rolesIn(snap.set)
	policies := roles.Policies()
	if len(policies) == 0 {
		return exchangeNoPolicies, sysissuer.NoPolicies(id.Subject)
	}
	ttl := f.tokenExpiry(snap.set, id.Issuer)
	token, err := f.system.keys.Load().Sign(sysissuer.AccessClaims(claims, f.system.url, policies, now, ttl))
	if err != nil {
		f.logger.Error("signing an OpenFaaS access token failed", zap.Error(err))
		return "error", &sysissuer.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "the token could not be signed"}
	}
	f.auditExchange("access", id, policies, nil)
	sysissuer.Response{AccessToken: token, IssuedTokenType: sysissuer.TokenTypeIDToken, TokenType: "Bearer",
		ExpiresIn: int64(ttl / time.Second)}.Write(w)
	return exchangeOK, nil
}

// functionToken exchanges an OpenFaaS access token for a function token
// whose permissions are where its policies allow Function:Invoke, limited
// to the requested functions, each of which it must be allowed to invoke.
func (f *FedOIDC) functionToken(w http.ResponseWriter, snap *snapshot, id *identity, claims map[string]any,
	req sysissuer.ExchangeRequest, now time.Time) (string, *sysissuer.Error) {
	if !id.verifier.system || id.function != nil {
		return exchangeBadRequest, badExchange("scope function exchanges an OpenFaaS access token")
	}
	roles := id.rolesIn(snap.set)
	for _, aud := range req.Audience {
		ns, fn, _ := strings.Cut(aud, ":")
		if !roles.Decide(iam.FunctionInvoke, iam.ObjectResource(ns, fn)).Allowed() {
			return exchangeBadTarget, &sysissuer.Error{Status: http.StatusBadRequest, Code: "invalid_target",
				Description: "the token may not invoke " + aud}
		}
	}
	permissions := roles.Resources(iam.FunctionInvoke)
	if len(permissions) == 0 {
		return exchangeNoPolicies, sysissuer.NoPolicies(id.Subject)
	}
	fc := sysissuer.FunctionClaims(claims, f.system.url, permissions, req.Audience, now)
	// The policies too, so an invocation is also decided by them, Deny
	// statements included, which permissions cannot carry.
	fc[iam.PolicyClaim] = claims[iam.PolicyClaim]
	token, err := f.system.keys.Load().Sign(fc)
	if err != nil {
		f.logger.Error("signing a function token failed", zap.Error(err))
		return "error", &sysissuer.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "the token could not be signed"}
	}
	f.auditExchange("function", id, roles.Policies(), req.Audience)
	sysissuer.Response{AccessToken: token, TokenType: "Bearer", ExpiresIn: sysissuer.ExpiresIn(fc, now),
		Scope: sysissuer.ScopeFunction}.Write(w)
	return exchangeOK, nil
}

func badExchange(description string) *sysissuer.Error {
	return &sysissuer.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: description}
}

// tokenExpiry is the lifetime of an access token for a token of iss: its
// JwtIssuer's tokenExpiry, else system_issuer's token_expiry.
func (f *FedOIDC) tokenExpiry(set *iam.Set, iss string) time.Duration {
	for _, o := range set.Issuers() {
		if o.Spec.Iss == iss && o.Spec.TokenExpiry != "" {
			if d, err := time.ParseDuration(o.Spec.TokenExpiry); err == nil {
				return d
			}
		}
	}
	return f.system.expiry
}

// payloadClaims decodes a verified token's claims, all of them, numbers
// kept exact: what the access token copies. The payload was held to the
// strict reading when verified, so encoding/json reads it the same way.
func payloadClaims(token string) (map[string]any, error) {
	b, err := payloadSegment(token)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// auditExchange logs an exchange that issued a token.
func (f *FedOIDC) auditExchange(kind string, id *identity, policies, audience []string) {
	if c := f.auditLog.Check(zap.InfoLevel, "token exchange"); c != nil {
		c.Write(zap.String("kind", kind), zap.String("iss", id.Issuer), zap.String("sub", id.Subject),
			zap.String("azp", id.AuthorizedParty), zap.String("client_id", id.ClientID),
			zap.Strings("policies", policies), zap.Strings("audience", audience))
	}
}
