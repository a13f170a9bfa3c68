package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// Credentials with characters that RFC 6749 §2.3.1 form-encoding changes.
const (
	testClientID     = "fed:client"
	testClientSecret = "s3cr et+/%:"
	tokenPath        = "/oauth/token"
)

// receivedTokenRequest is what the test IdP's token endpoint got.
type receivedTokenRequest struct {
	method      string
	contentType string
	auth        string // raw Authorization header
	form        url.Values
}

// newTokenServer starts a test IdP that serves a discovery document
// pointing at its token endpoint, which answers with status and body and
// passes each request it receives to the returned channel.
func newTokenServer(t *testing.T, status int, body string) (*httptest.Server, <-chan receivedTokenRequest) {
	t.Helper()
	received := make(chan receivedTokenRequest, 10)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(providerMetadata{
				Issuer:        srv.URL,
				JWKSURI:       srv.URL + "/keys",
				TokenEndpoint: srv.URL + tokenPath,
			})
		case tokenPath:
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			received <- receivedTokenRequest{
				method:      r.Method,
				contentType: r.Header.Get("Content-Type"),
				auth:        r.Header.Get("Authorization"),
				form:        r.PostForm,
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, received
}

// basicAuth is the Authorization header RFC 6749 §2.3.1 prescribes.
func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header.Get("Authorization")
}

const okTokenBody = `{"access_token":"tok-123","token_type":"Bearer","expires_in":"3600"}`

func TestRequestClientCredentialsToken(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      tokenRequest
		wantAuth string
		wantForm url.Values
	}{
		{
			name:     "client_secret_basic",
			req:      tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret, AuthMethod: authMethodBasic},
			wantAuth: "Basic ZmVkJTNBY2xpZW50OnMzY3IrZXQlMkIlMkYlMjUlM0E=", // fed%3Aclient:s3cr+et%2B%2F%25%3A
			wantForm: url.Values{"grant_type": {"client_credentials"}},
		},
		{
			name:     "client_secret_basic by default",
			req:      tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret},
			wantAuth: basicAuth(testClientID, testClientSecret),
			wantForm: url.Values{"grant_type": {"client_credentials"}},
		},
		{
			name: "client_secret_post",
			req:  tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret, AuthMethod: authMethodPost},
			wantForm: url.Values{
				"grant_type":    {"client_credentials"},
				"client_id":     {testClientID},
				"client_secret": {testClientSecret},
			},
		},
		{
			name: "audience, resources and scope",
			req: tokenRequest{
				ClientID:     testClientID,
				ClientSecret: testClientSecret,
				Audience:     "https://gateway.example.com",
				Resources:    []string{"https://a.example.com/fn", "https://b.example.com/fn?x=1,2"},
				Scope:        "functions:read functions:invoke",
			},
			wantAuth: basicAuth(testClientID, testClientSecret),
			wantForm: url.Values{
				"grant_type": {"client_credentials"},
				"audience":   {"https://gateway.example.com"},
				"resource":   {"https://a.example.com/fn", "https://b.example.com/fn?x=1,2"},
				"scope":      {"functions:read functions:invoke"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, received := newTokenServer(t, http.StatusOK, okTokenBody)
			resp, err := requestClientCredentialsToken(context.Background(), srv.Client(), srv.URL+tokenPath, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.AccessToken != "tok-123" {
				t.Errorf("access token = %q", resp.AccessToken)
			}
			got := <-received
			if got.method != http.MethodPost || got.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("got %s with Content-Type %q", got.method, got.contentType)
			}
			if got.auth != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got.auth, tc.wantAuth)
			}
			if !reflect.DeepEqual(got.form, tc.wantForm) {
				t.Errorf("form = %v, want %v", got.form, tc.wantForm)
			}
		})
	}
}

func TestRequestClientCredentialsTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		wantErr []string
	}{
		{
			name:    "OAuth error",
			status:  http.StatusUnauthorized,
			body:    `{"error":"invalid_client","error_description":"Client authentication failed"}`,
			wantErr: []string{"401 Unauthorized", "invalid_client", "Client authentication failed"},
		},
		{
			name:   "OAuth error echoing the secret",
			status: http.StatusBadRequest,
			body: `{"error":"invalid_request","error_description":"bad secret ` + testClientSecret +
				` (` + url.QueryEscape(testClientSecret) + `)"}`,
			wantErr: []string{"400 Bad Request", "invalid_request", "[REDACTED]"},
		},
		{
			name:    "error without OAuth body",
			status:  http.StatusBadGateway,
			body:    `<html>upstream down</html>`,
			wantErr: []string{"502 Bad Gateway"},
		},
		{
			name:    "missing access_token",
			status:  http.StatusOK,
			body:    `{"token_type":"Bearer"}`,
			wantErr: []string{"no access_token"},
		},
		{
			name:    "non-Bearer token_type",
			status:  http.StatusOK,
			body:    `{"access_token":"tok-123","token_type":"DPoP"}`,
			wantErr: []string{`"DPoP"`, "want Bearer"},
		},
		{
			name:    "missing token_type",
			status:  http.StatusOK,
			body:    `{"access_token":"tok-123"}`,
			wantErr: []string{"want Bearer"},
		},
		{
			name:    "invalid JSON",
			status:  http.StatusOK,
			body:    `{"access_token":"tok-123"`,
			wantErr: []string{"decoding token response"},
		},
		{
			name:    "oversized response",
			status:  http.StatusOK,
			body:    `{"access_token":"` + strings.Repeat("a", maxTokenResponseBytes) + `"}`,
			wantErr: []string{"body too large"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newTokenServer(t, tc.status, tc.body)
			for _, method := range []string{authMethodBasic, authMethodPost} {
				req := tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret, AuthMethod: method}
				_, err := requestClientCredentialsToken(context.Background(), srv.Client(), srv.URL+tokenPath, req)
				if err == nil {
					t.Fatalf("%s: expected an error", method)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not contain %q", method, err, want)
					}
				}
				for _, secret := range []string{testClientSecret, url.QueryEscape(testClientSecret)} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: error %q reveals the secret", method, err)
					}
				}
			}
		})
	}
}

func TestRequestClientCredentialsTokenTypeCase(t *testing.T) {
	srv, _ := newTokenServer(t, http.StatusOK, `{"access_token":"tok-123","token_type":"bearer"}`)
	req := tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret}
	if _, err := requestClientCredentialsToken(context.Background(), srv.Client(), srv.URL+tokenPath, req); err != nil {
		t.Fatal(err)
	}
}

func TestRequestClientCredentialsTokenURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		wantErr bool
	}{
		{"http://idp.example.com/token", true},
		{"/token", true},
		{"ftp://idp.example.com/token", true},
	} {
		t.Run(tc.url, func(t *testing.T) {
			client, err := newHTTPClient("", 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			req := tokenRequest{ClientID: testClientID, ClientSecret: testClientSecret}
			_, err = requestClientCredentialsToken(context.Background(), client, tc.url, req)
			if err == nil || !strings.Contains(err.Error(), "token URL") {
				t.Fatalf("got error %v, want the token URL refused", err)
			}
		})
	}
}

