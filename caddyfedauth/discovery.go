package caddyfedauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const (
	// defaultHTTPTimeout bounds each request to the IdP when the
	// caller does not choose a timeout.
	defaultHTTPTimeout = 10 * time.Second

	// maxDiscoveryBytes bounds the discovery document; real ones
	// are a few KiB, so this only stops a misbehaving server.
	maxDiscoveryBytes = 1 << 20

	// maxRedirects bounds the (same-origin) redirects we follow.
	maxRedirects = 5
)

// providerMetadata is the part of an OpenID Provider's discovery document we use.
type providerMetadata struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	TokenEndpoint string `json:"token_endpoint"`

	// For `caddy fed-oidc login`'s authorization code flow.
	AuthorizationEndpoint         string   `json:"authorization_endpoint,omitempty"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// RFC 9207: the authorization response names the issuer.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// newHTTPClient returns the client used for discovery, JWKS and token
// requests. Each request is bounded by timeout (defaultHTTPTimeout if
// timeout is not positive) and uses TLS 1.2 or newer.
//
// Redirects are followed only within the origin (scheme, host and port)
// of the original request: the issuer check and the client secret must
// not be carried to another server by a redirect.
//
// If caBundle is a path to a PEM file, its certificates are trusted in
// addition to the system roots, so a private CA works without losing
// the public ones (e.g. a public IdP next to an internal one).
func newHTTPClient(caBundle string, timeout time.Duration) (*http.Client, error) {
	var pemData []byte
	if caBundle != "" {
		var err error
		if pemData, err = os.ReadFile(caBundle); err != nil {
			// the *PathError already names the file
			return nil, fmt.Errorf("reading CA bundle: %w", err)
		}
	}
	return newHTTPClientWithCAs(caBundle, pemData, timeout)
}

// newHTTPClientWithCAs is newHTTPClient with the bundle already read (its
// contents, from the file named caBundle), so a caller that also looks at
// the contents reads the file once and trusts what it looked at.
func newHTTPClientWithCAs(caBundle string, pemData []byte, timeout time.Duration) (*http.Client, error) {
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caBundle != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			// no system roots (e.g. a scratch container): the bundle alone
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("loading CA bundle %s: no PEM certificates found", caBundle)
		}
		tlsConfig.RootCAs = pool
	}

	// cloning keeps the default dialer timeouts and proxy-from-environment
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig

	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: checkSameOriginRedirect,
	}, nil
}

// checkSameOriginRedirect is an http.Client CheckRedirect func that
// follows redirects only within the origin of the first request.
func checkSameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if from, to := urlOrigin(via[0].URL), urlOrigin(req.URL); from != to {
		return fmt.Errorf("refusing redirect from %s to %s: different origin", from, to)
	}
	return nil
}

// urlOrigin returns u's scheme://host:port with the default port made
// explicit, so that https://a and https://a:443 compare equal.
func urlOrigin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// fetchDiscovery fetches the OpenID Provider's discovery document for
// issuer (OpenID Connect Discovery 1.0 §4) and validates the fields we
// rely on: the document's issuer must equal the configured one exactly
// (§4.3), since it is what tokens' "iss" is checked against, and the
// endpoints are held to the rule configured URLs are held to (https, or
// http only to a loopback address), and to https for an https issuer.
func fetchDiscovery(ctx context.Context, client *http.Client, issuer string) (*providerMetadata, error) {
	return fetchDiscoveryFrom(ctx, client, issuer, issuer)
}

// fetchDiscoveryFrom is fetchDiscovery with the document read from
// location, another URL of the same issuer (a JwtIssuer's issInternal,
// such as https://kubernetes.default.svc for tokens whose iss is
// https://kubernetes.default.svc.cluster.local). The document must still
// name issuer, and its endpoints are held to location's scheme.
func fetchDiscoveryFrom(ctx context.Context, client *http.Client, issuer, location string) (*providerMetadata, error) {
	if err := checkEndpointURL(location); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	allowHTTP := strings.HasPrefix(location, "http:")

	// §4: any trailing slash is removed before appending the well-known path
	docURL := strings.TrimSuffix(location, "/") + "/.well-known/openid-configuration"

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return nil, fmt.Errorf("creating discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")

	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching discovery document: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching discovery document %s: unexpected status %s", docURL, resp.Status)
	}
	body, err := readLimited(resp.Body, maxDiscoveryBytes)
	if err != nil {
		return nil, fmt.Errorf("reading discovery document %s: %w", docURL, err)
	}

	var meta providerMetadata
	if err := json.Unmarshal(body, &meta); err != nil {
		return nil, fmt.Errorf("decoding discovery document %s: %w", docURL, err)
	}
	if meta.Issuer != issuer {
		return nil, fmt.Errorf("discovery document %s: issuer %q does not match configured issuer %q", docURL, meta.Issuer, issuer)
	}
	if meta.JWKSURI == "" {
		return nil, fmt.Errorf("discovery document %s: missing jwks_uri", docURL)
	}
	if err := checkMetadataURL(meta.JWKSURI, allowHTTP); err != nil {
		return nil, fmt.Errorf("discovery document %s: jwks_uri: %w", docURL, err)
	}
	// the endpoints are optional in discovery; validate them only if present
	for _, ep := range [...]struct{ name, url string }{
		{"token_endpoint", meta.TokenEndpoint},
		{"authorization_endpoint", meta.AuthorizationEndpoint},
	} {
		if ep.url == "" {
			continue
		}
		if err := checkMetadataURL(ep.url, allowHTTP); err != nil {
			return nil, fmt.Errorf("discovery document %s: %s: %w", docURL, ep.name, err)
		}
	}

	return &meta, nil
}

// checkMetadataURL checks an endpoint URL from a discovery document: an
// absolute URL without user info or fragment, https, or plain http only to
// a loopback address and only when allowHTTP (the issuer itself is http).
// A loopback issuer must not send the key fetch over plain http across
// the network. A query is allowed: Azure AD B2C's jwks_uri has one.
func checkMetadataURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || !u.IsAbs() {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have a fragment or user info", raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP && isLoopback(u.Hostname()):
	case u.Scheme == "http" && allowHTTP:
		return fmt.Errorf("%q: plain http is allowed only to a loopback address; use https", raw)
	default:
		return fmt.Errorf("%q must use https", raw)
	}
	return nil
}

// errBodyTooLarge is wrapped by readLimited's error when the limit is exceeded.
var errBodyTooLarge = errors.New("body too large")

// readLimited reads r to EOF, failing rather than truncating once more
// than limit bytes arrive: a cut-off document would otherwise surface
// later as a confusing decoding error.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
	}
	return b, nil
}

// checkEndpointURL requires an absolute https URL without query or
// fragment; plain http only to a loopback host, for local testing.
func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parsing %q: %w", raw, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have a query, fragment or user info", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q: plain http is allowed only to a loopback address; use https", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
