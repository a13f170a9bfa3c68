package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/e2e"
)

// auditSecret is the HMAC key the audit webhook signs with and its
// receiver checks.
const auditSecret = "demo-audit-hmac-secret"

// runIAM narrates the README's worked example "CI deploys to staging
// only; an auditor reads everything" on a third site of the running
// Caddy: the CI issuer's GitHub-Actions-shaped tokens for main and a
// feature branch, an auditor of the provider's IdP, faas-cli, and the
// audit webhook and metrics that record the decisions.
func runIAM(ctx context.Context, s *e2e.Stack, automation string, receiver *e2e.AuditReceiver) error {
	step("IAM: a second issuer, the customer's CI (GitHub-Actions-shaped tokens), at %s", s.CIIdPURL)
	if err := s.StartCIIdP(ctx); err != nil {
		return err
	}
	secretFile := filepath.Join(s.Dir, "audit-secret")
	if err := os.WriteFile(secretFile, []byte(auditSecret+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("   An audit webhook receiver at %s checks X-Openfaas-Signature-256 on every batch.\n", receiver.URL)

	// As in the README: the provider's IdP is the flat issuer, the CI
	// issuer a JwtIssuer in the directory.
	iamDir := filepath.Join(s.Dir, "iam")
	objs := s.IAMObjects("refs/heads/main")
	delete(objs, "issuer-provider.yaml")
	if err := e2e.WriteFiles(iamDir, objs); err != nil {
		return err
	}
	step("The IAM objects in %s (apiVersion iam.openfaas.com/v1, namespace openfaas)", iamDir)
	names := make([]string, 0, len(objs))
	for n := range objs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("   # %s\n%s\n", n, indent(brief(objs[n])))
	}

	step("Caddy reloaded with a third site: fed_oidc with iam and audit_webhook")
	site := s.IAMSite(fmt.Sprintf("issuer %s\naudience %s %s\niam %s\ndefault_namespace openfaas-fn\naudit_webhook %s {\nsecret_file %s\n}",
		s.IdPURL, e2e.KeycloakClient, e2e.Audience, iamDir, receiver.URL, secretFile))
	fmt.Println(indent(strings.Trim(site, "\n")))
	cmdline("caddy reload --config", filepath.Join(s.Dir, "Caddyfile"), "--address", strings.TrimPrefix(s.AdminURL, "http://"))
	if out, err := s.ReloadCaddy(s.Caddyfile() + site); err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}

	ciMain, err := ciToken(s, e2e.CIMainClient)
	if err != nil {
		return err
	}
	gw := []string{"-g", s.IAMURL}
	step("CI on main deploys to staging, and only there")
	out, err := faas(s, "", append([]string{"deploy", "--image", "ghcr.io/acme/app:1.0.0", "--name", "app", "-n", "staging", "--token", ciMain}, gw...)...)
	expect(err == nil && strings.Contains(out, "Deployed. 202"), "deploy to staging: 202")
	out, err = faas(s, "", append([]string{"list", "-n", "staging", "--token", ciMain}, gw...)...)
	expect(err == nil && strings.Contains(out, "app"), "list -n staging shows app")
	out, _ = faas(s, "", append([]string{"list", "-n", "openfaas-fn", "--token", ciMain}, gw...)...)
	expect(refused(out) == "403", "list -n openfaas-fn: 403")
	out, err = faas(s, "", append([]string{"namespaces", "--token", ciMain}, gw...)...)
	expect(err == nil && slices.Equal(e2e.ListedNamespaces(out), []string{"staging"}), "namespaces: only staging")

	ciFeature, err := ciToken(s, e2e.CIFeatureClient)
	if err != nil {
		return err
	}
	step("The same workflow on a feature branch")
	out, _ = faas(s, "", append([]string{"deploy", "--image", "ghcr.io/acme/app:feature", "--name", "app", "-n", "staging", "--token", ciFeature}, gw...)...)
	expect(refused(out) == "403", "deploy to staging: 403")
	out, _ = faas(s, "", append([]string{"list", "-n", "staging", "--token", ciFeature}, gw...)...)
	expect(refused(out) == "403", "list -n staging: 403")

	step("The auditor (client %s of the provider's IdP; the Role auditors binds its sub)", e2e.Auth0Client)
	cmdline("caddy fed-oidc token --issuer", s.IdPURL, "--client-id", e2e.Auth0Client, "--audience", e2e.Audience, "--client-secret-file ...")
	auditor, err := s.Token(e2e.Auth0Client, "--audience", e2e.Audience)
	if err != nil {
		return fmt.Errorf("token: %v: %s", err, auditor)
	}
	fmt.Printf("   claims: %s\n", claims(auditor, "iss", "sub", "aud"))
	out, err = faas(s, "", append([]string{"namespaces", "--token", auditor}, gw...)...)
	expect(err == nil && slices.Equal(e2e.ListedNamespaces(out), s.Namespaces), "namespaces: all of them")
	out, err = faas(s, "", append([]string{"list", "-n", "staging", "--token", auditor}, gw...)...)
	expect(err == nil && strings.Contains(out, "app"), "list -n staging shows app")
	out, _ = faas(s, "", append([]string{"remove", "app", "-n", "staging", "--token", auditor}, gw...)...)
	expect(refused(out) == "403", "remove app: 403")
	out, err = faas(s, "", append([]string{"describe", "app", "-n", "staging", "--token", auditor}, gw...)...)
	expect(err == nil && strings.Contains(out, "ghcr.io/acme/app:1.0.0"),
		"describe app: still there, still main's image (the feature branch and the auditor changed nothing)")
	fmt.Println("   The provider's automation (the first token, client " + e2e.KeycloakClient + ") keeps full access:")
	out, err = faas(s, "", append([]string{"namespaces", "--token", automation}, gw...)...)
	expect(err == nil && slices.Equal(e2e.ListedNamespaces(out), s.Namespaces), "namespaces: all of them")

	auditEvents(ctx, receiver)

	step("IAM decisions on Caddy's metrics endpoint (%s/metrics)", s.AdminURL)
	const metric = "caddy_fed_oidc_iam_decisions_total"
	lines, err := s.Metrics(metric + "{")
	if err != nil {
		return err
	}
	counts, zeros := map[string]string{}, 0
	for _, l := range lines {
		series, v, _ := strings.Cut(strings.TrimPrefix(l, metric), " ")
		counts[series] = v
		if v == "0" {
			zeros++
		} else {
			fmt.Println("   " + l)
		}
	}
	fmt.Printf("   (and %d series at 0)\n", zeros)
	for _, c := range []struct{ action, outcome, n, what string }{
		{"Function:Create", "allowed", "1", "main's deploy: 1 allowed"},
		{"Function:Update", "denied_no_match", "1", "the feature branch's deploy (PUT first): 1 denied"},
		{"Function:List", "denied_no_match", "2", "main in openfaas-fn and the feature branch in staging: 2 lists denied"},
		{"Function:Delete", "denied_no_match", "1", "the auditor's remove: 1 denied"},
	} {
		series := fmt.Sprintf(`{action=%q,mode="enforce",outcome=%q}`, c.action, c.outcome)
		expect(counts[series] == c.n, c.what)
	}
	return nil
}