func TestLoadClientSecret(t *testing.T) {
	dir := t.TempDir()
	writeSecret := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	for _, tc := range []struct {
		name    string
		file    string // contents; no file if empty
		env     string
		want    string
		wantErr string
	}{
		{name: "file with newline", file: "s3cret\n", want: "s3cret"},
		{name: "file with CRLF", file: "s3cret\r\n", want: "s3cret"},
		{name: "file without newline", file: "s3cret", want: "s3cret"},
		{name: "a second line break is refused, not kept", file: "s3cret\n\n", wantErr: "line break"},
		{name: "spaces kept", file: " s3cret \n", want: " s3cret "},
		{name: "file wins over env", file: "from-file\n", env: "from-env", want: "from-file"},
		{name: "env", env: "from-env\n", want: "from-env\n"},
		{name: "empty file", file: "\n", wantErr: "empty"},
		{name: "neither", wantErr: clientSecretEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(clientSecretEnv, tc.env)
			var path string
			if tc.file != "" {
				path = writeSecret(strings.ReplaceAll(tc.name, " ", "_"), tc.file)
			}
			got, err := loadClientSecret(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				if tc.file != "" && !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("secret = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "missing")
		if _, err := loadClientSecret(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("got error %v, want one naming %s", err, path)
		}
	})
}

// runFedOIDCCommand builds the registered fed-oidc command tree as caddy
// would and runs it with args, returning what it wrote to stdout.
func runFedOIDCCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c, ok := caddycmd.Commands()["fed-oidc"]
	if !ok {
		t.Fatal("fed-oidc command not registered")
	}
	root := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long, SilenceUsage: true}
	c.CobraFunc(root)
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(args)
	err := root.Execute()
	return stdout.String(), err
}

func TestCommandToken(t *testing.T) {
	srv, received := newTokenServer(t, http.StatusOK, okTokenBody)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		env      string
		want     string // exact stdout
		wantForm url.Values
		wantErr  string
	}{
		{
			name: "discovered token endpoint",
			args: []string{"token", "--issuer", srv.URL, "--client-id", testClientID, "--client-secret-file", secretFile},
			want: "tok-123\n",
		},
		{
			name: "token URL with env secret and post",
			args: []string{
				"token", "--token-url", srv.URL + tokenPath, "--client-id", testClientID,
				"--auth-method", authMethodPost, "--audience", "gw", "--resource", "r1", "--resource", "r2",
				"--scope", "a b",
			},
			env:  testClientSecret,
			want: "tok-123\n",
			wantForm: url.Values{
				"grant_type":    {"client_credentials"},
				"client_id":     {testClientID},
				"client_secret": {testClientSecret},
				"audience":      {"gw"},
				"resource":      {"r1", "r2"},
				"scope":         {"a b"},
			},
		},
		{
			name: "json output",
			args: []string{"token", "--issuer", srv.URL, "--client-id", testClientID, "-o", "json"},
			env:  testClientSecret,
			want: "{\n\t\"access_token\": \"tok-123\",\n\t\"token_type\": \"Bearer\",\n\t\"expires_in\": \"3600\"\n}\n",
		},
		{
			name:    "issuer and token URL",
			args:    []string{"token", "--issuer", srv.URL, "--token-url", srv.URL + tokenPath, "--client-id", testClientID},
			env:     testClientSecret,
			wantErr: "mutually exclusive",
		},
		{
			name:    "neither issuer nor token URL",
			args:    []string{"token", "--client-id", testClientID},
			env:     testClientSecret,
			wantErr: "--issuer or --token-url",
		},
		{
			name:    "no client ID",
			args:    []string{"token", "--issuer", srv.URL},
			env:     testClientSecret,
			wantErr: "--client-id",
		},
		{
			name:    "no secret",
			args:    []string{"token", "--issuer", srv.URL, "--client-id", testClientID},
			wantErr: clientSecretEnv,
		},
		{
			name:    "unknown auth method",
			args:    []string{"token", "--issuer", srv.URL, "--client-id", testClientID, "--auth-method", "private_key_jwt"},
			env:     testClientSecret,
			wantErr: "--auth-method",
		},
		{
			name:    "unknown output",
			args:    []string{"token", "--issuer", srv.URL, "--client-id", testClientID, "--output", "yaml"},
			env:     testClientSecret,
			wantErr: "--output",
		},
		{
			name:    "secret as argument",
			args:    []string{"token", "--issuer", srv.URL, "--client-id", testClientID, testClientSecret},
			env:     testClientSecret,
			wantErr: "unknown command",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(clientSecretEnv, tc.env)
			stdout, err := runFedOIDCCommand(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				if stdout != "" {
					t.Errorf("stdout = %q, want nothing on error", stdout)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stdout != tc.want {
				t.Errorf("stdout = %q, want %q", stdout, tc.want)
			}
			got := <-received
			if got.auth == "" && got.form.Get("client_secret") == "" {
				t.Error("token request carried no client credentials")
			}
			if tc.wantForm != nil && !reflect.DeepEqual(got.form, tc.wantForm) {
				t.Errorf("form = %v, want %v", got.form, tc.wantForm)
			}
		})
	}
}

