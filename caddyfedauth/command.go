package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddyserver/caddy/v2"
)

const (
	// clientSecretEnv holds the client secret when no file is given;
	// a flag value would be visible to other users in ps.
	clientSecretEnv = "FED_OIDC_CLIENT_SECRET"

	authMethodBasic = "client_secret_basic"
	authMethodPost  = "client_secret_post"

	// maxTokenResponseBytes bounds the token endpoint's response; it
	// holds a token or an error, never anything large.
	maxTokenResponseBytes = 1 << 20
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "fed-oidc",
		Usage: "<token|login|explain|version> [flags]",
		Short: "Tools for the fed_oidc federated gateway",
		Long: `
Tools for clients of an OpenFaaS gateway protected by the fed_oidc handler.

The token subcommand obtains an access token from the identity provider
with the OAuth 2.0 client-credentials grant and prints it, for use with
faas-cli or curl. See 'caddy fed-oidc token --help'. The login
subcommand logs a person (in a browser) or a machine in, exchanges the
token at the gateway and saves the result in faas-cli's config. The
explain subcommand says what a config's fed_oidc handler decides for a
token and a request, and why. The version subcommand prints the module's version.`,
		CobraFunc: func(cmd *cobra.Command) {
			tokenCmd := &cobra.Command{
				Use:   "token --client-id <id> (--issuer <url> | --token-url <url>)",
				Short: "Obtains an access token with the client-credentials grant",
				Long: `
Performs the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) and
prints only the access token, followed by a newline, on stdout.

The token endpoint is found through OpenID Connect discovery of --issuer,
or given directly with --token-url; exactly one of the two is required.
Client credentials are sent over https, or over http only to a loopback
address, and only to that endpoint: redirects are not followed. Errors
never show the secret, in any spelling a server could echo it back in.

The client secret is read from --client-secret-file (one trailing newline
is removed, as Kubernetes secrets often have one) or, failing that, from
the ` + clientSecretEnv + ` environment variable. It is never accepted as a
flag value, which would be visible to other users in the process list.

--audience (as used by Auth0), --resource (RFC 8707; may be repeated) and
--scope (space-separated) are sent only when given.

--auth-method selects how the client authenticates: client_secret_basic
(HTTP Basic, the default) or client_secret_post (credentials in the body).

--ca-bundle adds the certificates of a PEM file to the system roots, for
an identity provider behind a private CA.

--output json prints the whole token response instead of just the token,
for inspection.`,
				Example: `  $ export ` + clientSecretEnv + `=...
  $ faas-cli list -g https://gateway.example.com \
      --token "$(caddy fed-oidc token --issuer https://idp.example.com --client-id ci)"`,
				Args: cobra.NoArgs,
			}
			tokenCmd.Flags().String("issuer", "", "OpenID Provider issuer URL, used to discover the token endpoint")
			tokenCmd.Flags().String("token-url", "", "Token endpoint URL, instead of discovering it from --issuer")
			tokenCmd.Flags().String("client-id", "", "OAuth client ID (required)")
			tokenCmd.Flags().String("client-secret-file", "", "File holding the client secret (default: $"+clientSecretEnv+")")
			tokenCmd.Flags().String("audience", "", "Audience of the requested token")
			tokenCmd.Flags().StringArray("resource", nil, "Resource indicator (RFC 8707); may be repeated")
			tokenCmd.Flags().String("scope", "", "Space-separated scopes to request")
			tokenCmd.Flags().String("auth-method", authMethodBasic, "Client authentication method: client_secret_basic or client_secret_post")
			tokenCmd.Flags().String("ca-bundle", "", "PEM file of CA certificates to trust in addition to the system roots")
			tokenCmd.Flags().Duration("timeout", defaultHTTPTimeout, "Time limit for the whole exchange")
			tokenCmd.Flags().StringP("output", "o", "token", "Output format: token or json")
			// the command func writes to the command's output so that callers
			// (and tests) can redirect it with SetOut
			tokenCmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
				return cmdFedOIDCToken(fl, tokenCmd.OutOrStdout())
			})
			cmd.AddCommand(tokenCmd)
			cmd.AddCommand(loginCommand())
			cmd.AddCommand(explainCommand())
			versionCmd := &cobra.Command{
				Use:   "version",
				Short: "Prints the version of the fed_oidc module",
				Args:  cobra.NoArgs,
			}
			versionCmd.RunE = caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
				_, err := fmt.Fprintln(versionCmd.OutOrStdout(), "fed_oidc", Version)
				return caddy.ExitCodeSuccess, err
			})
			cmd.AddCommand(versionCmd)
		},
	})
}

