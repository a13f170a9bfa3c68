package caddyfedauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
)

// issuerConfig is everything one trusted issuer's verifier is built from:
// the flat fed_oidc options, or a JwtIssuer with the handler's defaults
// for what it leaves out. Two equal configs verify the same tokens the
// same way, which is what the shared token cache relies on.
type issuerConfig struct {
	Issuer           string            `json:"issuer"`
	Audiences        []string          `json:"audience"`
	AcceptAZP        bool              `json:"accept_azp"`
	Algorithms       []string          `json:"algorithms"`
	RequireTyp       []string          `json:"require_typ"`
	ClockSkew        caddy.Duration    `json:"clock_skew"`
	MaxTokenLifetime caddy.Duration    `json:"max_token_lifetime"`
	Source           keySourceSettings `json:"source"`

	// local is the gateway's own issuer's key source, which the handler
	// owns; nil for a source shared from the pool.
	local *keySource
}

// trustedIssuers are the issuers whose tokens a handler accepts, by their
// iss, and the cache of the tokens they verified. The token's iss picks
// the issuer before any key is looked at, so a token of an issuer we do
// not trust costs no fetch.
type trustedIssuers struct {
	byIss   map[string]*verifier
	list    []*verifier // in config order
	maxSize int
	cache   *tokenCache
	metrics *issuerMetrics // for refusals before the issuer is known
	release func()         // gives the key sources and the cache back
	now     func() time.Time
}

// reasonUnknownIssuer: the token's iss is none of the trusted issuers.
const reasonUnknownIssuer = "unknown_issuer"

// newTrustedIssuers acquires a key source for each config (shared with a
// previous config or IAM set that had the same settings), registers it
// with start, and a token cache shared only with handlers of the very same
// settings. keepClaims keeps each token's claims for IAM conditions.
func newTrustedIssuers(configs []issuerConfig, maxSize, cacheSize int, keepClaims bool,
	start func(*keySource) error, logger *zap.Logger) (*trustedIssuers, error) {
	t := &trustedIssuers{byIss: make(map[string]*verifier, len(configs)), maxSize: maxSize, now: time.Now}
	var releases []func()
	t.release = func() {
		for _, r := range releases {
			r()
		}
	}
	for _, c := range configs {
		if _, dup := t.byIss[c.Issuer]; dup {
			t.release()
			return nil, fmt.Errorf("issuer %q is trusted twice", c.Issuer)
		}
		keys := c.local
		if keys == nil {
			var release func()
			var err error
			if keys, release, err = acquireKeySource(c.Source, logger); err != nil {
				t.release()
				return nil, err
			}
			releases = append(releases, release)
		}
		if err := start(keys); err != nil {
			t.release()
			return nil, err
		}
		v := c.verifier(keys)
		v.keepClaims = keepClaims
		v.system = c.local != nil
		t.byIss[c.Issuer] = v
		t.list = append(t.list, v)
	}
	t.metrics = newIssuerMetrics("")
	if len(t.list) == 1 {
		t.metrics = t.list[0].metrics
	}
	key, err := json.Marshal(struct {
		Issuers    []issuerConfig
		Size       int
		Cache      int
		KeepClaims bool
	}{configs, maxSize, cacheSize, keepClaims})
	if err != nil {
		t.release()
		return nil, err
	}
	cache, releaseCache := acquireTokenCache(string(key), cacheSize)
	releases = append(releases, releaseCache)
	t.cache = cache
	return t, nil
}

// verifier builds the verifier of c, on its key source.
func (c issuerConfig) verifier(keys *keySource) *verifier {
	algs := make(map[string]jwa.SignatureAlgorithm, len(c.Algorithms))
	for _, a := range c.Algorithms {
		algs[a] = supportedAlgorithms[a]
	}
	audiences := make(map[string]struct{}, len(c.Audiences))
	for _, a := range c.Audiences {
		audiences[a] = struct{}{}
	}
	var typs map[string]struct{} // nil: typ not checked
	if len(c.RequireTyp) > 0 {
		typs = make(map[string]struct{}, len(c.RequireTyp))
		for _, t := range c.RequireTyp {
			typs[mediaType(t)] = struct{}{}
		}
	}
	return &verifier{
		issuer:    c.Issuer,
		audiences: audiences,
		acceptAZP: c.AcceptAZP,
		algs:      algs,
		skew:      time.Duration(c.ClockSkew),
		typs:      typs,
		maxLife:   time.Duration(c.MaxTokenLifetime),
		keys:      keys,
		metrics:   keys.metrics,
	}
}

