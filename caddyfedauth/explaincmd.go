package caddyfedauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// Exit statuses of explain.
const (
	explainAllowed = 0
	explainDenied  = 1 // denied, refused, or a token that may do nothing
	explainUsage   = 2 // usage, config or environment error: nothing was decided
)

// defaultExplainTimeout bounds the wait for the issuer's keys.
const defaultExplainTimeout = 10 * time.Second

// errDenied makes caddycmd exit with status 1; the output says why.
var errDenied = errors.New("not allowed")

func cmdFedOIDCExplain(fl caddycmd.Flags, out io.Writer) (int, error) {
	in := explainInput{
		method:       fl.String("method"),
		target:       fl.String("path"),
		host:         fl.String("host"),
		keysDeadline: fl.Duration("timeout"),
	}
	switch {
	case fl.String("token") == "":
		return explainUsage, errors.New("--token is required")
	case in.target == "" && (in.method != "" || fl.String("body") != ""):
		return explainUsage, errors.New("--method and --body need --path")
	case in.target != "" && !strings.HasPrefix(in.target, "/"):
		return explainUsage, fmt.Errorf("--path %q: want a path and query, starting with /", in.target)
	case in.keysDeadline <= 0:
		return explainUsage, errors.New("--timeout must be positive")
	}
	if in.method == "" {
		in.method = http.MethodGet
	}
	var err error
	if in.token, err = flagValue("--token", fl.String("token")); err != nil {
		return explainUsage, err
	}
	in.token = strings.TrimSpace(in.token)
	if body := fl.String("body"); body != "" {
		b, err := flagValue("--body", body)
		if err != nil {
			return explainUsage, err
		}
		in.body = []byte(b)
	}

	cfg, _, _, err := caddycmd.LoadConfig(fl.String("config"), fl.String("adapter"))
	if err != nil {
		return explainUsage, err
	}
	if len(cfg) == 0 {
		return explainUsage, errors.New("no config: use --config")
	}
	sites, err := findSites(cfg)
	if err != nil {
		return explainUsage, err
	}
	site, err := pickSite(sites, in.host)
	if err != nil {
		return explainUsage, err
	}
	if in.host == "" {
		in.host = "localhost"
		if len(site.Hosts) > 0 && !strings.ContainsAny(site.Hosts[0], "*{") {
			in.host = site.Hosts[0]
		}
	}

	dir, err := os.MkdirTemp("", "fed-oidc-explain-")
	if err != nil {
		return explainUsage, err
	}
	defer os.RemoveAll(dir)
	h, err := provisionSite(site, dir)
	if err != nil {
		return explainUsage, err
	}
	defer h.close()
	e, err := h.explain(context.Background(), in)
	if err != nil {
		return explainUsage, err
	}

	var text strings.Builder
	if fl.Bool("json") {
		enc := json.NewEncoder(&text)
		enc.SetIndent("", "  ")
		err = enc.Encode(e)
	} else {
		err = e.writeText(&text)
	}
	if err != nil {
		return explainUsage, err
	}
	// The token is not in the explanation; should a library's error
	// quote it one day, it is cut out here.
	if _, err := io.WriteString(out, strings.ReplaceAll(text.String(), in.token, "[token]")); err != nil {
		return explainUsage, fmt.Errorf("writing output: %w", err)
	}
	if !e.Allowed {
		return explainDenied, errDenied
	}
	return explainAllowed, nil
}

// flagValue is v, or the contents of the file it names as @file.
func flagValue(flag, v string) (string, error) {
	name, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return string(b), nil
}

// explainCommand is `caddy fed-oidc explain`.
func explainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain --config <path> [--adapter <name>] [--host <host>] --token <jwt|@file> [--method <method> --path <path?query> [--body <json|@file>]] [--json]",
		Short: "Explains what a fed_oidc handler decides for a token and a request",
		Long: `
Loads the config (as 'caddy run' does: a Caddyfile is adapted), finds
its fed_oidc handler (with several, --host picks the site by its host
matcher), provisions it as Caddy would and fetches the issuers' keys.

With --path, it runs the request (--method, default GET; --body, as
faas-cli sends it) with the token through the handler's own ServeHTTP,
and prints the issuer the token's iss chose (or why the token was
refused), the token's sub, azp and client_id, each IAM role and whether
the token matches it (and why not), the action and resource the request
maps to (or why it cannot be decided: 400, 405, 413), the statement
that decided, the status the handler answered, and what went on to the
gateway: the query (rewritten where a provider reads the namespace from
it), the body, and the gateway credential.

With --token alone, it lists what the token may do: per namespace
that its statements name (and the default namespace), cluster-wide,
and the statements that apply to it.

--json prints the same as one JSON object. The exit status is 0 when
the request is allowed (or the token may do something), 1 when it is
denied or refused (also when dry_run only logs the denial), and 2 for a
usage or config error, or an issuer whose keys cannot be fetched
within --timeout.

--token and --body take a value, or @file to read it from a file; a
token given as a value is visible to other users in the process list,
so prefer @file. The token is never printed. Nothing is sent anywhere
but to the issuers, for their keys: the audit webhook is left out, and
gateway_basic_auth is replaced by a stand-in, so no secret is read.`,
		Example: `  $ caddy fed-oidc explain --config Caddyfile --token @ci.jwt \
      --method GET --path '/system/functions?namespace=staging'
  $ caddy fed-oidc explain --config Caddyfile --token @ci.jwt --json`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringP("config", "c", "", "Configuration file (default: ./Caddyfile)")
	cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply")
	cmd.Flags().String("host", "", "Host of the site whose fed_oidc handler to use")
	cmd.Flags().String("token", "", "Access token, or @file holding it (required)")
	cmd.Flags().String("method", "", "Method of the request (default GET)")
	cmd.Flags().String("path", "", "Path and query of the request, e.g. '/system/functions?namespace=staging'")
	cmd.Flags().String("body", "", "Body of the request, or @file holding it")
	cmd.Flags().Bool("json", false, "Print one JSON object")
	cmd.Flags().Duration("timeout", defaultExplainTimeout, "Time limit for fetching the issuer's keys")
	cmd.RunE = caddycmd.WrapCommandFuncForCobra(func(fl caddycmd.Flags) (int, error) {
		return cmdFedOIDCExplain(fl, cmd.OutOrStdout())
	})
	return cmd
}