// ciToken gets a CI token as a GitHub Actions job does, and shows it.
func ciToken(s *e2e.Stack, client string) (string, error) {
	step("A GitHub Actions job's OIDC token (CI client %s, audience = the gateway)", client)
	cmdline("caddy fed-oidc token --issuer", s.CIIdPURL, "--client-id", client, "--audience", s.IAMURL, "--client-secret-file ...")
	token, err := s.CIToken(client)
	if err != nil {
		return "", fmt.Errorf("token: %v: %s", err, token)
	}
	fmt.Printf("   claims: %s\n", claims(token, "iss", "sub", "aud", "repository", "ref"))
	return token, nil
}

// auditEvents shows the decisions the receiver got from the webhook,
// once the three it must have got are there.
func auditEvents(ctx context.Context, receiver *e2e.AuditReceiver) {
	step("The audit webhook's events, as the receiver got them")
	wants := []struct {
		what  string
		match func(e e2e.AuditEvent) bool
	}{
		{"main's deploy, allowed", func(e e2e.AuditEvent) bool {
			return e.Actor.Sub == "repo:acme/app:ref:refs/heads/main" && e.Method == "POST" && e.Resource == "staging:app" &&
				e.ResponseCode == 202 && e.Decision == "allowed" && slices.Equal(e.Actions, []string{"Function:Create"})
		}},
		{"main's list of openfaas-fn, denied", func(e e2e.AuditEvent) bool {
			return e.Actor.Sub == "repo:acme/app:ref:refs/heads/main" && e.Method == "GET" && e.Resource == "openfaas-fn:*" &&
				e.ResponseCode == 403 && strings.HasPrefix(e.Decision, "denied")
		}},
		{"the auditor's remove, denied", func(e e2e.AuditEvent) bool {
			return e.Actor.Sub == e2e.Auth0Client+"@clients" && e.Method == "DELETE" && e.Resource == "staging:app" &&
				e.ResponseCode == 403 && strings.HasPrefix(e.Decision, "denied") && slices.Equal(e.Actions, []string{"Function:Delete"})
		}},
	}
	found := make([]*e2e.AuditEvent, len(wants))
	find := func() bool {
		all := true
		for i, w := range wants {
			for _, e := range receiver.Events() {
				if w.match(e) {
					found[i] = &e
					break
				}
			}
			all = all && found[i] != nil
		}
		return all
	}
	// The webhook sends a batch every second (flush_interval).
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !find() && wait.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	for i, w := range wants {
		if e := found[i]; e != nil {
			by := ""
			if e.Role != "" {
				by = fmt.Sprintf(", role: %s, policy: %s, sid: %s", e.Role, e.Policy, e.Sid)
			}
			fmt.Printf("   {actor.sub: %q, method: %s, path: %s, actions: %v, response_code: %d, decision: %s%s}\n",
				e.Actor.Sub, e.Method, e.Path, e.Actions, e.ResponseCode, e.Decision, by)
		}
		expect(found[i] != nil, w.what)
	}
	batches := receiver.Batches()
	verified := len(batches) > 0
	for _, b := range batches {
		verified = verified && b.SignatureOK && b.DecodeErr == nil
	}
	if len(batches) > 0 {
		sig := batches[0].Header.Get("X-Openfaas-Signature-256")
		fmt.Printf("   X-Openfaas-Event: %s, X-Openfaas-Signature-256: %s...\n",
			batches[0].Header.Get("X-Openfaas-Event"), sig[:min(len(sig), 23)])
	}
	expect(verified, fmt.Sprintf("batches: %d, events: %d; each batch's HMAC-SHA256 signature verified", len(batches), len(receiver.Events())))
}

// refused is the status faas-cli reports a request was refused with, or "".
func refused(out string) string {
	if m := e2e.Refusal.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// brief shortens YAML for display: it drops comments and the lines every
// object shares (apiVersion, namespace; a list item keeps its dash), and
// puts metadata's name on one line.
func brief(yaml string) string {
	var keep []string
	dash, meta := false, false
	for _, l := range strings.Split(strings.TrimRight(yaml, "\n"), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "#"), t == "namespace: openfaas", t == "apiVersion: iam.openfaas.com/v1":
			continue
		case t == "- apiVersion: iam.openfaas.com/v1":
			dash = true
			continue
		case t == "metadata:":
			meta = true
			continue
		case meta && strings.HasPrefix(t, "name: "):
			l = l[:strings.Index(l, "name: ")-2] + "metadata: {" + t + "}"
			meta = false
		case dash:
			l = strings.Replace(l, "  ", "- ", 1)
			dash = false
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
