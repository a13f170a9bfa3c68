package caddyfedauth

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	maxJWKSSize      = 1 << 20
	minRSABits       = 2048
	initialBackoff   = 500 * time.Millisecond
	maxBackoff       = 30 * time.Second
	jwksFetchTimeout = 10 * time.Second
)

// verificationKey is one public key from the issuer's JWKS that may verify
// signatures. Keys come only from the JWKS: nothing in a token adds one.
type verificationKey struct {
	kid        string
	alg        string // the JWK's "alg"; empty when the issuer omits it
	raw        crypto.PublicKey
	thumbprint string
}

// fits reports whether the key may verify a signature made with alg: the
// JWK's own alg must match when present, and the key type, curve and size
// must be those the algorithm is defined for.
func (k *verificationKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.raw.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return pub.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" || alg == "Ed25519"
	}
	return false
}

// keySet is an immutable snapshot of the issuer's usable keys, as of the
// issuer's answer at fetched. An empty set is the issuer's word that no
// key may verify tokens.
type keySet struct {
	byKid   map[string][]*verificationKey
	all     []*verificationKey
	fetched time.Time
}

// lookup returns the key for kid that fits alg. A token without a kid is
// accepted only when exactly one key fits, so it is never ambiguous.
func (s *keySet) lookup(kid, alg string) *verificationKey {
	candidates := s.all
	if kid != "" {
		candidates = s.byKid[kid]
	}
	var found *verificationKey
	for _, k := range candidates {
		if k.fits(alg) {
			if found != nil {
				return nil
			}
			found = k
		}
	}
	return found
}

// holds reports whether k is still published, so a cached token stops
// being accepted as soon as the issuer withdraws its key.
func (s *keySet) holds(k *verificationKey) bool {
	return slices.Contains(s.byKid[k.kid], k)
}

// parseKeySet keeps the public signature keys of a JWKS document and
// skips the rest (encryption keys, symmetric keys, private keys published
// by mistake, weak RSA keys, algorithms we do not verify). Keys unchanged
// since prev keep their identity, so cached tokens stay valid across a
// refresh.
//
// A well-formed set in which no key is usable is the issuer withdrawing
// its keys, and yields an empty set. Only a document that is not a JWK
// Set, or whose keys we cannot parse at all, is an error, after which the
// cached keys stay in use.
func parseKeySet(body []byte, prev *keySet) (*keySet, []string, error) {
	// A JWK Set (RFC 7517 §5) and nothing else: "keys" is required. Each
	// key is parsed on its own so one the library cannot read does not
	// hide the others.
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`parsing JWKS: no "keys" array`)
	}
	ks := &keySet{byKid: make(map[string][]*verificationKey)}
	var skipped []string
	unparsed := 0
	for i, raw := range *doc.Keys {
		k, err := jwk.ParseKey(raw)
		if err != nil {
			unparsed++
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		kid, _ := k.KeyID()
		vk, why := usableKey(k)
		if vk == nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %s", i, kid, why))
			continue
		}
		if prev != nil {
			for _, old := range prev.byKid[kid] {
				if old.thumbprint == vk.thumbprint && old.alg == vk.alg {
					vk = old
				}
			}
		}
		ks.byKid[kid] = append(ks.byKid[kid], vk)
		ks.all = append(ks.all, vk)
	}
	if len(ks.all) == 0 && unparsed > 0 {
		// Keys we cannot read may be good ones: not a withdrawal.
		return nil, skipped, errors.New("JWKS has no key we can parse")
	}
	return ks, skipped, nil
}

func usableKey(k jwk.Key) (*verificationKey, string) {
	if use, ok := k.KeyUsage(); ok && use != "sig" {
		return nil, "use is " + use
	}
	if ops, ok := k.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, "key_ops lacks verify"
	}
	if private, err := jwk.IsPrivateKey(k); err != nil || private {
		return nil, "not an asymmetric public key"
	}
	var alg string
	if a, ok := k.Algorithm(); ok {
		alg = a.String()
		if _, ok := supportedAlgorithms[alg]; !ok {
			return nil, "alg " + alg + " is not a supported signature algorithm"
		}
	}
	var raw any
	if err := jwk.Export(k, &raw); err != nil {
		return nil, "cannot export key"
	}
	kid, _ := k.KeyID()
	vk := &verificationKey{kid: kid, alg: alg, raw: raw}
	switch pub := raw.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Sprintf("RSA key of %d bits", pub.N.BitLen())
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Sprintf("unsupported key type %T", raw)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "cannot compute thumbprint"
	}
	vk.thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return vk, ""
}

