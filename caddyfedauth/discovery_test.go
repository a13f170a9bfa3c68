package caddyfedauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newDiscoveryServer starts a loopback server whose discovery document is made
// by doc from the server's own URL.
func newDiscoveryServer(t *testing.T, doc func(base string) any) *httptest.Server {
	t.Helper()
	return newRawDiscoveryServer(t, func(base string) string { return discoveryJSON(doc(base)) })
}

// newRawDiscoveryServer is like newDiscoveryServer, with the document given as text.
func newRawDiscoveryServer(t *testing.T, doc func(base string) string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, doc(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// discoveryJSON encodes v, which the tests build from encodable values only.
func discoveryJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestFetchDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		// issuerSuffix is appended to the server URL to make the configured issuer
		issuerSuffix string
		doc          func(base string) any
		raw          string // sent instead of doc if set
		wantErr      string
	}{
		{
			name: "valid document",
			doc: func(base string) any {
				return map[string]any{
					"issuer":                 base,
					"jwks_uri":               base + "/keys",
					"token_endpoint":         base + "/token",
					"response_types_support": []string{"code"},
				}
			},
		},
		{
			name:         "issuer with path",
			issuerSuffix: "/realms/fed",
			doc: func(base string) any {
				return providerMetadata{Issuer: base + "/realms/fed", JWKSURI: base + "/realms/fed/keys"}
			},
		},
		{
			name:         "configured issuer with trailing slash matching document",
			issuerSuffix: "/",
			doc: func(base string) any {
				return providerMetadata{Issuer: base + "/", JWKSURI: base + "/keys"}
			},
		},
		{
			name: "document issuer has extra trailing slash",
			doc: func(base string) any {
				return providerMetadata{Issuer: base + "/", JWKSURI: base + "/keys"}
			},
			wantErr: "does not match configured issuer",
		},
		{
			name:         "configured issuer has extra trailing slash",
			issuerSuffix: "/",
			doc: func(base string) any {
				return providerMetadata{Issuer: base, JWKSURI: base + "/keys"}
			},
			wantErr: "does not match configured issuer",
		},
		{
			name: "document issuer is another host",
			doc: func(string) any {
				return providerMetadata{Issuer: "https://evil.example", JWKSURI: "https://evil.example/keys"}
			},
			wantErr: "does not match configured issuer",
		},
		{
			name: "missing jwks_uri",
			doc: func(base string) any {
				return providerMetadata{Issuer: base}
			},
			wantErr: "missing jwks_uri",
		},
		{
			name: "relative jwks_uri",
			doc: func(base string) any {
				return providerMetadata{Issuer: base, JWKSURI: "/keys"}
			},
			wantErr: "not an absolute URL",
		},
		{
			name: "token_endpoint not absolute",
			doc: func(base string) any {
				return providerMetadata{Issuer: base, JWKSURI: base + "/keys", TokenEndpoint: "token"}
			},
			wantErr: "token_endpoint",
		},
		{
			name:    "invalid JSON",
			raw:     `{"issuer": `,
			wantErr: "decoding discovery document",
		},
		{
			name: "oversized document",
			doc: func(base string) any {
				return map[string]any{
					"issuer":   base,
					"jwks_uri": base + "/keys",
					"padding":  strings.Repeat("x", maxDiscoveryBytes),
				}
			},
			wantErr: "body too large",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawDiscoveryServer(t, func(base string) string {
				if tc.raw != "" {
					return tc.raw
				}
				return discoveryJSON(tc.doc(base))
			})
			issuer := srv.URL + tc.issuerSuffix
			meta, err := fetchDiscovery(context.Background(), srv.Client(), issuer)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if meta.Issuer != issuer {
				t.Errorf("issuer = %q, want %q", meta.Issuer, issuer)
			}
			if !strings.HasPrefix(meta.JWKSURI, srv.URL+"/") {
				t.Errorf("jwks_uri = %q", meta.JWKSURI)
			}
		})
	}
}

func TestFetchDiscoveryStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone fishing", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	_, err := fetchDiscovery(context.Background(), srv.Client(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Fatalf("got error %v, want one naming the status", err)
	}
}

func TestFetchDiscoveryBadIssuer(t *testing.T) {
	for _, issuer := range []string{
		"",
		"idp.example.com",
		"ftp://idp.example.com",
		"https://idp.example.com?x=1",
		"https://idp.example.com#frag",
		"https://idp example.com",
	} {
		t.Run(issuer, func(t *testing.T) {
			if _, err := fetchDiscovery(context.Background(), http.DefaultClient, issuer); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestDiscoveryJWKSScheme(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host
		_ = json.NewEncoder(w).Encode(providerMetadata{
			Issuer:  base,
			JWKSURI: "http://" + r.Host + "/keys",
		})
	}))
	defer srv.Close()

	_, err := fetchDiscovery(context.Background(), srv.Client(), srv.URL)
	if err == nil || !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("got error %v, want http jwks_uri refused for an https issuer", err)
	}
}

