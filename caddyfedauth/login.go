package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddyserver/caddy/v2"
)

// Defaults of `caddy fed-oidc login`.
const (
	defaultLoginPort    = 31111 // faas-cli pro auth's
	defaultLoginHost    = "127.0.0.1"
	defaultLoginScope   = "openid profile email"
	defaultLoginTimeout = 5 * time.Minute
)

func loginCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login --gateway <url> --authority <issuer> --client-id <id>",
		Short: "Logs in to an OpenFaaS gateway and saves the token for faas-cli",
		Long: `
Single sign-on for faas-cli. Logs in at the identity provider (--authority,
found by OpenID Connect discovery), exchanges the ID token for an OpenFaaS
access token at the gateway (POST <gateway>/oauth/token, RFC 8693, as
go-sdk and faas-cli send it), and saves that token in faas-cli's config
file as the gateway's oauth2 credential, so that faas-cli needs no --token
afterwards:

  $ caddy fed-oidc login --gateway https://gw.example.com \
      --authority https://keycloak.example.com/realms/openfaas --client-id openfaas
  $ faas-cli list -g https://gw.example.com

A person logs in with the authorization code flow and PKCE (S256): the
command prints the login URL, opens a browser when there is one (not with
--no-browser, nor on Linux without DISPLAY or WAYLAND_DISPLAY), and waits,
up to --timeout, for the browser's redirect to
http://<--redirect-host>:<--port>/oauth/callback, on 127.0.0.1 only. The
identity provider must know the client as a public client with that
redirect URI (port 0 takes a free port, which IdPs that follow RFC 8252
accept for loopback redirects). The state, the nonce (in the ID token,
whose signature is checked against the issuer's JWKS) and the issuer of
the answer are checked.

A machine logs in with the client-credentials grant instead, when
--client-secret-file is given; the access token it gets is exchanged and
saved the same way. --scope is then sent only when given.

--no-exchange saves the identity provider's token itself, for a gateway
that accepts it directly (a fed_oidc audience of the client ID) or for
inspection. --print-token prints the saved token on stdout; --pretty
prints its decoded header and payload as JSON (unverified: for reading).

faas-cli's config directory is $OPENFAAS_CONFIG, else ./.openfaas when
CI is true, else ~/.openfaas, as faas-cli reads it; --config-dir names
another. The gateway's entry is replaced, every other one kept; the file
is written atomically with mode 0600.`,
		Example: `  $ caddy fed-oidc login --gateway https://gw.example.com \
      --authority https://keycloak.example.com/realms/openfaas --client-id openfaas --pretty
  $ caddy fed-oidc login --gateway https://gw.example.com \
      --authority https://keycloak.example.com/realms/openfaas --client-id ci \
      --client-secret-file /var/secrets/ci-secret`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("gateway", "", "URL of the OpenFaaS gateway (default: $OPENFAAS_URL)")
	f.String("authority", "", "Issuer URL of the identity provider (required)")
	f.String("client-id", "", "OAuth client ID at the identity provider (required)")
	f.String("client-secret-file", "", "File holding a machine client's secret: client credentials instead of a browser")
	f.Int("port", defaultLoginPort, "Port of the loopback redirect (0: a free port)")
	f.String("redirect-host", defaultLoginHost, "Host of the loopback redirect: 127.0.0.1 or localhost")
	f.String("scope", defaultLoginScope, "Space-separated scopes to request")
	f.String("audience", "", "Audience to request (Auth0)")
	f.String("ca-bundle", "", "PEM file of CA certificates to trust in addition to the system roots")
	f.Bool("no-exchange", false, "Save the identity provider's token, not the gateway's")
	f.Bool("print-token", false, "Print the token on stdout")
	f.Bool("pretty", false, "Print the token's decoded header and payload on stdout")
	f.Bool("no-browser", false, "Only print the login URL")
	f.Duration("timeout", defaultLoginTimeout, "Time limit for the whole login")
	f.String("config-dir", "", "faas-cli's config directory (default: faas-cli's)")
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return cmdFedOIDCLogin(fl, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
	return cmd
}

// loginOptions are the flags of a login.
type loginOptions struct {
	gateway, authority, clientID, secretFile string
	port                                     int
	redirectHost, scope, audience, caBundle  string
	noExchange, printToken, pretty           bool
	timeout                                  time.Duration
	configDir                                string

	// openURL is given the login URL once it is printed; nil: none
	openURL func(string) error
}

func cmdFedOIDCLogin(fl caddycmd.Flags, stdout, stderr io.Writer) (int, error) {
	o := loginOptions{
		gateway:      fl.String("gateway"),
		authority:    fl.String("authority"),
		clientID:     fl.String("client-id"),
		secretFile:   fl.String("client-secret-file"),
		port:         fl.Int("port"),
		redirectHost: fl.String("redirect-host"),
		scope:        fl.String("scope"),
		audience:     fl.String("audience"),
		caBundle:     fl.String("ca-bundle"),
		noExchange:   fl.Bool("no-exchange"),
		printToken:   fl.Bool("print-token"),
		pretty:       fl.Bool("pretty"),
		timeout:      fl.Duration("timeout"),
		configDir:    fl.String("config-dir"),
	}
	if o.gateway == "" {
		o.gateway = os.Getenv("OPENFAAS_URL")
	}
	if o.secretFile != "" && !fl.Changed("scope") {
		o.scope = "" // a machine client's grant needs none
	}
	if !fl.Bool("no-browser") {
		o.openURL = openBrowser
	}
	switch {
	case o.gateway == "":
		return caddy.ExitCodeFailedStartup, errors.New("--gateway is required (or set OPENFAAS_URL)")
	case o.authority == "":
		return caddy.ExitCodeFailedStartup, errors.New("--authority is required")
	case o.clientID == "":
		return caddy.ExitCodeFailedStartup, errors.New("--client-id is required")
	case o.port < 0 || o.port > 65535:
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--port %d: want 0 to 65535", o.port)
	case o.timeout <= 0:
		return caddy.ExitCodeFailedStartup, errors.New("--timeout must be positive")
	}
	if err := checkRedirectHost(o.redirectHost); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("--redirect-host: %w", err)
	}
	if o.configDir == "" {
		dir, err := faasCLIConfigDir()
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		o.configDir = dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := o.run(ctx, stdout, stderr); err != nil {
		return caddy.ExitCodeFailedStartup, err
	}
	return caddy.ExitCodeSuccess, nil
}

