// Command demo runs the federated gateway end to end on 127.0.0.1 and
// narrates it: the real OpenFaaS gateway with basic auth, a real OIDC
// provider, our Caddy with fed_oidc in front, and faas-cli calls that get
// 200 with a token, 401 without one, and 403 on a function path without
// allow_invoke. Then IAM (iam.go): the README's worked example, CI
// deploys to staging only and an auditor reads everything, with its
// audit webhook and metrics. scripts/demo.sh builds the binaries and
// runs it.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/caddy-fedauth/caddy-fedauth/e2e"
)

func main() {
	bin := flag.String("bin", "bin", "directory with caddy, faas-cli, gateway and fakeprovider")
	keep := flag.Bool("keep", false, "keep everything running until Ctrl-C")
	flag.Parse()
	if err := run(*bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

var failures int

func step(format string, args ...any) { fmt.Printf("\n\033[1m== "+format+"\033[0m\n", args...) }
func cmdline(args ...string)          { fmt.Printf("$ %s\n", strings.Join(args, " ")) }

// expect reports an outcome and counts it if it is not the one expected.
func expect(ok bool, what string) {
	mark := "ok"
	if !ok {
		mark = "UNEXPECTED"
		failures++
	}
	fmt.Printf("   [%s] %s\n", mark, what)
}

func run(bin string, keep bool) (err error) {
	dir, err := os.MkdirTemp("", "fedauth-demo-")
	if err != nil {
		return err
	}
	// A failed run keeps its logs.
	defer func() {
		if err == nil {
			os.RemoveAll(dir)
		} else if failures == 0 {
			err = fmt.Errorf("%w\nlogs in %s", err, dir)
		}
	}()
	s, err := e2e.New(bin, dir)
	if err != nil {
		return err
	}
	defer s.Stop()
	s.Namespaces = []string{"openfaas-fn", "staging", "dev"}
	ctx := context.Background()

	step("The customer's OpenFaaS gateway (basic auth on, namespaces %s) at %s", strings.Join(s.Namespaces, ","), s.GatewayURL)
	if err := s.StartGateway(ctx); err != nil {
		return err
	}
	fmt.Println("   Its admin password lives only in the cluster's secret; nobody outside needs it.")

	step("Our identity provider (node oidc-provider, client-credentials grant) at %s", s.IdPURL)
	if err := s.StartIdP(ctx); err != nil {
		return err
	}

	step("The federated gateway: our Caddy with fed_oidc in front of it")
	fmt.Println(indent(s.Caddyfile()))
	if err := s.StartCaddy(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, s.Log("caddy"))
	}

	step("Get a short-lived access token (Keycloak-style client: aud = client id)")
	cmdline("caddy fed-oidc token --issuer", s.IdPURL, "--client-id", e2e.KeycloakClient, "--client-secret-file ...")
	token, err := s.Token(e2e.KeycloakClient)
	if err != nil {
		return fmt.Errorf("token: %v: %s", err, token)
	}
	fmt.Printf("   %s...\n   claims: %s\n", token[:40], claims(token, "iss", "aud", "azp", "client_id", "exp"))

	step("faas-cli through the federated gateway, with the token")
	tls := []string{"-g", s.SecureURL, "--tls-no-verify"}
	out, err := faas(s, "", append([]string{"deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", "hello", "--token", token}, tls...)...)
	expect(err == nil && strings.Contains(out, "202"), "deploy accepted (202)")
	out, err = faas(s, "", append([]string{"list", "--token", token}, tls...)...)
	expect(err == nil && strings.Contains(out, "hello"), "list shows the function (200)")

	step("The same calls without a token, or with a token for another tenant")
	code, challenge := status(s, s.SecureURL+"/system/functions", "")
	// Caddy's internal CA issued the site's certificate: trust its root
	cmdline("curl --cacert", s.CACert(), s.SecureURL+"/system/functions")
	fmt.Printf("   %d  WWW-Authenticate: %s\n", code, challenge)
	expect(code == 401, "no token: 401")
	_, err = faas(s, "", append([]string{"list"}, tls...)...)
	expect(err != nil, "faas-cli list without --token fails")
	other, err := s.Token(e2e.OtherClient)
	if err != nil {
		return err
	}
	code, challenge = status(s, s.SecureURL+"/system/functions", other)
	fmt.Printf("   token for %s: %d  WWW-Authenticate: %s\n", e2e.OtherClient, code, challenge)
	expect(code == 401, "another tenant's token: 401")

	step("Invoking a function: refused unless allow_invoke")
	out, err = faas(s, "hi", append([]string{"invoke", "hello", "-H", "Authorization=Bearer " + token}, tls...)...)
	expect(err != nil && strings.Contains(out, "403"), "403 on "+s.SecureURL+" (no allow_invoke)")
	out, err = faas(s, "hi", "invoke", "hello", "-g", s.InvokeURL, "-H", "Authorization=Bearer "+token)
	expect(err == nil && strings.Contains(out, "hello from hello"), "200 on "+s.InvokeURL+" (allow_invoke)")

	step("Decisions on Caddy's metrics endpoint (%s/metrics)", s.AdminURL)
	for _, o := range []string{"allowed", "missing_token", "wrong_audience", "path_denied"} {
		v, _ := s.Metric(`caddy_fed_oidc_decisions_total{issuer="` + s.IdPURL + `",outcome="` + o + `"}`)
		fmt.Printf("   caddy_fed_oidc_decisions_total{outcome=%q} %s\n", o, v)
	}

	// The receiver outlives runIAM, for --keep.
	receiver, err := e2e.StartAuditReceiver(auditSecret)
	if err != nil {
		return err
	}
	defer receiver.Close()
	if err := runIAM(ctx, s, token, receiver); err != nil {
		return fmt.Errorf("%w\n%s", err, s.Log("caddy"))
	}

	if failures > 0 {
		return fmt.Errorf("%d outcomes were not as expected; logs in %s", failures, dir)
	}
	step("Done: 200 with a token, 401 without one, 403 on a function path without allow_invoke; " +
		"with IAM, CI on main deploys to staging only, an auditor reads everything and changes nothing, each decision audited and counted")
	if keep {
		fmt.Printf("\nStill running; try:\n"+
			"  TOKEN=$(%s/caddy fed-oidc token --issuer %s --client-id %s --client-secret-file %s/%s.secret)\n"+
			"  OPENFAAS_CONFIG=%s %s/faas-cli list -g %s --tls-no-verify --token \"$TOKEN\"\n"+
			"  curl --cacert %s -H \"Authorization: Bearer $TOKEN\" %s/system/functions\n"+
			"  CI=$(%s/caddy fed-oidc token --issuer %s --client-id %s --client-secret-file %s --audience %s)\n"+
			"  OPENFAAS_CONFIG=%s %s/faas-cli namespaces -g %s --token \"$CI\"\n"+
			"IAM objects in %s/iam (re-read every 2s). Ctrl-C to stop.\n",
			s.Bin, s.IdPURL, e2e.KeycloakClient, dir, e2e.KeycloakClient,
			s.FaaSCLIConfig(), s.Bin, s.SecureURL,
			s.CACert(), s.SecureURL,
			s.Bin, s.CIIdPURL, e2e.CIMainClient, s.SecretFile(e2e.CIMainClient), s.IAMURL,
			s.FaaSCLIConfig(), s.Bin, s.IAMURL, dir)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	}
	return nil
}

func faas(s *e2e.Stack, stdin string, args ...string) (string, error) {
	shown := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "ey") || strings.HasPrefix(a, "Authorization=Bearer ") {
			a = a[:min(len(a), 30)] + "..."
		}
		shown[i] = a
	}
	cmdline(append([]string{"faas-cli"}, shown...)...)
	out, err := s.Run("faas-cli", stdin, args...)
	fmt.Print(indent(strings.TrimRight(out, "\n")) + "\n")
	return out, err
}

func status(s *e2e.Stack, url, token string) (int, string) {
	c, err := s.HTTPClient()
	if err != nil {
		return 0, err.Error()
	}
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// claims decodes the given claims of a token's payload for display; the
// demo's own tokens only.
func claims(token string, keys ...string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "?"
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "?"
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	shown := map[string]any{}
	for _, k := range keys {
		shown[k] = m[k]
	}
	out, _ := json.Marshal(shown)
	return string(out)
}

func indent(s string) string { return "   " + strings.ReplaceAll(s, "\n", "\n   ") }