func cmdFedOIDCToken(fl caddycmd.Flags, out io.Writer) (int, error) {
	issuer := fl.String("issuer")
	tokenURL := fl.String("token-url")
	secretFile := fl.String("client-secret-file")
	output := fl.String("output")
	timeout := fl.Duration("timeout")
	resources, err := fl.GetStringArray("resource")
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("reading --resource: %w", err)
	}

	treq := tokenRequest{
		ClientID:   fl.String("client-id"),
		AuthMethod: fl.String("auth-method"),
		Audience:   fl.String("audience"),
		Resources:  resources,
		Scope:      fl.String("scope"),
	}

	// validate everything before touching the network
	switch {
	case issuer == "" && tokenURL == "":
		return caddy.ExitCodeFailedStartup, errors.New("one of --issuer or --token-url is required")
	case issuer != "" && tokenURL != "":
		// refuse rather than pick one: a silently ignored flag hides mistakes
		return caddy.ExitCodeFailedStartup, errors.New("--issuer and --token-url are mutually exclusive")
	}
	if treq.ClientID == "" {
		return caddy.ExitCodeFailedStartup, errors.New("--client-id is required")
	}
	if treq.AuthMethod != authMethodBasic && treq.AuthMethod != authMethodPost {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("unsupported --auth-method %q: want %s or %s", treq.AuthMethod, authMethodBasic, authMethodPost)
	}
	if output != "token" && output != "json" {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("unsupported --output %q: want token or json", output)
	}
	if timeout <= 0 {
		return caddy.ExitCodeFailedStartup, errors.New("--timeout must be positive")
	}
	treq.ClientSecret, err = loadClientSecret(secretFile)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}

	client, err := newHTTPClient(fl.String("ca-bundle"), timeout)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if issuer != "" {
		meta, err := fetchDiscovery(ctx, client, issuer)
		if err != nil {
			// the issuer has not seen the secret yet, but may know it
			return caddy.ExitCodeFailedStartup, newSecretRedactor(treq.ClientSecret).redactErr(err)
		}
		if meta.TokenEndpoint == "" {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("discovery document of %s has no token_endpoint; use --token-url", issuer)
		}
		tokenURL = meta.TokenEndpoint
	}

	tresp, err := requestClientCredentialsToken(ctx, client, tokenURL, treq)
	if err != nil {
		return caddy.ExitCodeFailedStartup, err
	}

	if output == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, tresp.Raw, "", "\t"); err != nil {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("formatting token response: %w", err)
		}
		buf.WriteByte('\n')
		_, err = buf.WriteTo(out)
	} else {
		_, err = fmt.Fprintln(out, tresp.AccessToken)
	}
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("writing output: %w", err)
	}
	return caddy.ExitCodeSuccess, nil
}

// loadClientSecret returns the secret from path if given, else from the
// environment; an explicit flag wins over the ambient environment.
func loadClientSecret(path string) (string, error) {
	if path == "" {
		secret := os.Getenv(clientSecretEnv)
		if secret == "" {
			return "", fmt.Errorf("no client secret: use --client-secret-file or set %s", clientSecretEnv)
		}
		return secret, nil
	}
	// the same reading as the gateway's credential: one line ending trimmed
	b, err := readSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("reading client secret: %w", err)
	}
	return string(b), nil
}

// tokenRequest is a client-credentials grant request.
type tokenRequest struct {
	ClientID     string
	ClientSecret string
	AuthMethod   string   // authMethodBasic (default if empty) or authMethodPost
	Audience     string   // sent only if non-empty
	Resources    []string // RFC 8707 resource indicators
	Scope        string   // space-separated; sent only if non-empty
}

// tokenResponse is a successful token response (RFC 6749 §5.1, and RFC
// 8693 §2.2.1 for token exchange), with the ID token of the authorization
// code grant (OpenID Connect Core §3.1.3.3).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	IDToken     string `json:"id_token"`

	// Raw is the response body as received.
	Raw json.RawMessage `json:"-"`
}