// A loopback issuer is allowed plain http, but its discovery document
// must not send the key fetch over plain http across the network: the
// jwks_uri is held to the rule jwks_url is held to.
func TestDiscoveryLoopbackIssuerEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name, jwksURI, tokenEndpoint string
		ok                           bool
	}{
		{name: "http jwks_uri on loopback", jwksURI: "http://127.0.0.1:1/keys", ok: true},
		{name: "http jwks_uri on localhost", jwksURI: "http://localhost:1/keys", ok: true},
		{name: "https jwks_uri elsewhere", jwksURI: "https://keys.example.com/keys", ok: true},
		{name: "jwks_uri with a query (Azure AD B2C)", jwksURI: "https://b2c.example.com/keys?p=b2c_1_signin", ok: true},
		{name: "http jwks_uri across the network", jwksURI: "http://192.0.2.1/keys"},
		{name: "http jwks_uri on a name that is not loopback", jwksURI: "http://keys.example.com/keys"},
		{name: "http jwks_uri on the IPv6 unspecified address", jwksURI: "http://[::]:8080/keys"},
		{name: "jwks_uri with user info", jwksURI: "https://user:pw@keys.example.com/keys"},
		{name: "http token_endpoint across the network", jwksURI: "http://127.0.0.1:1/keys", tokenEndpoint: "http://192.0.2.1/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newDiscoveryServer(t, func(base string) any {
				return providerMetadata{Issuer: base, JWKSURI: tc.jwksURI, TokenEndpoint: tc.tokenEndpoint}
			})
			md, err := fetchDiscovery(context.Background(), srv.Client(), srv.URL)
			if tc.ok {
				if err != nil || md.JWKSURI != tc.jwksURI {
					t.Fatalf("got %v, %v; want the jwks_uri accepted", md, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("jwks_uri %q token_endpoint %q accepted", tc.jwksURI, tc.tokenEndpoint)
			}
		})
	}
}

func TestDiscoveryRedirects(t *testing.T) {
	other := newDiscoveryServer(t, func(base string) any {
		return providerMetadata{Issuer: base, JWKSURI: base + "/keys"}
	})

	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same/.well-known/openid-configuration":
			http.Redirect(w, r, "/doc", http.StatusFound)
		case "/doc":
			_ = json.NewEncoder(w).Encode(providerMetadata{Issuer: srv.URL + "/same", JWKSURI: srv.URL + "/keys"})
		case "/cross/.well-known/openid-configuration":
			http.Redirect(w, r, other.URL+"/.well-known/openid-configuration", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	client, err := newHTTPClient("", time.Second)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("same origin followed", func(t *testing.T) {
		if _, err := fetchDiscovery(context.Background(), client, srv.URL+"/same"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("other origin refused", func(t *testing.T) {
		_, err := fetchDiscovery(context.Background(), client, srv.URL+"/cross")
		if err == nil || !strings.Contains(err.Error(), "different origin") {
			t.Fatalf("got error %v, want cross-origin redirect refused", err)
		}
	})
}

func TestDiscoveryCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host
		_ = json.NewEncoder(w).Encode(providerMetadata{Issuer: base, JWKSURI: base + "/keys"})
	}))
	defer srv.Close()

	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(bundle, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	t.Run("system roots only", func(t *testing.T) {
		client, err := newHTTPClient("", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetchDiscovery(context.Background(), client, srv.URL); err == nil {
			t.Fatal("expected the test CA to be untrusted without the bundle")
		}
	})
	t.Run("with bundle", func(t *testing.T) {
		client, err := newHTTPClient(bundle, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fetchDiscovery(context.Background(), client, srv.URL); err != nil {
			t.Fatal(err)
		}
		if v := client.Transport.(*http.Transport).TLSClientConfig.MinVersion; v != tls.VersionTLS12 {
			t.Errorf("MinVersion = %x, want TLS 1.2", v)
		}
	})
	for _, tc := range []struct {
		name, path string
	}{
		{"unreadable bundle", missing},
		{"bundle without certificates", empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHTTPClient(tc.path, time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("got error %v, want one naming %s", err, tc.path)
			}
		})
	}
}

func TestReadLimited(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{
		{0, false},
		{10, false},
		{11, true},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			b, err := readLimited(bytes.NewReader(make([]byte, tc.size)), 10)
			if tc.wantErr {
				if !errors.Is(err, errBodyTooLarge) {
					t.Fatalf("got error %v, want errBodyTooLarge", err)
				}
				return
			}
			if err != nil || len(b) != tc.size {
				t.Fatalf("got %d bytes, error %v; want %d bytes", len(b), err, tc.size)
			}
		})
	}
}
