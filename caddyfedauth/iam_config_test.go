package caddyfedauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serve runs the handler on one request and says what it answered and
// whether the request went on.
func serve(t *testing.T, f *FedOIDC, method, target, token, body string) (int, bool) {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	repl := caddy.NewReplacer()
	r = r.WithContext(t.Context())
	r = caddyhttp.PrepareRequest(r, repl, httptest.NewRecorder(), nil)
	w := httptest.NewRecorder()
	forwarded := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		forwarded = true
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := f.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w.Code, forwarded
}

// The IAM objects may be given inline, in JSON, with a JwtIssuer of their
// own and no flat issuer.
func TestIAMInlineObjects(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k", "ES256", "p256")
	cfg := fmt.Sprintf(`{"iam_objects": [
		{"apiVersion": "iam.openfaas.com/v1", "kind": "JwtIssuer", "metadata": {"name": "ci"},
		 "spec": {"iss": %q, "aud": ["https://gw.example.com"]}},
		{"apiVersion": "iam.openfaas.com/v1", "kind": "Policy", "metadata": {"name": "p"},
		 "spec": {"statement": [{"sid": "s", "action": ["Function:List"], "effect": "Allow", "resource": ["dev:*"]}]}},
		{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"},
		 "spec": {"policy": ["p"], "principal": {"jwt:sub": ["client-123"]}}}
	]}`, ti.URL())
	var f FedOIDC
	if err := json.Unmarshal([]byte(cfg), &f); err != nil {
		t.Fatal(err)
	}
	startedContext(t, f.Provision)
	t.Cleanup(func() { _ = f.Cleanup() })
	tok := ti.token(t, key, ti.claims("https://gw.example.com"))
	waitFor(t, "keys", func() bool { s, _ := serve(t, &f, "GET", "/system/functions?namespace=dev", tok, ""); return s == 200 })
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/system/functions?namespace=dev", 200},
		{"/system/functions?namespace=prod", 403},
		{"/function/env.dev", 403},
		{"/system/function/x?namespace=dev&namespace=dev", 400},
	} {
		status, forwarded := serve(t, &f, "GET", tc.target, tok, "")
		if status != tc.status || forwarded != (tc.status == 200) {
			t.Errorf("%s: %d (forwarded %v), want %d", tc.target, status, forwarded, tc.status)
		}
	}
	// Allowed reads are audited at debug, everything else at info.
	core, logs := observer.New(zapcore.DebugLevel)
	f.useLogger(zap.New(core))
	for _, target := range []string{"/system/functions?namespace=dev", "/system/functions?namespace=prod"} {
		serve(t, &f, "GET", target, tok, "")
	}
	serve(t, &f, "PUT", "/system/functions", tok, `{"service":"x","namespace":"dev"}`)
	var levels []string
	for _, e := range logs.FilterMessage("decision").All() {
		levels = append(levels, e.Level.String()+" "+e.ContextMap()["decision"].(string))
	}
	if want := []string{"debug allowed", "info denied_no_match", "info denied_no_match"}; fmt.Sprint(levels) != fmt.Sprint(want) {
		t.Errorf("audit entries %q, want %q", levels, want)
	}
	f.useLogger(zap.NewNop())
	other := ti.token(t, key, ti.claims("fed-gw.tenant1"))
	if status, _ := serve(t, &f, "GET", "/system/functions?namespace=dev", other, ""); status != 401 {
		t.Errorf("a token for another audience: %d, want 401", status)
	}
}