// keySource keeps the issuer's keys fresh. It fetches in the background
// from the moment its config starts, so Caddy starts while the issuer is down and
// requests get 503 until the first fetch succeeds. After that, cached keys
// keep working through outages, but only for maxStale after the issuer's
// last answer: keys it may long since have withdrawn are not trusted for
// ever. A token with an unknown kid can ask for an early refresh, at most
// once per minInterval however many such tokens arrive, so a key rotated
// in by the issuer is picked up quickly while a flood of random kids
// cannot hammer the issuer.
//
// A source is shared, through the keySources pool, by every handler with
// the same settings, in this config and the next one.
type keySource struct {
	life         context.Context // cancelled when the last user releases it
	stop         context.CancelFunc
	issuer       string
	location     string                 // where discovery is read: issuer, or a JwtIssuer's issInternal
	jwksURL      string                 // configured; otherwise from discovery
	load         func() ([]byte, error) // the JWKS of a local issuer, read instead of fetched
	client       *http.Client
	logger       atomic.Pointer[zap.Logger]
	metrics      *issuerMetrics
	refreshEvery time.Duration
	minInterval  time.Duration
	maxStale     time.Duration
	now          func() time.Time

	keys atomic.Pointer[keySet]

	started     sync.Once
	mu          sync.Mutex
	lastAttempt time.Time
	pending     *fetchCall
	discovered  string
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// newKeySource prepares a source for s: start begins fetching, Destruct
// stops it.
func newKeySource(s keySourceSettings, logger *zap.Logger) (*keySource, error) {
	client, err := newHTTPClientWithCAs(s.CABundle, s.caPEM, jwksFetchTimeout)
	if err != nil {
		return nil, fmt.Errorf("ca_bundle: %w", err)
	}
	life, stop := context.WithCancel(context.Background())
	src := &keySource{
		life:         life,
		stop:         stop,
		issuer:       s.Issuer,
		location:     cmp.Or(s.Location, s.Issuer),
		jwksURL:      s.JWKSURL,
		client:       client,
		metrics:      newIssuerMetrics(s.Issuer),
		refreshEvery: time.Duration(s.RefreshEvery),
		minInterval:  time.Duration(s.MinInterval),
		maxStale:     time.Duration(s.MaxStale),
		now:          time.Now,
	}
	src.logger.Store(logger)
	return src, nil
}

// start begins the background refresh; later calls do nothing.
func (s *keySource) start() {
	s.started.Do(func() { go s.run(s.life) })
}

// Destruct stops the refresh loop and any fetch under way, and closes the
// key client's idle connections.
func (s *keySource) Destruct() error {
	s.stop()
	s.client.CloseIdleConnections()
	return nil
}

// current returns the keys to verify with at now: nil while none have
// ever been fetched, or when the issuer has not answered for maxStale.
func (s *keySource) current(now time.Time) (*keySet, error) {
	ks := s.keys.Load()
	if ks == nil {
		return nil, errKeysUnavailable
	}
	if now.Sub(ks.fetched) > s.maxStale {
		return nil, errKeysStale
	}
	return ks, nil
}

// run refreshes the keys until ctx is done: every refreshEvery once keys
// are held, with capped exponential backoff while fetches fail.
func (s *keySource) run(ctx context.Context) {
	backoff := initialBackoff
	for {
		wait := s.refreshEvery
		if err := s.refresh(ctx, false); err != nil {
			wait = min(backoff, s.refreshEvery)
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = initialBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// refreshForUnknownKey fetches the keys again unless a fetch happened
// within minInterval. It joins a fetch already under way rather than
// starting another, and returns the keys then held.
func (s *keySource) refreshForUnknownKey(ctx context.Context, now time.Time) *keySet {
	_ = s.refresh(ctx, true)
	ks, _ := s.current(now)
	return ks
}

var errRateLimited = errors.New("JWKS refresh rate-limited")

func (s *keySource) refresh(ctx context.Context, rateLimited bool) error {
	s.mu.Lock()
	call := s.pending
	if call == nil {
		if rateLimited && time.Since(s.lastAttempt) < s.minInterval {
			s.mu.Unlock()
			return errRateLimited
		}
		s.lastAttempt = time.Now()
		call = &fetchCall{done: make(chan struct{})}
		s.pending = call
		// The fetch runs on its own so a caller that gives up (request
		// cancelled) does not abort it for the others waiting.
		go func() {
			fctx, cancel := context.WithTimeout(s.life, jwksFetchTimeout)
			call.err = s.fetch(fctx)
			cancel()
			s.mu.Lock()
			s.pending = nil
			s.mu.Unlock()
			close(call.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *keySource) fetch(ctx context.Context) error {
	if s.load != nil {
		return s.loadLocal()
	}
	url, err := s.jwksLocation(ctx)
	if err != nil {
		s.fetchFailed("discovery_error", "OIDC discovery failed", err)
		return err
	}
	ks, skipped, err := s.fetchKeySet(ctx, url)
	if err != nil {
		s.fetchFailed("error", "fetching JWKS failed", err)
		return err
	}
	s.publish(ks, skipped, url)
	return nil
}

// loadLocal takes the keys of the gateway's own issuer from load: no
// HTTP, and every refresh (also one for an unknown kid) reads the files
// again, so a rotated key is picked up.
func (s *keySource) loadLocal() error {
	body, err := s.load()
	if err != nil {
		s.fetchFailed("error", "reading the system issuer's keys failed", err)
		return err
	}
	ks, skipped, err := parseKeySet(body, s.keys.Load())
	if err != nil {
		s.fetchFailed("error", "reading the system issuer's keys failed", err)
		return err
	}
	s.publish(ks, skipped, "")
	return nil
}

// publish makes ks the keys in use, and logs a change between none and
// some.
func (s *keySource) publish(ks *keySet, skipped []string, url string) {
	ks.fetched = s.now()
	s.metrics.fetch("ok")
	logger := s.logger.Load()
	if len(skipped) > 0 {
		if c := logger.Check(zapcore.DebugLevel, "skipped JWKS keys"); c != nil {
			c.Write(zap.String("jwks_url", url), zap.Strings("keys", skipped))
		}
	}
	old := s.keys.Swap(ks)
	switch {
	case len(ks.all) == 0 && (old == nil || len(old.all) > 0):
		if c := logger.Check(zapcore.WarnLevel, "issuer publishes no usable signature key; refusing its tokens"); c != nil {
			c.Write(zap.String("issuer", s.issuer), zap.String("jwks_url", url), zap.Strings("skipped", skipped))
		}
	case len(ks.all) > 0 && (old == nil || len(old.all) == 0):
		if c := logger.Check(zapcore.InfoLevel, "issuer keys loaded"); c != nil {
			c.Write(zap.String("issuer", s.issuer), zap.String("jwks_url", url), zap.Int("keys", len(ks.all)))
		}
	}
}

// jwksLocation returns the configured JWKS URL, or the one from the
// issuer's discovery document, fetched until it once succeeds.
func (s *keySource) jwksLocation(ctx context.Context) (string, error) {
	if s.jwksURL != "" {
		return s.jwksURL, nil
	}
	s.mu.Lock()
	url := s.discovered
	s.mu.Unlock()
	if url != "" {
		return url, nil
	}
	md, err := fetchDiscoveryFrom(ctx, s.client, s.issuer, s.location)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.discovered = md.JWKSURI
	s.mu.Unlock()
	return md.JWKSURI, nil
}

func (s *keySource) fetchKeySet(ctx context.Context, url string) (*keySet, []string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	body, err := readLimited(resp.Body, maxJWKSSize)
	if err != nil {
		return nil, nil, fmt.Errorf("reading JWKS: %w", err)
	}
	return parseKeySet(body, s.keys.Load())
}

// fetchFailed counts and logs a failed fetch. A fetch cut short because
// the source is stopping (a config unload, or `caddy validate` finishing)
// is neither: nothing went wrong.
func (s *keySource) fetchFailed(result, msg string, err error) {
	if s.life.Err() != nil {
		return
	}
	s.metrics.fetch(result)
	// With usable keys cached, requests are still served: a warning.
	// Without, every request gets 503: an error.
	level := zapcore.ErrorLevel
	switch _, cerr := s.current(s.now()); {
	case cerr == nil:
		level = zapcore.WarnLevel
		msg += "; using cached keys"
	case errors.Is(cerr, errKeysStale):
		msg += fmt.Sprintf("; cached keys are older than jwks_max_stale (%v), refusing requests", s.maxStale)
	}
	if c := s.logger.Load().Check(level, msg); c != nil {
		c.Write(zap.String("issuer", s.issuer), zap.Error(err))
	}
}
