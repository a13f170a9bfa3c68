package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// supportedAlgorithms are the asymmetric JWS algorithms a token may be
// signed with. "none" and the HMAC family are absent on purpose: an HMAC
// "signature" keyed with the issuer's public key is the classic forgery.
var supportedAlgorithms = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(),
	"EdDSA": jwa.EdDSA(), "Ed25519": jwa.EdDSAEd25519(),
}

// defaultAlgorithms is the allow-list when none is configured.
var defaultAlgorithms = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

// identity is what a verified token says about its bearer.
type identity struct {
	Subject         string
	Issuer          string
	AuthorizedParty string
	ClientID        string
	Audience        []string
	Scope           string
	Expiry          time.Time
	placeholders    [len(identityPlaceholders)]any // boxed once, set on every request
}

// tokenError is a refusal of a token. reason is a fixed label for logs
// and metrics; it never carries token contents.
type tokenError struct {
	reason string
	err    error
	id     *identity // claims of a token refused after its signature checked out
}

func (e *tokenError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *tokenError) Unwrap() error { return e.err }

func refuse(reason string, err error) *tokenError { return &tokenError{reason: reason, err: err} }

// Refusal reasons: the outcome labels of a refused token.
const (
	reasonTooLarge        = "token_too_large"
	reasonMalformed       = "malformed_token"
	reasonAlgNotAllowed   = "alg_not_allowed"
	reasonForbiddenHeader = "forbidden_header"
	reasonUnknownKey      = "unknown_key"
	reasonBadSignature    = "bad_signature"
	reasonExpired         = "expired"
	reasonNotYetValid     = "not_yet_valid"
	reasonWrongIssuer     = "wrong_issuer"
	reasonWrongAudience   = "wrong_audience"
)

// verifier checks compact JWS access tokens against one issuer.
type verifier struct {
	issuer    string
	audiences map[string]struct{}
	acceptAZP bool
	algs      map[string]jwa.SignatureAlgorithm
	skew      time.Duration
	maxSize   int
	keys      *keySource
	cache     *tokenCache
	metrics   *issuerMetrics
	now       func() time.Time
}

var (
	errKeysUnavailable = errors.New("issuer keys not yet available")
	errKeysStale       = errors.New("issuer keys are stale: the issuer has not answered for jwks_max_stale")
)

// verify returns the identity of a valid token, a *tokenError for an
// invalid one, or errKeysUnavailable while the issuer's keys have never
// been fetched (errKeysStale when it has not answered for too long).
func (v *verifier) verify(ctx context.Context, token string) (*identity, error) {
	// The size cap comes before anything else looks at the token.
	if len(token) > v.maxSize {
		return nil, refuse(reasonTooLarge, nil)
	}
	now := v.now()
	keys, err := v.keys.current(now)
	if err != nil {
		return nil, err
	}
	ck := hashToken(token)
	if e, ok := v.cache.get(ck, now); ok && keys.holds(e.key) {
		v.metrics.cacheHit.Inc()
		return e.id, nil
	}
	v.metrics.cacheMiss.Inc()
	start := time.Now()
	id, key, err := v.verifyNew(ctx, token, keys, now)
	v.metrics.verifyTimer.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	v.cache.put(ck, cachedToken{id: id, key: key, expires: id.Expiry}, now)
	return id, nil
}

func (v *verifier) verifyNew(ctx context.Context, token string, keys *keySet, now time.Time) (*identity, *verificationKey, error) {
	encHeader, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		// Only compact JWS: a JWE has five parts, JSON serialization none.
		return nil, nil, refuse(reasonMalformed, errors.New("not a compact JWS"))
	}
	hdr, err := parseHeader(encHeader)
	if err != nil {
		return nil, nil, refuse(reasonMalformed, err)
	}
	alg, ok := v.algs[hdr.alg]
	if !ok {
		return nil, nil, refuse(reasonAlgNotAllowed, fmt.Errorf("alg %q", hdr.alg))
	}
	if hdr.forbidden != "" {
		return nil, nil, refuse(reasonForbiddenHeader, fmt.Errorf("header %q", hdr.forbidden))
	}
	key := keys.lookup(hdr.kid, hdr.alg)
	if key == nil && hdr.kid != "" {
		// Perhaps the issuer rotated a key in: refresh, rate-limited.
		if fresh := v.keys.refreshForUnknownKey(ctx, now); fresh != nil {
			key = fresh.lookup(hdr.kid, hdr.alg)
		}
	}
	if key == nil {
		return nil, nil, refuse(reasonUnknownKey, fmt.Errorf("no key for kid %q and alg %s", hdr.kid, hdr.alg))
	}
	// VerifyCompactFast takes the algorithm from us, not the token, and
	// cross-checks it against the header; it refuses crit and b64.
	payload, err := jws.VerifyCompactFast(key.raw, []byte(token), alg)
	if err != nil {
		return nil, nil, refuse(reasonBadSignature, err)
	}
	id, err := v.checkClaims(payload, now)
	if err != nil {
		return nil, nil, err
	}
	return id, key, nil
}