// Configs that cannot work are refused at provision (caddy validate),
// naming the option, or the file, object and field.
func TestIAMConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\nspec: {statement: [{sid: s, action: [Function:List], effect: Allow, resource: ['*']}]}\n")
	badAction := filepath.Join(dir, "bad.yaml")
	writeFile(t, badAction, "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\nspec: {statement: [{sid: s, action: [Function:Lst], effect: Allow, resource: ['*']}]}\n")
	badAlg := filepath.Join(dir, "issuer.yaml")
	writeFile(t, badAlg, "apiVersion: iam.openfaas.com/v1\nkind: JwtIssuer\nmetadata: {name: ci}\nspec: {iss: https://ci.example.com, aud: [gw], algorithms: [HS256]}\n")
	secret := filepath.Join(dir, "secret")
	writeFile(t, secret, "s")
	for _, tc := range []struct{ name, cfg, want string }{
		{"no issuer at all", `{}`, "issuer: required"},
		{"iam with no issuer in it", fmt.Sprintf(`{"iam": %q}`, good), "no trusted issuer"},
		{"allow_invoke with iam", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "allow_invoke": true}`, good), "grant Function:Invoke"},
		{"an unknown action", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q}`, badAction), `bad.yaml:4: Policy "p": spec.statement[0].action[0]`},
		{"an HMAC algorithm for a JwtIssuer", fmt.Sprintf(`{"iam": %q}`, badAlg), `issuer.yaml:4: JwtIssuer "ci": spec.algorithms: "HS256"`},
		{"a missing iam file", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q}`, filepath.Join(dir, "none")), "iam: reading IAM objects"},
		{"an unknown mode", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "iam_mode": "audit"}`, good), `iam_mode: "audit"`},
		{"audit_webhook without iam", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "audit_webhook": {"url": "https://a.example.com", "secret_file": %q}}`, secret), "set iam too"},
		{"audit_webhook over plain http", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "audit_webhook": {"url": "http://a.example.com", "secret_file": %q}}`, good, secret), "audit_webhook"},
		{"audit_webhook without a secret", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "audit_webhook": {"url": "https://a.example.com"}}`, good), "secret_file: required"},
		{"an empty audit secret", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "audit_webhook": {"url": "https://a.example.com", "secret_file": %q}}`, good, filepath.Join(dir, "empty")), "secret_file"},
		{"a bad default namespace", fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q, "default_namespace": "a/b"}`, good), "default_namespace"},
		{"flat issuer settings without issuer", fmt.Sprintf(`{"iam": %q, "audience": ["a"]}`, good), "settings of the flat issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.cfg, "empty") {
				writeFile(t, filepath.Join(dir, "empty"), "")
			}
			var f FedOIDC
			if err := json.Unmarshal([]byte(tc.cfg), &f); err != nil {
				t.Fatal(err)
			}
			err := f.Provision(unstartedContext(t))
			if err == nil {
				_ = f.Cleanup()
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
	_ = os.Remove(filepath.Join(dir, "empty"))
}

// TestIAMValidateCleansUp: `caddy validate` provisions and cleans up a
// config it never starts; Cleanup must not wait for the IAM watcher that
// was never started, and a late start must not run it.
func TestIAMValidateCleansUp(t *testing.T) {
	file := filepath.Join(t.TempDir(), "iam.yaml")
	writeFile(t, file, "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\nspec: {statement: [{sid: s, action: [Function:List], effect: Allow, resource: ['*']}]}\n")
	var f FedOIDC
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{"issuer": "https://i.example.com", "audience": ["a"], "iam": %q}`, file)), &f); err != nil {
		t.Fatal(err)
	}
	ctx := unstartedContext(t)
	if err := f.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = f.Cleanup(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Cleanup of a never started config did not return")
	}
	app, err := ctx.App("fed_oidc")
	if err != nil {
		t.Fatal(err)
	}
	if err := app.(*startApp).Start(); err != nil { // too late: must not start the watcher
		t.Fatal(err)
	}
	f.watchers.Wait() // would panic (negative counter) had the watcher started and finished again
}

// unstartedContext is the context of a config that is provisioned but
// never started, as `caddy validate` provisions one.
func unstartedContext(t testing.TB) caddy.Context {
	t.Helper()
	pctx, err := caddy.ProvisionContext(&caddy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(pctx)
	t.Cleanup(cancel)
	return ctx
}
