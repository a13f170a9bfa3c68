package caddyfedauth

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/sysissuer"
)

// SystemIssuer makes the gateway OpenFaaS's own token issuer, as the
// commercial gateway is with IAM: it serves its discovery document and
// keys, and exchanges (RFC 8693) a trusted issuer's token for an
// OpenFaaS access token that names the policies of the roles it matched,
// and that token for short-lived function tokens. Its tokens are
// verified in-process, by the rules of any issuer.
type SystemIssuer struct {
	// The issuer URL: the gateway's public origin, such as
	// https://gw.example.com, which its tokens carry as iss and aud and
	// under which it serves /.well-known/openid-configuration,
	// /.well-known/jwks.json and /oauth/token. https (http only on
	// loopback), no path. Required.
	URL string `json:"url,omitempty"`

	// The PEM EC P-256 private key tokens are signed with, as `openssl
	// ecparam -genkey -name prime256v1` writes it. Required.
	SigningKeyFile string `json:"signing_key_file,omitempty"`

	// The previous signing key, still published and accepted, so that
	// tokens signed before a rotation stay valid until they expire.
	PreviousKeyFile string `json:"previous_key_file,omitempty"`

	// The lifetime of an OpenFaaS access token when the subject's
	// JwtIssuer has no tokenExpiry (and for the flat issuer). Default: 1h.
	TokenExpiry caddy.Duration `json:"token_expiry,omitempty"`

	// How often the key files are read again, so a rotated Secret
	// applies without a reload. Default: 10s.
	ReloadInterval caddy.Duration `json:"reload_interval,omitempty"`
}

const (
	defaultSystemTokenExpiry = time.Hour
	defaultSystemKeyReload   = 10 * time.Second
	maxExchangeBody          = 64 << 10
)

// The system issuer's endpoints, under its URL.
const (
	systemDiscoveryPath = "/.well-known/openid-configuration"
	systemJWKSPath      = "/.well-known/jwks.json"
	systemTokenPath     = "/oauth/token"
)

func (s *SystemIssuer) validate() error {
	if s == nil {
		return nil
	}
	if err := checkEndpointURL(s.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u, err := url.Parse(s.URL); err != nil || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url: %q must be an origin, such as https://gw.example.com, without a path", s.URL)
	}
	if s.SigningKeyFile == "" {
		return errors.New("signing_key_file: required")
	}
	if s.TokenExpiry < 0 || s.ReloadInterval < 0 {
		return errors.New("token_expiry and reload_interval must not be negative")
	}
	return nil
}

// systemIssuer is the running system issuer: its keys, read again every
// reload_interval by a local key source that also verifies its tokens.
type systemIssuer struct {
	url       string
	expiry    time.Duration
	keys      atomic.Pointer[sysissuer.Keys]
	source    *keySource
	config    issuerConfig
	discovery []byte
	load      func() (*sysissuer.Keys, error)
}

// newSystemIssuer reads the keys once, so a bad key file is a config
// error naming it, and makes the key source that reads them again.
func newSystemIssuer(c *SystemIssuer, skew caddy.Duration, logger *zap.Logger) (*systemIssuer, error) {
	s := &systemIssuer{
		url:    strings.TrimSuffix(c.URL, "/"),
		expiry: time.Duration(c.TokenExpiry),
		load:   func() (*sysissuer.Keys, error) { return sysissuer.LoadKeys(c.SigningKeyFile, c.PreviousKeyFile) },
	}
	s.discovery = sysissuer.Discovery(s.url)
	k, err := s.load()
	if err != nil {
		return nil, fmt.Errorf("system_issuer: %w", err)
	}
	s.keys.Store(k)
	files := []string{c.SigningKeyFile}
	if c.PreviousKeyFile != "" {
		files = append(files, c.PreviousKeyFile)
	}
	settings := keySourceSettings{
		Issuer: s.url, KeyFiles: files,
		RefreshEvery: c.ReloadInterval, MinInterval: caddy.Duration(time.Second),
		MaxStale: caddy.Duration(math.MaxInt64), // files do not go stale
	}
	if s.source, err = newKeySource(settings, logger); err != nil {
		return nil, err
	}
	s.source.load = func() ([]byte, error) {
		k, err := s.load()
		if err != nil {
			return nil, err
		}
		s.keys.Store(k)
		return k.JWKS(), nil
	}
	if err := s.source.loadLocal(); err != nil {
		_ = s.source.Destruct()
		return nil, fmt.Errorf("system_issuer: %w", err)
	}
	s.config = issuerConfig{
		Issuer: s.url, Audiences: []string{s.url}, Algorithms: []string{"ES256"},
		ClockSkew: skew, Source: settings, local: s.source,
	}
	return s, nil
}

// serveSystemIssuer answers the system issuer's endpoints, which need no
// token and come before the path rules; it says whether r was one of them.
func (f *FedOIDC) serveSystemIssuer(w http.ResponseWriter, r *http.Request, path string) (bool, error) {
	switch path {
	case systemDiscoveryPath:
		return true, serveDocument(w, r, f.system.discovery, "application/json")
	case systemJWKSPath:
		return true, serveDocument(w, r, f.system.keys.Load().JWKS(), "application/jwk-set+json")
	case systemTokenPath:
		return true, f.serveTokenExchange(w, r)
	}
	return false, nil
}

// serveDocument answers GET and HEAD with doc; a client may keep it a
// minute, so a rotated key is published soon.
func serveDocument(w http.ResponseWriter, r *http.Request, doc []byte, contentType string) error {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return nil
	}
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc)
	}
	return nil
}

// closeSystem stops the system issuer's key source.
func (f *FedOIDC) closeSystem() {
	if f.system != nil {
		_ = f.system.source.Destruct()
	}
}
