package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/kubesecret"
)

// TestIAM drives IAM for OpenFaaS end to end: our Caddy with an IAM
// directory in front of the real gateway, tokens from two real issuers
// (the provider's Keycloak-shaped one and a GitHub-Actions-shaped CI
// one), the real faas-cli, and an audit webhook receiver.
func TestIAM(t *testing.T) {
	s := newExampleStack(t)
	ctx := context.Background()
	// What IAM changes (audit deliveries, reloads) shows within a few
	// seconds; a failing case should not wait for the stack's 60 s.
	soon := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		t.Cleanup(cancel)
		return c
	}
	fatal := failWithCaddyLog(t, s)

	const auditSecret = "audit-hmac-secret"
	receiver, err := StartAuditReceiver(auditSecret)
	fatal(err)
	t.Cleanup(func() { _ = receiver.Close() })
	secretFile := filepath.Join(s.Dir, "audit-secret")
	fatal(os.WriteFile(secretFile, []byte(auditSecret+"\n"), 0o600))

	iamDir := filepath.Join(s.Dir, "iam")
	fatal(WriteFiles(iamDir, s.IAMObjects("refs/heads/main")))
	config := func(mode, dir string, flat ...string) string {
		return s.IAMCaddyfile(strings.Join(flat, "\n") + fmt.Sprintf(`
			iam %s
			iam_mode %s
			iam_reload_interval 1s
			default_namespace openfaas-fn
			max_body_size 1MiB
			audit_webhook %s {
				secret_file %s
				flush_interval 200ms
			}`, dir, mode, receiver.URL, secretFile))
	}
	skipUnlessIAM(t, s, config("enforce", iamDir))

	fatal(s.StartGateway(ctx))
	fatal(s.StartIdP(ctx))
	fatal(s.StartCIIdP(ctx))
	fatal(s.StartCaddyWith(ctx, config("enforce", iamDir)))

	automation, auditor, ciMain, ciFeature := exampleSubjects(s, fatal)

	gw := s.IAMURL
	faas := func(token string, args ...string) (string, error) { return s.FaaSCLI(gw, token, args...) }
	// allowed runs a faas-cli command that must succeed.
	allowed := func(t *testing.T, token string, args ...string) string {
		t.Helper()
		out, err := faas(token, args...)
		if err != nil || Refusal.MatchString(out) || strings.Contains(out, "Forbidden") {
			t.Errorf("faas-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// forbidden runs a faas-cli command whose request must get 403.
	// faas-cli prints the status; some commands (secret create) still
	// exit 0, so the state is checked separately where it matters.
	forbidden := func(t *testing.T, token string, args ...string) {
		t.Helper()
		out, _ := faas(token, args...)
		if m := Refusal.FindStringSubmatch(out); m == nil || m[1] != "403" {
			t.Errorf("faas-cli %s: want a 403, got:\n%s", strings.Join(args, " "), out)
		}
	}
	functions := func(t *testing.T, ns string) []string {
		t.Helper()
		var fns []struct{ Name string }
		if code := getJSON(t, gw+"/system/functions?namespace="+ns, automation, &fns); code != 200 {
			t.Fatalf("automation's list of %s: %d", ns, code)
		}
		var names []string
		for _, f := range fns {
			names = append(names, f.Name)
		}
		return names
	}

	// A function in every namespace, deployed by the automation client.
	for _, ns := range s.Namespaces {
		if out, err := faas(automation, "deploy", "--image", "ghcr.io/openfaas/alpine:latest", "--name", "base-"+ns, "-n", ns); err != nil || !strings.Contains(out, "202") {
			t.Fatalf("automation deploy to %s: %v\n%s\n--- caddy log:\n%s", ns, err, out, s.Log("caddy"))
		}
	}

	t.Run("the automation client sees every namespace", func(t *testing.T) {
		out := allowed(t, automation, "namespaces")
		if got := ListedNamespaces(out); !slices.Equal(got, s.Namespaces) {
			t.Errorf("faas-cli namespaces: %q, want %q\n%s", got, s.Namespaces, out)
		}
		allowed(t, automation, "list")
		allowed(t, automation, "version", "--warn-update=false")
	})

	t.Run("CI on main deploys, lists, describes, reads logs and removes in staging", func(t *testing.T) {
		stack := filepath.Join(t.TempDir(), "stack.yml")
		if err := os.WriteFile(stack, []byte("version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n  app:\n    image: ghcr.io/acme/app:1.0.0\n    namespace: staging\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// new: PUT gets 404, then POST; again: PUT (Function:Update)
		for range 2 {
			if out := allowed(t, ciMain, "deploy", "-f", stack); !strings.Contains(out, "Deployed. 202") {
				t.Errorf("deploy -f stack.yml:\n%s", out)
			}
		}
		if out := allowed(t, ciMain, "list", "-n", "staging"); !strings.Contains(out, "app") || !strings.Contains(out, "base-staging") {
			t.Errorf("list -n staging does not show app and base-staging:\n%s", out)
		}
		if out := allowed(t, ciMain, "describe", "app", "-n", "staging"); !strings.Contains(out, "ghcr.io/acme/app:1.0.0") {
			t.Errorf("describe app:\n%s", out)
		}
		// the provider's log of the function: its deploy and its update
		if out := allowed(t, ciMain, "logs", "app", "-n", "staging", "--tail=false"); !strings.Contains(out, "deployed ghcr.io/acme/app:1.0.0") || !strings.Contains(out, "updated to ghcr.io/acme/app:1.0.0") {
			t.Errorf("logs app:\n%s", out)
		}
		allowed(t, ciMain, "remove", "app", "-n", "staging")
		if fns := functions(t, "staging"); slices.Contains(fns, "app") {
			t.Errorf("app is still deployed in staging: %q", fns)
		}
	})

	t.Run("CI on main gets 403 in openfaas-fn", func(t *testing.T) {
		forbidden(t, ciMain, "deploy", "--image", "ghcr.io/acme/app:1.0.0", "--name", "app", "-n", "openfaas-fn")
		forbidden(t, ciMain, "deploy", "--image", "ghcr.io/acme/app:1.0.0", "--name", "app") // the default namespace
		forbidden(t, ciMain, "list")
		forbidden(t, ciMain, "list", "-n", "openfaas-fn")
		forbidden(t, ciMain, "describe", "base-openfaas-fn")
		forbidden(t, ciMain, "logs", "base-openfaas-fn", "--tail=false")
		forbidden(t, ciMain, "remove", "base-openfaas-fn")
		forbidden(t, ciMain, "list", "-n", "dev")
		if fns := functions(t, "openfaas-fn"); !slices.Equal(fns, []string{"base-openfaas-fn"}) {
			t.Errorf("openfaas-fn now holds %q", fns)
		}
		code, h := do(t, "GET", gw+"/system/functions?namespace=openfaas-fn", ciMain, "")
		if code != 403 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") || !strings.Contains(h.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("GET /system/functions?namespace=openfaas-fn: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
		}
	})

	t.Run("faas-cli namespaces shows CI only staging", func(t *testing.T) {
		out := allowed(t, ciMain, "namespaces")
		if got := ListedNamespaces(out); !slices.Equal(got, []string{"staging"}) {
			t.Errorf("faas-cli namespaces: %q, want [staging]\n%s", got, out)
		}
	})

	t.Run("CI secrets follow their own actions", func(t *testing.T) {
		if out := allowed(t, ciMain, "secret", "create", "db-password", "--from-literal", "s3cr3t", "-n", "staging"); !strings.Contains(out, "Created") {
			t.Errorf("secret create:\n%s", out)
		}
		if out := allowed(t, ciMain, "secret", "list", "-n", "staging"); !strings.Contains(out, "db-password") {
			t.Errorf("secret list:\n%s", out)
		}
		allowed(t, ciMain, "secret", "remove", "db-password", "-n", "staging")
		if out := allowed(t, ciMain, "secret", "list", "-n", "staging"); strings.Contains(out, "db-password") {
			t.Errorf("secret list after remove:\n%s", out)
		}

		forbidden(t, ciMain, "secret", "create", "db-password", "--from-literal", "s3cr3t", "-n", "openfaas-fn")
		forbidden(t, ciMain, "secret", "list", "-n", "openfaas-fn")
		forbidden(t, ciMain, "secret", "remove", "base", "-n", "openfaas-fn")
		if out := allowed(t, automation, "secret", "list", "-n", "openfaas-fn"); strings.Contains(out, "db-password") {
			t.Errorf("CI created a secret in openfaas-fn:\n%s", out)
		}
	})

	t.Run("CI on a feature branch gets 403 everywhere", func(t *testing.T) {
		for _, ns := range s.Namespaces {
			forbidden(t, ciFeature, "list", "-n", ns)
			forbidden(t, ciFeature, "deploy", "--image", "ghcr.io/acme/app:feature", "--name", "app", "-n", ns)
			forbidden(t, ciFeature, "describe", "base-"+ns, "-n", ns)
			forbidden(t, ciFeature, "secret", "list", "-n", ns)
		}
		out, _ := faas(ciFeature, "namespaces")
		if got := ListedNamespaces(out); len(got) != 0 {
			t.Errorf("faas-cli namespaces shows %q to the feature branch:\n%s", got, out)
		}
		if fns := functions(t, "staging"); slices.Contains(fns, "app") {
			t.Errorf("the feature branch deployed app: %q", fns)
		}
	})

	t.Run("the auditor reads everything and changes nothing", func(t *testing.T) {
		out := allowed(t, auditor, "namespaces")
		if got := ListedNamespaces(out); !slices.Equal(got, s.Namespaces) {
			t.Errorf("faas-cli namespaces: %q, want %q\n%s", got, s.Namespaces, out)
		}
		for _, ns := range s.Namespaces {
			if out := allowed(t, auditor, "list", "-n", ns); !strings.Contains(out, "base-"+ns) {
				t.Errorf("list -n %s:\n%s", ns, out)
			}
			allowed(t, auditor, "describe", "base-"+ns, "-n", ns)
			forbidden(t, auditor, "deploy", "--image", "ghcr.io/acme/app:1.0.0", "--name", "base-"+ns, "-n", ns)
			forbidden(t, auditor, "remove", "base-"+ns, "-n", ns)
			forbidden(t, auditor, "secret", "list", "-n", ns)
		}
		for _, ns := range s.Namespaces {
			if fns := functions(t, ns); !slices.Contains(fns, "base-"+ns) {
				t.Errorf("base-%s is gone: %q", ns, fns)
			}
		}
	})

	t.Run("401 for a bad token or an unknown issuer, 400 for an ambiguous request", func(t *testing.T) {
		for name, token := range map[string]string{
			"no token":          "",
			"a tampered token":  ciMain[:len(ciMain)-4] + "AAAA",
			"an unknown issuer": unsignedToken(map[string]any{"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main", "aud": gw, "exp": time.Now().Add(time.Minute).Unix()}),
		} {
			if code, h := do(t, "GET", gw+"/system/functions?namespace=staging", token, ""); code != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: %d, WWW-Authenticate %q", name, code, h.Get("WWW-Authenticate"))
			}
		}
		// Go's Query().Get reads the first, faas-provider's logs handler the last.
		if code, _ := do(t, "GET", gw+"/system/functions?namespace=staging&namespace=openfaas-fn", ciMain, ""); code != 400 {
			t.Errorf("a repeated namespace: %d, want 400", code)
		}
		// faas-netes reads the query, faasd the body.
		if code, _ := do(t, "DELETE", gw+"/system/functions?namespace=openfaas-fn", ciMain, `{"functionName":"base-staging","namespace":"staging"}`); code != 400 {
			t.Errorf("a query and a body that disagree: %d, want 400", code)
		}
	})

	t.Run("audit events for an allow and a deny reach the webhook, signed", func(t *testing.T) {
		deployPath := "/system/functions"
		var allow, deny *AuditEvent
		err := waitUntil(soon(), "audit events", func() bool {
			for _, e := range receiver.Events() {
				switch {
				case allow == nil && e.Method == "POST" && e.Path == deployPath && e.Resource == "staging:app" && e.Actor.Sub == "repo:acme/app:ref:refs/heads/main":
					allow = &e
				case deny == nil && e.Method == "GET" && strings.HasPrefix(e.Path, "/system/functions") && e.Actor.Sub == "repo:acme/app:ref:refs/heads/main" && e.ResponseCode == 403:
					deny = &e
				}
			}
			return allow != nil && deny != nil
		})
		if err != nil {
			t.Fatalf("%v: allow %+v, deny %+v; %d batches received", err, allow, deny, len(receiver.Batches()))
		}
		if allow.Actor.Issuer != s.CIIdPURL || allow.ResponseCode != 202 || !slices.Equal(allow.Actions, []string{"Function:Create"}) ||
			allow.Decision != "allowed" || allow.Role != "ci-deployers" || allow.Policy != "staging-rw" || allow.Sid != "1-rw-staging" || allow.DryRun {
			t.Errorf("the allow: %+v", *allow)
		}
		if deny.Actor.Issuer != s.CIIdPURL || !slices.Equal(deny.Actions, []string{"Function:List"}) ||
			!strings.HasPrefix(deny.Decision, "denied_") || deny.Resource != "openfaas-fn:*" || deny.DryRun {
			t.Errorf("the deny: %+v", *deny)
		}
		if allow.Time.IsZero() || time.Since(allow.Time) > 5*time.Minute {
			t.Errorf("the allow's time: %v", allow.Time)
		}
		uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		deliveries := map[string]bool{}
		for i, b := range receiver.Batches() {
			if !b.SignatureOK || b.DecodeErr != nil {
				t.Errorf("batch %d: signature ok %v, decoding: %v", i, b.SignatureOK, b.DecodeErr)
			}
			if b.Header.Get("X-Openfaas-Event") != "api_access" || b.Header.Get("Content-Type") != "application/json" {
				t.Errorf("batch %d headers: %v", i, b.Header)
			}
			id := b.Header.Get("X-Openfaas-Delivery")
			if !uuid.MatchString(id) || deliveries[id] {
				t.Errorf("batch %d: X-Openfaas-Delivery %q (not a new UUID)", i, id)
			}
			deliveries[id] = true
			for _, tok := range []string{automation, auditor, ciMain, ciFeature} {
				if strings.Contains(string(b.Body), tok[strings.LastIndexByte(tok, '.')+1:]) {
					t.Errorf("batch %d carries a token", i)
				}
			}
		}
		// The GETs that were allowed are not sent (methods default: PUT POST DELETE).
		for _, e := range receiver.Events() {
			if e.Method == "GET" && e.Decision == "allowed" {
				t.Errorf("an allowed GET was sent: %+v", e)
				break
			}
		}
		entries, err := s.LogEntries("caddy", "http.handlers.fed_oidc.audit")
		if err != nil {
			t.Fatal(err)
		}
		var logged bool
		for _, e := range entries {
			if e["method"] == "GET" && e["status"] == float64(403) && e["sub"] == "repo:acme/app:ref:refs/heads/main" {
				logged = true
			}
		}
		if !logged {
			t.Errorf("no denial in the log http.handlers.fed_oidc.audit (%d entries)", len(entries))
		}
	})

	t.Run("reload: a changed, broken and fixed directory, under load", func(t *testing.T) {
		load := startLoad(gw, map[string]string{"automation": automation, "ci main": ciMain})
		defer func() {
			if failed := load.stop(); len(failed) > 0 {
				t.Errorf("%d of %d requests under load failed, first: %s", len(failed), load.count(), failed[0])
			}
		}()
		feature := func() int {
			code, _ := do(t, "GET", gw+"/system/functions?namespace=staging", ciFeature, "")
			return code
		}
		reloadCase(t, s, soon, "atomic rename", feature, func(files map[string]string) error { return WriteFiles(iamDir, files) })

		// The same in a ConfigMap volume: the kubelet's ..data symlink swap.
		cmDir := filepath.Join(s.Dir, "iam-configmap")
		fatal(kubesecret.Write(cmDir, s.IAMObjects("refs/heads/main")))
		if out, err := s.ReloadCaddy(config("enforce", cmDir)); err != nil {
			t.Fatalf("caddy reload: %v\n%s", err, out)
		}
		reloadCase(t, s, soon, "ConfigMap symlink swap", feature, func(files map[string]string) error { return kubesecret.Write(cmDir, files) })
		t.Logf("%d requests under load during the reloads", load.count())
	})

	t.Run("the flat issuer is one more trusted issuer", func(t *testing.T) {
		dir := filepath.Join(s.Dir, "iam-flat")
		objs := s.IAMObjects("refs/heads/main")
		delete(objs, "issuer-provider.yaml")
		fatal(WriteFiles(dir, objs))
		if out, err := s.ReloadCaddy(config("enforce", dir, "issuer "+s.IdPURL, "audience "+KeycloakClient+" "+Audience)); err != nil {
			t.Fatalf("caddy reload: %v\n%s", err, out)
		}
		if out := allowed(t, automation, "namespaces"); !slices.Equal(ListedNamespaces(out), s.Namespaces) {
			t.Errorf("the automation's namespaces:\n%s", out)
		}
		allowed(t, auditor, "list", "-n", "dev")
		forbidden(t, auditor, "remove", "base-dev", "-n", "dev")
		allowed(t, ciMain, "list", "-n", "staging")
		forbidden(t, ciMain, "list", "-n", "dev")
	})

	t.Run("dry run lets a denied deploy through, and audits it as dry_run", func(t *testing.T) {
		if out, err := s.ReloadCaddy(config("dry_run", iamDir)); err != nil {
			t.Fatalf("caddy reload: %v\n%s", err, out)
		}
		if out := allowed(t, ciFeature, "deploy", "--image", "ghcr.io/acme/app:feature", "--name", "feature-app", "-n", "staging"); !strings.Contains(out, "Deployed. 202") {
			t.Errorf("deploy in dry_run:\n%s", out)
		}
		if fns := functions(t, "staging"); !slices.Contains(fns, "feature-app") {
			t.Errorf("feature-app is not deployed: %q", fns)
		}
		var ev *AuditEvent
		err := waitUntil(soon(), "the dry-run audit event", func() bool {
			for _, e := range receiver.Events() {
				if e.Resource == "staging:feature-app" && e.Method == "POST" {
					ev = &e
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		if !ev.DryRun || !strings.HasPrefix(ev.Decision, "denied_") || ev.ResponseCode != 202 || ev.Actor.Sub != "repo:acme/app:ref:refs/heads/feature" {
			t.Errorf("the dry-run event: %+v", *ev)
		}
		entries, err := s.LogEntries("caddy", "http.handlers.fed_oidc.audit")
		if err != nil {
			t.Fatal(err)
		}
		var logged bool
		for _, e := range entries {
			decision, _ := e["decision"].(string)
			if e["resource"] == "staging:feature-app" && strings.HasPrefix(decision, "denied_") && (e["dry_run"] == true || e["enforced"] == false) {
				logged = true
			}
		}
		if !logged {
			t.Errorf("no dry-run denial of staging:feature-app in the audit log")
		}
	})
}

// reloadCase changes the IAM files with write so that the feature branch
// may deploy to staging, then breaks them, then restores the first set;
// a broken set must leave the last good one deciding.
func reloadCase(t *testing.T, s *Stack, soon func() context.Context, how string, feature func() int, write func(map[string]string) error) {
	t.Helper()
	if code := feature(); code != 403 {
		t.Fatalf("%s: the feature branch gets %d before the change, want 403", how, code)
	}
	t0 := time.Now()
	if err := write(s.IAMObjects("refs/heads/*")); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(soon(), how+": the feature branch allowed", func() bool { return feature() == 200 }); err != nil {
		t.Fatalf("%v\n--- caddy log:\n%s", err, s.Log("caddy"))
	}
	t.Logf("%s: a change took effect in %v (iam_reload_interval 1s)", how, time.Since(t0).Round(10*time.Millisecond))

	logBefore := len(s.FullLog("caddy"))
	broken := s.IAMObjects("refs/heads/*")
	broken["roles.yaml"] = strings.Replace(broken["roles.yaml"], "policy:", "policy: [unclosed", 1)
	if err := write(broken); err != nil {
		t.Fatal(err)
	}
	// Three reload intervals: the broken set has been read and refused.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code := feature(); code != 200 {
			t.Fatalf("%s: with a broken set the feature branch got %d: the last good set must keep deciding", how, code)
		}
	}
	if logged := s.FullLog("caddy")[logBefore:]; !strings.Contains(logged, "roles.yaml") {
		t.Errorf("%s: no error naming roles.yaml was logged:\n%s", how, logged)
	}

	if err := write(s.IAMObjects("refs/heads/main")); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(soon(), how+": the fix applied", func() bool { return feature() == 403 }); err != nil {
		t.Fatal(err)
	}
}

// iamOptions are the fed_oidc options of the IAM wiring; a binary that
// refuses one of them does not have it yet.
var iamOptions = []string{"iam", "iam_mode", "iam_reload_interval", "default_namespace", "max_body_size", "audit_webhook"}

// skipUnlessIAM adapts caddyfile with the binary under test, and skips
// the test if the binary's fed_oidc does not know the IAM options yet.
// Any other adapt error fails the test.
func skipUnlessIAM(t *testing.T, s *Stack, caddyfile string) {
	t.Helper()
	cf := filepath.Join(s.Dir, "Caddyfile.iam-probe")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.Run("caddy", "", "adapt", "--config", cf, "--adapter", "caddyfile")
	if err == nil {
		return
	}
	if m := regexp.MustCompile(`unrecognized fed_oidc subdirective '([a-z_]+)'`).FindStringSubmatch(out); m != nil && slices.Contains(iamOptions, m[1]) {
		t.Skipf("the fed_oidc of %s does not know %q yet (IAM not wired into the handler): %s", s.Bin, m[1], strings.TrimSpace(out))
	}
	t.Fatalf("caddy adapt: %v\n%s", err, out)
}

// load sends GET /system/functions?namespace=staging, for each token in
// turn, until stopped, and keeps every answer other than 200.
type load struct {
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	n      int
	failed []string
}

func startLoad(gw string, tokens map[string]string) *load {
	l := &load{done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			for name, tok := range tokens {
				select {
				case <-l.done:
					return
				default:
				}
				code, _, body, err := request("GET", gw+"/system/functions?namespace=staging", tok, "")
				l.mu.Lock()
				l.n++
				if err != nil || code != 200 {
					l.failed = append(l.failed, fmt.Sprintf("%s at %s: %d %v %.200s", name, time.Now().Format(time.StampMilli), code, err, body))
				}
				l.mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// stop ends the load and returns the failed requests.
func (l *load) stop() []string {
	close(l.done)
	l.wg.Wait()
	return l.failed
}