// check refuses settings no verifier could use, naming the flat option
// at fault (jwtIssuerFields has the JwtIssuer's names).
func (c issuerConfig) check() (field string, err error) {
	if err := checkEndpointURL(c.Issuer); err != nil {
		return "issuer", err
	}
	if c.Source.JWKSURL != "" {
		if err := checkEndpointURL(c.Source.JWKSURL); err != nil {
			return "jwks_url", err
		}
	}
	if len(c.Audiences) == 0 {
		return "audience", errors.New("at least one is required")
	}
	for i, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return "audience", fmt.Errorf("entry %d: empty", i)
		}
	}
	if len(c.Algorithms) == 0 {
		return "algorithms", errors.New("at least one is required")
	}
	for _, a := range c.Algorithms {
		if _, ok := supportedAlgorithms[a]; !ok {
			return "algorithms", fmt.Errorf("%q is not an accepted signature algorithm (only asymmetric ones are: RS*, PS*, ES*, EdDSA, Ed25519)", a)
		}
	}
	for i, t := range c.RequireTyp {
		if t == "" || strings.IndexFunc(t, func(r rune) bool { return r <= 0x20 || r > 0x7e }) >= 0 {
			return "require_typ", fmt.Errorf("entry %d: %q must be printable ASCII without spaces", i, t)
		}
	}
	return "", nil
}

// verify returns the identity of a valid token, a *tokenError for an
// invalid one, or errKeysUnavailable while its issuer's keys have never
// been fetched (errKeysStale when it has not answered for too long).
func (t *trustedIssuers) verify(ctx context.Context, token string) (*identity, error) {
	// The size cap comes before anything else looks at the token.
	if len(token) > t.maxSize {
		return nil, refuse(reasonTooLarge, nil)
	}
	now := t.now()
	ck := hashToken(token)
	if e, ok := t.cache.get(ck, now); ok {
		v := e.id.verifier
		keys, err := v.keys.current(now)
		if err != nil {
			return nil, err
		}
		if keys.holds(e.key) {
			v.metrics.cacheHit.Inc()
			return e.id, nil
		}
	}
	// Only here, not on every request: a cached token is the very bytes
	// that passed this before, and the scan is most of a hit's cost.
	if !isToken68(token) {
		return nil, refuse(reasonMalformed, errNotB64Token)
	}
	v, err := t.pick(token)
	if err != nil {
		t.metrics.cacheMiss.Inc()
		return nil, err
	}
	v.metrics.cacheMiss.Inc()
	keys, err := v.keys.current(now)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	id, key, err := v.verifyNew(ctx, token, keys, now)
	v.metrics.verifyTimer.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	t.cache.put(ck, cachedToken{id: id, key: key, expires: id.Expiry}, now)
	return id, nil
}

// pick reads the iss of a token not yet verified, to choose its
// verifier, which then checks everything, iss included, once the
// signature holds. The payload is decoded strictly here already, so a
// token with two readings of iss is refused before it can choose.
func (t *trustedIssuers) pick(token string) (*verifier, error) {
	payload, err := payloadSegment(token)
	if err != nil {
		return nil, refuse(reasonMalformed, err)
	}
	c, err := decodeClaims(payload, false)
	if err != nil {
		return nil, refuse(reasonMalformed, err)
	}
	v := t.byIss[c.Issuer]
	if v == nil {
		return nil, refuse(reasonUnknownIssuer, fmt.Errorf("iss %q", c.Issuer))
	}
	return v, nil
}

// metricsFor are the metrics of the token's issuer, once it is known.
func (t *trustedIssuers) metricsFor(id *identity) *issuerMetrics {
	if id != nil && id.verifier != nil {
		return id.verifier.metrics
	}
	return t.metrics
}

// payloadSegment decodes the payload of a compact JWS, not verified.
func payloadSegment(token string) ([]byte, error) {
	_, rest, _ := strings.Cut(token, ".")
	enc, _, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("payload encoding: %w", err)
	}
	return b, nil
}