// echoSecret has a character of each class that form-encoding, path
// escaping, Go quoting and JSON change.
const echoSecret = `s3cr et+/%:"\é`

// receivedSecret is the secret as a token endpoint decodes it from the
// request, by either authentication method.
func receivedSecret(r *http.Request) string {
	if _, pass, ok := r.BasicAuth(); ok {
		s, _ := url.QueryUnescape(pass)
		return s
	}
	return r.PostForm.Get("client_secret")
}

// jsonUnicodeEscaped writes s as a JSON string of \u escapes only.
func jsonUnicodeEscaped(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, `\u%04x`, u)
	}
	b.WriteByte('"')
	return b.String()
}

// A token endpoint that echoes the request back, in any spelling, in
// "error" or "error_description", must not get the client secret
// printed: the error of `caddy fed-oidc token` goes to terminals and CI
// logs.
func TestCommandTokenRedactsEchoedSecret(t *testing.T) {
	basicOnly := []string{authMethodBasic} // the secret is in the header
	postOnly := []string{authMethodPost}   // the secret is in the body
	both := []string{authMethodBasic, authMethodPost}
	for _, tc := range []struct {
		name    string
		methods []string
		echo    func(r *http.Request, body string) string
	}{
		{"Authorization header", basicOnly, func(r *http.Request, _ string) string {
			return "Authorization: " + r.Header.Get("Authorization")
		}},
		{"Basic credentials, decoded", basicOnly, func(r *http.Request, _ string) string {
			b, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
			return string(b)
		}},
		{"request body", postOnly, func(_ *http.Request, body string) string { return "got " + body }},
		{"request body, lowercase escapes", postOnly, func(_ *http.Request, body string) string {
			return regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(body, strings.ToLower)
		}},
		{"request body, base64", postOnly, func(_ *http.Request, body string) string {
			return base64.URLEncoding.EncodeToString([]byte(body))
		}},
		{"secret", both, func(r *http.Request, _ string) string {
			return "client " + r.PostForm.Get("client_id") + " has no secret " + receivedSecret(r)
		}},
		{"secret, path-escaped", both, func(r *http.Request, _ string) string {
			return "/clients/" + url.PathEscape(receivedSecret(r))
		}},
		{"secret, base64", both, func(r *http.Request, _ string) string {
			return base64.StdEncoding.EncodeToString([]byte("secret=" + receivedSecret(r)))
		}},
		{"secret, hex", both, func(r *http.Request, _ string) string {
			return hex.EncodeToString([]byte(receivedSecret(r)))
		}},
		{"secret, Go-quoted", both, func(r *http.Request, _ string) string {
			return strconv.Quote(receivedSecret(r))
		}},
	} {
		for _, field := range []string{"error", "error_description"} {
			for _, unicodeEscaped := range []bool{false, true} {
				for _, method := range tc.methods {
					name := fmt.Sprintf("%s in %s, %s", tc.name, field, method)
					if unicodeEscaped {
						name += ", JSON \\u escapes"
					}
					t.Run(name, func(t *testing.T) {
						echoed := make(chan string, 1)
						srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							raw, _ := io.ReadAll(r.Body)
							r.Body = io.NopCloser(bytes.NewReader(raw))
							_ = r.ParseForm()
							echo := tc.echo(r, string(raw))
							echoed <- echo
							value, _ := json.Marshal(echo)
							if unicodeEscaped {
								value = []byte(jsonUnicodeEscaped(echo))
							}
							other := `"invalid_client"`
							if field == "error" {
								other = `"Client authentication failed"`
							}
							w.Header().Set("Content-Type", "application/json")
							w.WriteHeader(http.StatusUnauthorized)
							if field == "error" {
								fmt.Fprintf(w, `{"error":%s,"error_description":%s}`, value, other)
							} else {
								fmt.Fprintf(w, `{"error":%s,"error_description":%s}`, other, value)
							}
						}))
						defer srv.Close()
						t.Setenv(clientSecretEnv, echoSecret)
						stdout, err := runFedOIDCCommand(t, "token", "--token-url", srv.URL, "--client-id", testClientID, "--auth-method", method)
						if echo := <-echoed; !revealsSecret(echo, echoSecret) {
							t.Fatalf("the server echoed %q, which does not carry the secret: this case proves nothing", echo)
						}
						if err == nil {
							t.Fatal("expected an error")
						}
						if revealsSecret(err.Error(), echoSecret) {
							t.Errorf("the printed error reveals the secret: %s", err)
						}
						for _, want := range []string{"401 Unauthorized", redactedMark} {
							if !strings.Contains(err.Error(), want) {
								t.Errorf("error %q does not contain %q", err, want)
							}
						}
						if stdout != "" {
							t.Errorf("stdout = %q, want nothing", stdout)
						}
					})
				}
			}
		}
	}
}