// joseHeader is the part of the protected header we act on.
type joseHeader struct {
	alg, kid  string
	forbidden string // the first header we refuse to honour, if any
}

// parseHeader decodes the protected header strictly: canonical base64url,
// a single JSON object, no duplicate member names (two parsers could pick
// different ones), and none of the headers that name a key or extension.
func parseHeader(enc string) (joseHeader, error) {
	var h joseHeader
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return h, fmt.Errorf("header encoding: %w", err)
	}
	// JSON parsers differ on invalid UTF-8 (encoding/json substitutes
	// U+FFFD, jwx keeps the bytes); RFC 7515 requires UTF-8 anyway.
	if !utf8.Valid(raw) {
		return h, errors.New("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return h, errors.New("header is not a JSON object")
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("header: %w", err)
		}
		name := t.(string)
		if seen[name] {
			return h, fmt.Errorf("duplicate header %q", name)
		}
		seen[name] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return h, fmt.Errorf("header %q: %w", name, err)
		}
		switch name {
		case "alg":
			err = json.Unmarshal(val, &h.alg)
		case "kid":
			err = json.Unmarshal(val, &h.kid)
		case "jku", "jwk", "x5u", "x5c", "crit", "b64":
			// Keys come from the issuer's JWKS only, and we implement no
			// critical extension: a token that asks otherwise is refused.
			if h.forbidden == "" {
				h.forbidden = name
			}
		}
		if err != nil {
			return h, fmt.Errorf("header %q: %w", name, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(raw)) {
		return h, errors.New("trailing data after header")
	}
	return h, nil
}

// accessClaims are the registered claims we check or report.
type accessClaims struct {
	Issuer   *string      `json:"iss"`
	Subject  string       `json:"sub"`
	Audience audience     `json:"aud"`
	AZP      string       `json:"azp"`
	ClientID string       `json:"client_id"`
	Scope    any          `json:"scope"`
	Expiry   *numericDate `json:"exp"`
	NotUntil *numericDate `json:"nbf"`
	IssuedAt *numericDate `json:"iat"`
}

func (v *verifier) checkClaims(payload []byte, now time.Time) (*identity, error) {
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse(reasonMalformed, fmt.Errorf("claims: %w", err))
	}
	id := &identity{
		Subject: c.Subject, AuthorizedParty: c.AZP, ClientID: c.ClientID, Audience: c.Audience,
	}
	if c.Issuer != nil {
		id.Issuer = *c.Issuer
	}
	if s, ok := c.Scope.(string); ok {
		id.Scope = s
	}
	id.placeholders = [...]any{id.Subject, id.Issuer, id.AuthorizedParty, id.ClientID,
		strings.Join(c.Audience, ","), id.Scope}
	fail := func(reason string, err error) error {
		return &tokenError{reason: reason, err: err, id: id}
	}
	if c.Issuer == nil || *c.Issuer != v.issuer {
		return nil, fail(reasonWrongIssuer, nil)
	}
	if c.Expiry == nil {
		return nil, fail(reasonMalformed, errors.New("no exp claim"))
	}
	id.Expiry = c.Expiry.Time
	if !now.Before(id.Expiry.Add(v.skew)) {
		return nil, fail(reasonExpired, nil)
	}
	if c.NotUntil != nil && now.Add(v.skew).Before(c.NotUntil.Time) {
		return nil, fail(reasonNotYetValid, errors.New("nbf in the future"))
	}
	if c.IssuedAt != nil && now.Add(v.skew).Before(c.IssuedAt.Time) {
		return nil, fail(reasonNotYetValid, errors.New("iat in the future"))
	}
	if !v.audienceMatches(&c) {
		return nil, fail(reasonWrongAudience, nil)
	}
	return id, nil
}

// audienceMatches accepts a token whose aud names one of our audiences;
// with acceptAZP, also one whose azp does (Keycloak client-credentials
// tokens carry the client id in azp and often "account" in aud).
func (v *verifier) audienceMatches(c *accessClaims) bool {
	for _, a := range c.Audience {
		if _, ok := v.audiences[a]; ok {
			return true
		}
	}
	if v.acceptAZP && c.AZP != "" {
		_, ok := v.audiences[c.AZP]
		return ok
	}
	return false
}

// audience is the aud claim: a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = list
	return nil
}

// numericDate is a JSON number of seconds since the epoch. Unlike jwx, it
// refuses strings, so "exp":"9999999999" is malformed, not far-future.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var n json.Number
	if len(b) == 0 || b[0] == '"' || json.Unmarshal(b, &n) != nil {
		return errors.New("date claim is not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > 1e11 {
		return errors.New("date claim out of range")
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}
