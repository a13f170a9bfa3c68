package caddyfedauth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
)

// Key sources and token caches outlive a config reload. Caddy provisions
// the new config before it cleans up the old one, so a handler whose
// issuer settings did not change takes over the running key source, with
// its keys, and never answers 503 for want of a first fetch. This is how
// Caddy's own listeners and TLS state cross config generations.
var (
	keySources  = caddy.NewUsagePool()
	tokenCaches = caddy.NewUsagePool()
)

// keySourceSettings is everything that decides where keys come from and
// how they are kept: two handlers with equal settings share one source.
type keySourceSettings struct {
	Issuer       string         `json:"issuer"`
	Location     string         `json:"location,omitempty"`  // a JwtIssuer's issInternal
	KeyFiles     []string       `json:"key_files,omitempty"` // the system issuer's, read instead of fetched
	JWKSURL      string         `json:"jwks_url"`
	CABundle     string         `json:"ca_bundle"`
	CADigest     string         `json:"ca_digest"` // a changed bundle under the same name is a new source
	RefreshEvery caddy.Duration `json:"refresh_every"`
	MinInterval  caddy.Duration `json:"min_interval"`
	MaxStale     caddy.Duration `json:"max_stale"`

	caPEM []byte // the bundle as read for CADigest; the source trusts exactly this
}

func (s keySourceSettings) poolKey() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sourceSettings are the key source settings of an issuer, with the
// handler's refresh settings. It reads the CA bundle once, for its
// digest; the source trusts exactly the bytes read here.
func (f *FedOIDC) sourceSettings(issuer, location, jwksURL, caBundle string) (keySourceSettings, error) {
	s := keySourceSettings{
		Issuer:       issuer,
		Location:     location,
		JWKSURL:      jwksURL,
		CABundle:     caBundle,
		RefreshEvery: f.JWKSRefreshInterval,
		MinInterval:  f.JWKSMinRefreshInterval,
		MaxStale:     f.JWKSMaxStale,
	}
	if caBundle != "" {
		b, err := os.ReadFile(caBundle)
		if err != nil {
			return s, err
		}
		sum := sha256.Sum256(b)
		s.CADigest = hex.EncodeToString(sum[:])
		s.caPEM = b
	}
	return s, nil
}

// acquireKeySource returns the running source for these settings, or
// starts one, and the function that gives it back.
func acquireKeySource(s keySourceSettings, logger *zap.Logger) (*keySource, func(), error) {
	key := s.poolKey()
	v, _, err := keySources.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newKeySource(s, logger)
	})
	if err != nil {
		return nil, nil, err
	}
	src := v.(*keySource)
	// The newest config's logger, so log settings of a reload apply.
	src.logger.Store(logger)
	return src, func() { _, _ = keySources.Delete(key) }, nil
}

// A verified-token cache is shared only between handlers whose issuers
// are configured the very same (newTrustedIssuers makes the key), so an
// entry is never served under settings it was not checked against.

// acquireTokenCache returns the cache for key, and the function that
// gives it back.
func acquireTokenCache(key string, size int) (*tokenCache, func()) {
	v, _, _ := tokenCaches.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newTokenCache(size), nil
	})
	return v.(*tokenCache), func() { _, _ = tokenCaches.Delete(key) }
}

// Destruct satisfies caddy.Destructor; the cache holds no resources.
func (c *tokenCache) Destruct() error { return nil }