// The secret echoed where other errors quote the server: the token_type
// of a successful response, and the issuer of the discovery document.
func TestCommandTokenRedactsSecretElsewhere(t *testing.T) {
	t.Setenv(clientSecretEnv, echoSecret)
	t.Run("token_type", func(t *testing.T) {
		for _, method := range []string{authMethodBasic, authMethodPost} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "tok", "token_type": receivedSecret(r)})
			}))
			_, err := runFedOIDCCommand(t, "token", "--token-url", srv.URL, "--client-id", testClientID, "--auth-method", method)
			srv.Close()
			if err == nil || !strings.Contains(err.Error(), "want Bearer") || revealsSecret(err.Error(), echoSecret) {
				t.Errorf("%s: got error %v, want token_type refused without the secret", method, err)
			}
		}
	})
	t.Run("discovery issuer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(providerMetadata{Issuer: "https://idp.example.com/" + echoSecret})
		}))
		defer srv.Close()
		_, err := runFedOIDCCommand(t, "token", "--issuer", srv.URL, "--client-id", testClientID)
		if err == nil || !strings.Contains(err.Error(), "does not match") || revealsSecret(err.Error(), echoSecret) {
			t.Errorf("got error %v, want the issuer mismatch without the secret", err)
		}
	})
}

// A redirect from the token endpoint is not followed: Go would resend the
// credentials (the body on 307/308) to a URL of the server's choosing, and
// its error would print that URL.
func TestCommandTokenRefusesRedirects(t *testing.T) {
	t.Setenv(clientSecretEnv, echoSecret)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, method := range []string{authMethodBasic, authMethodPost} {
			t.Run(fmt.Sprintf("%d %s", code, method), func(t *testing.T) {
				var followed atomic.Int32
				mux := http.NewServeMux()
				mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
					followed.Add(1)
					_, _ = w.Write([]byte(okTokenBody))
				})
				mux.HandleFunc(tokenPath, func(w http.ResponseWriter, r *http.Request) {
					_ = r.ParseForm()
					http.Redirect(w, r, "/elsewhere?echo="+url.QueryEscape(receivedSecret(r)), code)
				})
				srv := httptest.NewServer(mux)
				defer srv.Close()
				stdout, err := runFedOIDCCommand(t, "token", "--token-url", srv.URL+tokenPath, "--client-id", testClientID, "--auth-method", method)
				if followed.Load() != 0 {
					t.Error("the redirect was followed")
				}
				if err == nil || !strings.Contains(err.Error(), "redirects") || stdout != "" {
					t.Fatalf("got stdout %q, error %v; want the redirect refused", stdout, err)
				}
				if revealsSecret(err.Error(), echoSecret) {
					t.Errorf("the printed error reveals the secret: %s", err)
				}
			})
		}
	}
}