// run logs in, exchanges and saves; what it says goes to stderr, the
// token (if asked for) to stdout.
func (o loginOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	gateway := faasCLIGatewayURL(o.gateway)
	// the token goes there, and faas-cli will send it there
	if err := checkMetadataURL(gateway, true); err != nil {
		return fmt.Errorf("--gateway: %w", err)
	}
	var caPEM []byte
	if o.caBundle != "" {
		var err error
		if caPEM, err = os.ReadFile(o.caBundle); err != nil {
			return fmt.Errorf("reading CA bundle: %w", err)
		}
	}
	client, err := newHTTPClientWithCAs(o.caBundle, caPEM, min(o.timeout, defaultHTTPTimeout))
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()

	meta, err := fetchDiscovery(ctx, client, o.authority)
	if err != nil {
		return err
	}
	var idpToken string
	if o.secretFile != "" {
		secret, err := loadClientSecret(o.secretFile)
		if err != nil {
			return err
		}
		if meta.TokenEndpoint == "" {
			return fmt.Errorf("discovery document of %s has no token_endpoint", o.authority)
		}
		tresp, err := requestClientCredentialsToken(ctx, client, meta.TokenEndpoint, tokenRequest{
			ClientID: o.clientID, ClientSecret: secret, Audience: o.audience, Scope: o.scope,
		})
		if err != nil {
			return err
		}
		idpToken = tresp.AccessToken
	} else {
		keys := keySourceSettings{Issuer: o.authority, JWKSURL: meta.JWKSURI, CABundle: o.caBundle, caPEM: caPEM}
		if idpToken, err = o.browserLogin(ctx, client, meta, keys, stderr); err != nil {
			return err
		}
	}

	token := idpToken
	if !o.noExchange {
		tresp, err := exchangeAtGateway(ctx, client, gateway, idpToken)
		if err != nil {
			return fmt.Errorf("exchanging the token at %s: %w", gateway, err)
		}
		token = tresp.AccessToken
	}
	path, err := saveFaaSCLIToken(o.configDir, gateway, token)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token saved for %s in %s\n", gateway, path)
	if o.printToken {
		if _, err := fmt.Fprintln(stdout, token); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	if o.pretty {
		if err := writeDecodedJWT(stdout, token); err != nil {
			return err
		}
	}
	return nil
}

// browserLogin runs the authorization code flow and returns the verified
// ID token.
func (o loginOptions) browserLogin(ctx context.Context, client *http.Client, meta *providerMetadata, keys keySourceSettings, stderr io.Writer) (string, error) {
	cb, err := listenCallback(o.redirectHost, o.port)
	if err != nil {
		return "", err
	}
	l, err := newAuthCodeLogin(o.authority, meta, o.clientID, o.scope, o.audience, cb.redirectURI)
	if err != nil {
		cb.close()
		return "", err
	}
	authURL := l.authURL()
	fmt.Fprintf(stderr, "Open this URL in a browser to log in:\n\n    %s\n\n", authURL)
	if o.openURL != nil {
		if err := o.openURL(authURL); err != nil && !errors.Is(err, errNoBrowser) {
			fmt.Fprintf(stderr, "(no browser opened: %v)\n", err)
		}
	}
	code, err := cb.wait(ctx, l.checkCallback)
	if err != nil {
		return "", err
	}
	tresp, err := l.redeem(ctx, client, code, keys)
	if err != nil {
		return "", err
	}
	return tresp.IDToken, nil
}

// errNoBrowser: there is no desktop to open a browser on.
var errNoBrowser = errors.New("no browser")

// openBrowser hands u to the desktop's URL opener, without waiting for
// it: on Linux only when a display is there, since xdg-open would
// otherwise start a text browser in our terminal.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errNoBrowser
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// writeDecodedJWT prints a JWT's header and payload, decoded and not
// verified, as faas-cli pro auth --pretty does: one JSON object with
// "header" and "payload", indented by two spaces, numbers as sent.
func writeDecodedJWT(w io.Writer, token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("--pretty: the token is not a JWT")
	}
	var decoded [2]any
	for i, name := range [...]string{"header", "payload"} {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			return fmt.Errorf("--pretty: decoding the token's %s: %w", name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&decoded[i]); err != nil {
			return fmt.Errorf("--pretty: decoding the token's %s: %w", name, err)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		Header  any `json:"header"`
		Payload any `json:"payload"`
	}{decoded[0], decoded[1]})
	if err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}
