package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

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

	verifier *verifier      // the issuer's, which verified it
	claims   map[string]any // with keepClaims: strings and arrays of strings only
	function *functionClaim // a function token's grant (system issuer only)
	roles    atomic.Pointer[heldRoles]
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
	reasonWrongType       = "wrong_type"
	reasonLifetimeTooLong = "lifetime_too_long"
)

// verifier checks compact JWS access tokens against one issuer.
type verifier struct {
	issuer    string
	audiences map[string]struct{}
	acceptAZP bool
	algs      map[string]jwa.SignatureAlgorithm
	skew      time.Duration
	typs      map[string]struct{} // normalized by mediaType; nil: typ not checked
	maxLife   time.Duration       // 0: lifetime not checked
	keys      *keySource
	metrics   *issuerMetrics

	// keepClaims keeps every string and string-array claim in the
	// identity, for IAM conditions.
	keepClaims bool

	// system marks the gateway's own issuer: its tokens hold the policies
	// their policy claim names, or, as function tokens, what their
	// function claim grants.
	system bool
}

var (
	// errNotB64Token: the Authorization value is not even a b64token
	// (RFC 6750 §2.1). The handler answers 400: the request is malformed.
	errNotB64Token     = errors.New("the bearer value is not a b64token")
	errKeysUnavailable = errors.New("issuer keys not yet available")
	errKeysStale       = errors.New("issuer keys are stale: the issuer has not answered for jwks_max_stale")
)

func (v *verifier) verifyNew(ctx context.Context, token string, keys *keySet, now time.Time) (*identity, *verificationKey, error) {
	encHeader, rest, ok := strings.Cut(token, ".")
	encPayload, encSig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(encSig, ".") {
		// Only compact JWS: a JWE has five parts, JSON serialization none.
		return nil, nil, refuse(reasonMalformed, errors.New("not a compact JWS"))
	}
	// One token, one spelling: jwx would also take padding, the standard
	// alphabet and stray bits, and each spelling would be a cache entry.
	// A token that fails here is never cached, so the cache's key, the
	// hash of the whole token, always names a canonical spelling.
	for _, seg := range [...]string{encHeader, encPayload, encSig} {
		if !canonicalBase64URL(seg) {
			return nil, nil, refuse(reasonMalformed, errors.New("segment is not canonical base64url"))
		}
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
	id, err := v.checkClaims(payload, hdr.typ, now)
	if err != nil {
		return nil, nil, err
	}
	return id, key, nil
}

// joseHeader is the part of the protected header we act on.
type joseHeader struct {
	alg, kid, typ string
	forbidden     string // the first header we refuse to honour, if any
}

// parseHeader decodes the protected header strictly, by the rules of
// decodeObject (one JSON object, no duplicate member names, valid UTF-8),
// so our reading of alg is jwx's. A header that names a key or an
// extension is reported in forbidden, for the caller to refuse.
func parseHeader(enc string) (joseHeader, error) {
	var h joseHeader
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return h, fmt.Errorf("header encoding: %w", err)
	}
	err = decodeObject(raw, func(s *jsonScanner, name []byte) error {
		var err error
		switch string(name) {
		case "alg":
			h.alg, err = s.stringValue()
		case "kid":
			h.kid, err = s.stringValue()
		case "typ":
			h.typ, err = s.stringValue()
		case "jku", "jwk", "x5u", "x5c", "crit", "b64":
			// Keys come from the issuer's JWKS only, and we implement no
			// critical extension: a token that asks otherwise is refused.
			if h.forbidden == "" {
				h.forbidden = string(name)
			}
			err = s.value()
		default:
			err = s.value()
		}
		if err != nil {
			return fmt.Errorf("header %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// b64URLValue maps each byte of the base64url alphabet (RFC 4648 §5) to
// its value, and every other byte to 0xff.
var b64URLValue = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// canonicalBase64URL reports whether s is the one base64url spelling of
// some bytes, as RFC 7515 §2 requires: the URL alphabet only (Go's decoder
// would skip CR and LF, jwx's would take '+' and '/'), no padding, and the
// unused low bits of the last character zero.
func canonicalBase64URL(s string) bool {
	for i := range len(s) {
		if b64URLValue[s[i]] == 0xff {
			return false
		}
	}
	switch len(s) % 4 {
	case 1:
		return false // 6 bits cannot end a byte
	case 2:
		return b64URLValue[s[len(s)-1]]&0x0f == 0 // 12 bits, one byte
	case 3:
		return b64URLValue[s[len(s)-1]]&0x03 == 0 // 18 bits, two bytes
	}
	return true
}

// mediaType normalizes a typ value the way RFC 7515 §4.1.9 compares them:
// case-insensitively (ASCII only, so no Unicode folding can make a match),
// and with "application/" implied when there is no '/'.
func mediaType(typ string) string {
	b := []byte(typ)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	if !bytes.ContainsRune(b, '/') {
		return "application/" + string(b)
	}
	return string(b)
}

// checkClaims decodes the verified payload and checks it, with the
// header's typ, against the issuer's settings.
func (v *verifier) checkClaims(payload []byte, typ string, now time.Time) (*identity, error) {
	c, err := decodeClaims(payload, v.keepClaims)
	if err != nil {
		return nil, refuse(reasonMalformed, err)
	}
	id := &identity{
		Subject: c.Subject, Issuer: c.Issuer, AuthorizedParty: c.AZP, ClientID: c.ClientID,
		Audience: c.Audience, Scope: c.Scope, verifier: v, claims: c.Claims,
	}
	if v.system {
		id.function = c.Function
	}
	id.placeholders = [...]any{id.Subject, id.Issuer, id.AuthorizedParty, id.ClientID,
		strings.Join(c.Audience, ","), id.Scope}
	fail := func(reason string, err error) error {
		return &tokenError{reason: reason, err: err, id: id}
	}
	if c.Issuer != v.issuer {
		return nil, fail(reasonWrongIssuer, nil)
	}
	if v.typs != nil {
		// An absent typ reads as "" and matches nothing.
		if _, ok := v.typs[mediaType(typ)]; !ok {
			return nil, fail(reasonWrongType, fmt.Errorf("typ %q", typ))
		}
	}
	if c.Expiry.IsZero() {
		return nil, fail(reasonMalformed, errors.New("no exp claim"))
	}
	id.Expiry = c.Expiry
	if !now.Before(id.Expiry.Add(v.skew)) {
		return nil, fail(reasonExpired, nil)
	}
	if !c.NotBefore.IsZero() && now.Add(v.skew).Before(c.NotBefore) {
		return nil, fail(reasonNotYetValid, errors.New("nbf in the future"))
	}
	if !c.IssuedAt.IsZero() && now.Add(v.skew).Before(c.IssuedAt) {
		return nil, fail(reasonNotYetValid, errors.New("iat in the future"))
	}
	if v.maxLife > 0 {
		// The issuer's stated lifetime, and what is left of it: a token
		// without iat must not outlive the bound either.
		if !c.IssuedAt.IsZero() && c.Expiry.Sub(c.IssuedAt) > v.maxLife {
			return nil, fail(reasonLifetimeTooLong, errors.New("exp - iat exceeds max_token_lifetime"))
		}
		if c.Expiry.Sub(now) > v.maxLife+v.skew {
			return nil, fail(reasonLifetimeTooLong, errors.New("exp is further away than max_token_lifetime"))
		}
	}
	if !v.audienceMatches(c) {
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