// tokenErrorResponse is an error response (RFC 6749 §5.2).
type tokenErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// requestClientCredentialsToken performs the client-credentials grant
// (RFC 6749 §4.4) against tokenURL, by the rules of postTokenForm. No
// error it returns holds the client secret, in any spelling the server
// could echo it back in.
func requestClientCredentialsToken(ctx context.Context, client *http.Client, tokenURL string, treq tokenRequest) (*tokenResponse, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if treq.Scope != "" {
		form.Set("scope", treq.Scope)
	}
	if treq.Audience != "" {
		form.Set("audience", treq.Audience)
	}
	for _, r := range treq.Resources {
		form.Add("resource", r)
	}
	red := newSecretRedactor(treq.ClientSecret)
	var basic func(*http.Request)
	switch treq.AuthMethod {
	case authMethodBasic, "":
		// RFC 6749 §2.3.1: form-urlencode both before Base64, which
		// SetBasicAuth alone does not; matters for ':' in the client ID
		basic = func(req *http.Request) {
			req.SetBasicAuth(url.QueryEscape(treq.ClientID), url.QueryEscape(treq.ClientSecret))
		}
	case authMethodPost:
		form.Set("client_id", treq.ClientID)
		form.Set("client_secret", treq.ClientSecret)
	default:
		return nil, fmt.Errorf("unsupported client authentication method %q", treq.AuthMethod)
	}
	return postTokenForm(ctx, client, tokenURL, form, basic, red)
}

// postTokenForm POSTs form to the token endpoint tokenURL, authenticated
// by auth if not nil, and returns the successful response. What the
// request carries (credentials, a code, a token to exchange) is sent over
// https, or over http only to a loopback address, and only to tokenURL:
// redirects are not followed. A successful response must carry an access
// token of type Bearer, the only kind fed_oidc accepts; a missing
// token_type is refused too, since RFC 6749 §5.1 requires it. Every error
// is redacted by red, which knows what the request carried.
func postTokenForm(ctx context.Context, client *http.Client, tokenURL string, form url.Values, auth func(*http.Request), red *secretRedactor) (_ *tokenResponse, err error) {
	defer func() { err = red.redactErr(err) }()

	u, err := url.Parse(tokenURL)
	if err != nil {
		return nil, fmt.Errorf("parsing token URL: %w", err)
	}
	if err := checkMetadataURL(tokenURL, isLoopback(u.Hostname())); err != nil {
		return nil, fmt.Errorf("token URL: %w", err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("creating token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != nil {
		auth(req)
	}

	// A redirect would send the credentials on to a URL the server chose:
	// Go resends the body on 307/308 and keeps Authorization on the host.
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirects.Do(req)
	if err != nil {
		return nil, fmt.Errorf("requesting token: %w", err)
	}
	defer resp.Body.Close()
	// the code's standard text, not the server's reason phrase
	status := strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode))

	body, err := readLimited(resp.Body, maxTokenResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("reading token response (%s): %w", status, err)
	}

	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return nil, fmt.Errorf("requesting token: %s: the token endpoint redirects, and credentials are not sent on; give its final URL", status)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, tokenEndpointError(status, body, red)
	}

	tresp := &tokenResponse{Raw: body}
	if err := json.Unmarshal(body, tresp); err != nil {
		// the error from encoding/json does not quote the body, which holds the token
		return nil, fmt.Errorf("decoding token response: %w", err)
	}
	if tresp.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	if !strings.EqualFold(tresp.TokenType, "Bearer") {
		return nil, fmt.Errorf("token response has token_type %q, want Bearer", red.redact(tresp.TokenType))
	}
	return tresp, nil
}

// tokenEndpointError describes a failed token request by its status and
// OAuth error, if the body has one. The server's text is redacted, in
// case the server echoes the request, then quoted, so it cannot inject
// terminal control sequences.
func tokenEndpointError(status string, body []byte, red *secretRedactor) error {
	var oauthErr tokenErrorResponse
	if json.Unmarshal(body, &oauthErr) != nil || oauthErr.Error == "" {
		return fmt.Errorf("requesting token: unexpected status %s", status)
	}
	if oauthErr.ErrorDescription == "" {
		return fmt.Errorf("requesting token: %s: %q", status, red.redact(oauthErr.Error))
	}
	return fmt.Errorf("requesting token: %s: %q: %q", status, red.redact(oauthErr.Error), red.redact(oauthErr.ErrorDescription))
}
