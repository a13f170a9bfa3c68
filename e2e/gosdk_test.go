package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGoSDK: our Caddy as OpenFaaS's own issuer (system_issuer), driven
// by the real go-sdk (e2e/gosdk, the gosdk-e2e program: its
// ExchangeIDToken, TokenAuth, GetNamespaces, GetFunctions and
// InvokeFunction) and by the real faas-cli invoke, both answering the
// "IAM function invoke" realm with a function token.
func TestGoSDK(t *testing.T) {
	s := newExampleStack(t)
	ctx := context.Background()
	fatal := failWithCaddyLog(t, s)
	if _, err := os.Stat(filepath.Join(s.Bin, "gosdk-e2e")); err != nil {
		t.Fatalf("%v: e2e/stack.sh build (scripts/build.sh) builds it", err)
	}

	// The worked example's objects, the CI role's policy cut to listing
	// and invoking in staging: the auditor's read-only policy has no
	// Function:Invoke, and the feature branch matches no role.
	objs := s.IAMObjects("refs/heads/main")
	rw := `["Function:*", "Secret:*", "Namespace:List"]`
	if !strings.Contains(objs["policies.yaml"], rw) {
		t.Fatalf("policies.yaml no longer grants %s to CI", rw)
	}
	objs["policies.yaml"] = strings.Replace(objs["policies.yaml"], rw, `[Function:List, Function:Invoke, Namespace:List]`, 1)
	iamDir := filepath.Join(s.Dir, "iam")
	fatal(WriteFiles(iamDir, objs))
	fatal(s.StartGateway(ctx))
	fatal(s.StartIdP(ctx))
	fatal(s.StartCIIdP(ctx))
	fatal(s.StartCaddyWith(ctx, s.IAMCaddyfile(fmt.Sprintf(`
		iam %s
		system_issuer %s {
			signing_key_file %s
		}`, iamDir, s.IAMURL, writeSigningKey(t, s.Dir)))))

	gw := s.IAMURL
	automation, auditor, ciMain, ciFeature := exampleSubjects(s, fatal)
	for fn, ns := range map[string]string{"echo": "staging", "env": "dev"} {
		if out, err := s.FaaSCLI(gw, automation, "deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", fn, "-n", ns); err != nil || !strings.Contains(out, "202") {
			t.Fatalf("automation deploy of %s.%s: %v\n%s\n--- caddy log:\n%s", fn, ns, err, out, s.Log("caddy"))
		}
	}

	// goSDK runs gosdk-e2e with subject as its IdP token and returns its
	// JSON answer, whose "error" is set when it failed.
	goSDK := func(t *testing.T, subject, stdin string, args ...string) map[string]any {
		t.Helper()
		f := filepath.Join(t.TempDir(), "subject-token")
		if err := os.WriteFile(f, []byte(subject), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := s.Run("gosdk-e2e", stdin, append([]string{"-gateway", gw, "-subject-token-file", f}, args...)...)
		var res map[string]any
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
			t.Fatalf("gosdk-e2e %s: %v, %v:\n%s", strings.Join(args, " "), err, jerr, out)
		}
		if (err != nil) != (res["error"] != nil) {
			t.Fatalf("gosdk-e2e %s: exit %v with %v", strings.Join(args, " "), err, res)
		}
		return res
	}
	// exchange gets an OpenFaaS access token with go-sdk's ExchangeIDToken.
	exchange := func(t *testing.T, subject string) (string, map[string]any) {
		t.Helper()
		res := goSDK(t, subject, "", "exchange")
		tok, _ := res["access_token"].(string)
		if res["error"] != nil || tok == "" {
			t.Fatalf("exchange: %v", res)
		}
		return tok, res
	}
	// invocations are the provider's requests for functions since the last call.
	invocations := func(t *testing.T) []ProviderRequest {
		t.Helper()
		reqs, err := s.ProviderRequests()
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(reqs, func(r ProviderRequest) bool { return !strings.HasPrefix(r.Path, "/function/") })
	}
	realmRetried := func(t *testing.T, res map[string]any) {
		t.Helper()
		if res["first_status"] != 401.0 || res["realm"] != "IAM function invoke" {
			t.Errorf("the call without a token: %v, want 401 with realm \"IAM function invoke\"", res)
		}
	}

	// noFunctionToken: InvokeFunction gets the realm, and go-sdk's
	// function-token exchange is refused (the subject may not invoke the
	// function), so nothing reaches the function.
	noFunctionToken := func(t *testing.T, subject, ns, fn string) {
		t.Helper()
		res := goSDK(t, subject, "ping", "invoke", ns, fn)
		realmRetried(t, res)
		if e, _ := res["error"].(string); !strings.Contains(e, "failed to get function access token: invalid_target: the token may not invoke "+ns+":"+fn) {
			t.Errorf("InvokeFunction %s:%s: %v, want the function-token exchange refused", ns, fn, res)
		}
		if got := invocations(t); len(got) != 0 {
			t.Errorf("the provider got %+v", got)
		}
	}

	t.Run("go-sdk: exchange, list and invoke through the realm retry", func(t *testing.T) {
		tok, res := exchange(t, ciMain)
		c := tokenClaims(t, tok)
		// The CI issuer's tokenExpiry is 30m.
		if n, _ := res["expires_in"].(float64); n < 1790 || n > 1800 {
			t.Errorf("expires_in %v, want about 1800", res["expires_in"])
		}
		if c["iss"] != gw || !slices.Contains(audiences(c["aud"]), gw) || c["sub"] != "fed:repo:acme/app:ref:refs/heads/main" ||
			c["fed:iss"] != s.CIIdPURL || fmt.Sprint(c["policy"]) != "[staging-rw]" || c["repository"] != CIRepository {
			t.Errorf("access token claims: %v", c)
		}
		if res := goSDK(t, ciMain, "", "namespaces"); fmt.Sprint(res["namespaces"]) != "[staging]" || res["error"] != nil {
			t.Errorf("GetNamespaces: %v, want [staging]", res)
		}
		if res := goSDK(t, ciMain, "", "functions", "staging"); fmt.Sprint(res["functions"]) != "[echo]" || res["error"] != nil {
			t.Errorf("GetFunctions staging: %v, want [echo]", res)
		}
		if res := goSDK(t, ciMain, "", "functions", "dev"); res["error"] == nil {
			t.Errorf("GetFunctions dev: %v, want an error (403)", res)
		}

		invocations(t)
		res = goSDK(t, ciMain, "ping", "invoke", "staging", "echo")
		realmRetried(t, res)
		if res["status"] != 200.0 || res["body"] != "hello from echo: ping" {
			t.Errorf("InvokeFunction with a function token: %v", res)
		}
		// The function gets the call once, and no token.
		if got := invocations(t); len(got) != 1 || got[0].Authorization != "" {
			t.Errorf("the provider's invocations: %+v, want one without Authorization", got)
		}

		// Another namespace: the function token is refused at the exchange.
		noFunctionToken(t, ciMain, "dev", "env")
	})

	t.Run("go-sdk: a role without Function:Invoke lists but gets no function token", func(t *testing.T) {
		tok, _ := exchange(t, auditor)
		if c := tokenClaims(t, tok); c["sub"] != "fed:"+Auth0Client+"@clients" || fmt.Sprint(c["policy"]) != "[read-only]" || c["fed:iss"] != s.IdPURL {
			t.Errorf("access token claims: %v", c)
		}
		if res := goSDK(t, auditor, "", "functions", "staging"); fmt.Sprint(res["functions"]) != "[echo]" {
			t.Errorf("GetFunctions staging: %v", res)
		}
		noFunctionToken(t, auditor, "staging", "echo")
	})

	t.Run("go-sdk: no matching role is 400 No policies found", func(t *testing.T) {
		res := goSDK(t, ciFeature, "", "exchange")
		// go-sdk returns an OAuthError only for a 400 with an OAuth body.
		if res["oauth_error"] != "invalid_request" || res["error_description"] != "No policies found for subject: repo:acme/app:ref:refs/heads/feature" {
			t.Errorf("exchange: %v", res)
		}
		// TokenAuth fails the API call the same way, before sending it.
		if res := goSDK(t, ciFeature, "", "functions", "staging"); !strings.Contains(fmt.Sprint(res["error"]), "No policies found for subject") {
			t.Errorf("GetFunctions: %v", res)
		}
	})

	t.Run("faas-cli invoke answers the realm with a function token", func(t *testing.T) {
		// faas-cli 0.17.0's invoke has no --token: it takes the token
		// stored for the gateway, as a login stores it.
		ci, _ := exchange(t, ciMain)
		fatal(s.StoreFaaSCLIToken(gw, ci))
		t.Cleanup(func() { _ = s.StoreFaaSCLIToken(gw, "") })
		invoke := func(stdin string, args ...string) (string, error) {
			return s.Run("faas-cli", stdin, append([]string{"invoke", "echo", "-n", "staging", "-g", gw}, args...)...)
		}
		invocations(t)
		if out, err := invoke("ping"); err != nil || strings.TrimSpace(out) != "hello from echo: ping" {
			t.Errorf("faas-cli invoke with a role granting Function:Invoke: %v\n%s", err, out)
		}
		if got := invocations(t); len(got) != 1 || got[0].Authorization != "" {
			t.Errorf("the provider's invocations: %+v, want one without Authorization", got)
		}
		if out, err := s.Run("faas-cli", "", "list", "-n", "staging", "-g", gw); err != nil || !strings.Contains(out, "echo") {
			t.Errorf("faas-cli list with the stored access token: %v\n%s", err, out)
		}

		ro, _ := exchange(t, auditor)
		fatal(s.StoreFaaSCLIToken(gw, ro))
		if out, err := invoke("ping"); err == nil || !strings.Contains(out, "invalid_target: the token may not invoke staging:echo") {
			t.Errorf("faas-cli invoke with no Function:Invoke: %v\n%s", err, out)
		}
		// The same token sent on the invocation itself is decided by its
		// policies: 403.
		out, err := invoke("ping", "-H", "Authorization=Bearer "+ro)
		if m := Refusal.FindStringSubmatch(out); err == nil || m == nil || m[1] != "403" {
			t.Errorf("faas-cli invoke -H with no Function:Invoke: %v\n%s", err, out)
		}
		if got := invocations(t); len(got) != 0 {
			t.Errorf("the provider got %+v", got)
		}
	})
}

// audiences reads an aud claim, a string or an array.
func audiences(aud any) []string {
	switch a := aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	return nil
}

// writeSigningKey writes a new P-256 key into dir (writeP256Key) and
// returns its path.
func writeSigningKey(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "issuer.key")
	if err := writeP256Key(file); err != nil {
		t.Fatal(err)
	}
	return file
}
