package caddyfedauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/audit"
)

// iamGateway stands in for the OpenFaaS gateway behind an IAM-enabled
// fed_oidc: it lists four namespaces and records the rest.
type iamGateway struct {
	mu   sync.Mutex
	hits []gatewayHit
	srv  *httptest.Server
}

type gatewayHit struct {
	method, path, query, auth string
	body                      []byte
}

func newIAMGateway(t *testing.T) *iamGateway {
	g := &iamGateway{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.hits = append(g.hits, gatewayHit{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), body})
		g.mu.Unlock()
		if r.URL.Path == "/system/namespaces" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `["openfaas-fn","staging","dev","prod"]`)
			return
		}
		fmt.Fprintf(w, "gateway saw %s", r.URL.EscapedPath())
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *iamGateway) take() []gatewayHit {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.hits
	g.hits = nil
	return h
}

// auditReceiver records the batches a webhook receives, checking each
// one's signature.
type auditReceiver struct {
	mu      sync.Mutex
	events  []map[string]any
	badSigs int
	srv     *httptest.Server
}

func newAuditReceiver(t *testing.T, secret []byte) *auditReceiver {
	a := &auditReceiver{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		if !audit.Verify(secret, body, r.Header.Get("X-Openfaas-Signature-256")) || r.Header.Get("X-Openfaas-Event") != "api_access" {
			a.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var batch []map[string]any
		if err := json.Unmarshal(body, &batch); err != nil {
			a.badSigs++
			return
		}
		a.events = append(a.events, batch...)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// find returns the first event with this method and path.
func (a *auditReceiver) find(method, path string) map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.events {
		if e["method"] == method && e["path"] == path {
			return e
		}
	}
	return nil
}

const iamObjects = `
apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata: {name: ci, namespace: openfaas}
spec:
  iss: %[1]s
  aud: [https://gw.example.com]
  tokenExpiry: 30m
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: staging-rw, namespace: openfaas}
spec:
  statement:
  - sid: 1-rw-staging
    action: ["Function:*", "Secret:*", "Namespace:List"]
    effect: Allow
    resource: ["staging:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: everything, namespace: openfaas}
spec:
  statement:
  - sid: all
    action: ["*"]
    effect: Allow
    resource: ["*"]
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: read-all, namespace: openfaas}
spec:
  statement:
  - sid: read
    action: ["Function:List", "Function:Get", "Namespace:List"]
    effect: Allow
    resource: ["*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: ci-deployers, namespace: openfaas}
spec:
  policy: [staging-rw]
  condition:
    StringEqual:
      jwt:iss: ["%[1]s"]
      jwt:repository: ["acme/app"]
      jwt:ref: ["refs/heads/main"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: automation, namespace: openfaas}
spec:
  policy: [everything]
  principal: {jwt:sub: ["client-123"]}
  condition: {StringEqual: {jwt:iss: ["%[2]s"]}}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: auditors, namespace: openfaas}
spec:
  policy: [read-all]
  principal: {jwt:sub: ["auditor"]}
  condition: {StringEqual: {jwt:iss: ["%[2]s"]}}
`

// grantYAML is a Policy granting action on resource and a Role binding
// it to the test issuer's sub.
func grantYAML(action, resource string) string {
	return fmt.Sprintf(`
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: p}
spec:
  statement:
  - {sid: s, action: [%q], effect: Allow, resource: [%q]}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: r}
spec:
  policy: [p]
  principal: {jwt:sub: [client-123]}
`, action, resource)
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIAMInCaddy(t *testing.T) {
	corp := newTestIssuer(t)
	corpKey := corp.addKey(t, "corp", "RS256", "rsa2048")
	ci := newTestIssuer(t)
	ciKey := ci.addKey(t, "ci", "ES256", "p256")
	stranger := newTestIssuer(t)
	strangerKey := stranger.addKey(t, "s", "ES256", "p256b")
	gw := newIAMGateway(t)
	secret := []byte("audit-secret")
	recv := newAuditReceiver(t, secret)

	dir := t.TempDir()
	iamDir := filepath.Join(dir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(iamDir, "objects.yaml"), fmt.Sprintf(iamObjects, ci.URL(), corp.URL()))
	secretFile := filepath.Join(dir, "audit-secret")
	writeFile(t, secretFile, string(secret)+"\n")
	userFile, passFile := filepath.Join(dir, "user"), filepath.Join(dir, "password")
	writeFile(t, userFile, "admin")
	writeFile(t, passFile, "gateway-password")

	site := func(host, extra string) string {
		return fmt.Sprintf(`
	http://%s:{http} {
		fed_oidc {
			issuer %s
			audience fed-gw.tenant1
			iam %s
			max_body_size 4096
			gateway_basic_auth %s %s
			%s
		}
		reverse_proxy %s {
			transport fed_oidc
		}
	}`, host, corp.URL(), iamDir, userFile, passFile, extra, gw.srv.URL)
	}
	tester := newInProcessCaddy(t, site("localhost", fmt.Sprintf(`audit_webhook %s {
				secret_file %s
				flush_interval 50ms
			}`, recv.srv.URL, secretFile))+site("dryrun.localhost", "iam_mode dry_run"))

	ciClaims := func(ref string) map[string]any {
		c := ci.claims("https://gw.example.com")
		c["sub"] = "repo:acme/app:ref:" + ref
		c["repository"], c["repository_owner"], c["ref"] = "acme/app", "acme", ref
		return c
	}
	ciMain := ci.token(t, ciKey, ciClaims("refs/heads/main"))
	ciFeature := ci.token(t, ciKey, ciClaims("refs/heads/feature"))
	automation := corp.token(t, corpKey, corp.claims("fed-gw.tenant1"))
	auditorClaims := corp.claims("fed-gw.tenant1")
	auditorClaims["sub"] = "auditor"
	auditor := corp.token(t, corpKey, auditorClaims)
	// The CI token's claims from the corporate issuer: iss picks the
	// issuer, and the role's jwt:iss condition does not hold.
	spoofClaims := ciClaims("refs/heads/main")
	spoofClaims["iss"], spoofClaims["aud"] = corp.URL(), "fed-gw.tenant1"
	spoofed := corp.token(t, corpKey, spoofClaims)

	waitFor(t, "keys of both issuers", func() bool {
		return do(t, tester, "GET", "localhost", "/system/functions?namespace=staging", "Bearer "+ciMain).StatusCode == 200 &&
			do(t, tester, "GET", "localhost", "/system/info", "Bearer "+automation).StatusCode == 200
	})
	gw.take()

	deploy := `{"service":"app","image":"ghcr.io/acme/app:1","namespace":"staging"}`
	for _, tc := range []struct {
		name, host, token, method, path, body string
		status                                int
		upstreamQuery                         string // checked when the request reaches the gateway
		wantCredential                        bool
	}{
		{name: "CI lists staging", token: ciMain, path: "/system/functions?namespace=staging", status: 200, upstreamQuery: "namespace=staging", wantCredential: true},
		{name: "CI lists openfaas-fn", token: ciMain, path: "/system/functions?namespace=openfaas-fn", status: 403},
		{name: "CI lists the default namespace", token: ciMain, path: "/system/functions", status: 403},
		{name: "CI deploys to staging", token: ciMain, method: "PUT", path: "/system/functions", body: deploy, status: 200, upstreamQuery: ""},
		{name: "CI deploys to openfaas-fn", token: ciMain, method: "PUT", path: "/system/functions", body: `{"service":"app","image":"x"}`, status: 403},
		{name: "CI removes from staging: the query names the namespace for faas-netes", token: ciMain, method: "DELETE", path: "/system/functions", body: `{"functionName":"app","namespace":"staging"}`, status: 200, upstreamQuery: "namespace=staging"},
		{name: "CI invokes in staging", token: ciMain, method: "POST", path: "/function/app.staging", body: "hi", status: 200, wantCredential: false},
		{name: "CI invokes in the default namespace", token: ciMain, method: "POST", path: "/function/app", status: 403},
		{name: "CI reads system info", token: ciMain, path: "/system/info", status: 403},
		{name: "CI on the feature branch", token: ciFeature, path: "/system/functions?namespace=staging", status: 403},
		{name: "CI claims from another issuer", token: spoofed, path: "/system/functions?namespace=staging", status: 403},
		{name: "automation may do anything", token: automation, method: "PUT", path: "/system/functions", body: `{"service":"app","namespace":"prod"}`, status: 200},
		{name: "automation reaches unlisted endpoints", token: automation, method: "POST", path: "/system/alert", body: "{}", status: 200},
		{name: "CI does not reach unlisted endpoints", token: ciMain, method: "POST", path: "/system/alert", body: "{}", status: 403},
		{name: "auditor lists prod", token: auditor, path: "/system/functions?namespace=prod", status: 200},
		{name: "auditor gets a function", token: auditor, path: "/system/function/app?namespace=prod", status: 200},
		{name: "auditor may not deploy", token: auditor, method: "PUT", path: "/system/functions", body: deploy, status: 403},
		{name: "auditor may not read logs", token: auditor, path: "/system/logs?name=app&namespace=prod", status: 403},
		{name: "repeated namespace", token: automation, path: "/system/functions?namespace=staging&namespace=prod", status: 400},
		{name: "query and body disagree", token: automation, method: "PUT", path: "/system/functions?namespace=prod", body: deploy, status: 400},
		{name: "case-variant keys in the body", token: automation, method: "PUT", path: "/system/functions", body: `{"service":"app","namespace":"staging","Namespace":"prod"}`, status: 400},
		{name: "body over max_body_size", token: automation, method: "PUT", path: "/system/functions", body: `{"service":"app","x":"` + strings.Repeat("a", 5000) + `"}`, status: 413},
		{name: "unknown issuer", token: stranger.token(t, strangerKey, stranger.claims("fed-gw.tenant1")), path: "/system/functions", status: 401},
		{name: "dry run lets the feature branch through", host: "dryrun.localhost", token: ciFeature, method: "PUT", path: "/system/functions", body: deploy, status: 200},
		{name: "dry run still refuses what cannot be decided", host: "dryrun.localhost", token: ciFeature, path: "/system/functions?namespace=a&namespace=b", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := orDefault(tc.host, "localhost")
			method := orDefault(tc.method, "GET")
			req := newReq(t, method, host, tc.path, "Bearer "+tc.token)
			if tc.body != "" {
				req.Body = io.NopCloser(strings.NewReader(tc.body))
				req.ContentLength = int64(len(tc.body))
			}
			resp, err := tester.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			hits := gw.take()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 403 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("403 without insufficient_scope: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.status != 200 {
				if len(hits) != 0 {
					t.Errorf("a refused request reached the gateway: %+v", hits)
				}
				return
			}
			if len(hits) != 1 {
				t.Fatalf("%d requests reached the gateway, want 1", len(hits))
			}
			h := hits[0]
			if string(h.body) != tc.body {
				t.Errorf("the gateway got body %q, want %q byte for byte", h.body, tc.body)
			}
			if strings.HasPrefix(tc.path, "/system/") && host == "localhost" {
				if h.query != tc.upstreamQuery && tc.upstreamQuery != "" {
					t.Errorf("upstream query %q, want %q", h.query, tc.upstreamQuery)
				}
				if h.auth != basicValue("admin", "gateway-password") {
					t.Errorf("the gateway got Authorization %q, want its own credential", h.auth)
				}
			}
			if strings.HasPrefix(tc.path, "/function/") && h.auth != "" {
				t.Errorf("a function got Authorization %q", h.auth)
			}
		})
	}

	t.Run("namespace lists are filtered", func(t *testing.T) {
		for _, tc := range []struct {
			name, host, token string
			want              []string
		}{
			{"CI sees staging only", "localhost", ciMain, []string{"staging"}},
			{"automation sees all", "localhost", automation, []string{"openfaas-fn", "staging", "dev", "prod"}},
			{"the auditor sees all", "localhost", auditor, []string{"openfaas-fn", "staging", "dev", "prod"}},
			{"the feature branch sees none", "localhost", ciFeature, nil},
			{"dry run does not filter", "dryrun.localhost", ciMain, []string{"openfaas-fn", "staging", "dev", "prod"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := tester.Client.Do(newReq(t, "GET", tc.host, "/system/namespaces", "Bearer "+tc.token))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				gw.take()
				if tc.want == nil {
					if resp.StatusCode != 403 {
						t.Fatalf("status %d, want 403 (Namespace:List not held)", resp.StatusCode)
					}
					return
				}
				var got []string
				if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil {
					t.Fatalf("status %d, body %q", resp.StatusCode, body)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("namespaces %q, want %q", got, tc.want)
				}
				if resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d for a %d-byte body", resp.ContentLength, len(body))
				}
			})
		}
	})

	t.Run("audit webhook", func(t *testing.T) {
		var allowed, denied map[string]any
		waitFor(t, "the audit events", func() bool {
			allowed = recv.find("PUT", "/system/functions")
			denied = recv.find("GET", "/system/info")
			return allowed != nil && denied != nil
		})
		if recv.badSigs != 0 {
			t.Errorf("%d batches with a bad signature", recv.badSigs)
		}
		actor, _ := allowed["actor"].(map[string]any)
		if actor["sub"] != "repo:acme/app:ref:refs/heads/main" || actor["issuer"] != ci.URL() {
			t.Errorf("allowed event actor %v", actor)
		}
		if fmt.Sprint(allowed["actions"]) != "[Function:Update]" || allowed["response_code"] != 200.0 ||
			allowed["decision"] != "allowed" || allowed["role"] != "ci-deployers" || allowed["sid"] != "1-rw-staging" {
			t.Errorf("allowed event %v", allowed)
		}
		if denied["response_code"] != 403.0 || denied["decision"] != "denied_no_match" || fmt.Sprint(denied["actions"]) != "[System:Info]" {
			t.Errorf("denied event %v", denied)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(allowed["time"])); err != nil {
			t.Errorf("time %v: %v", allowed["time"], err)
		}
		// GETs that were allowed are not sent by default.
		if e := recv.find("GET", "/system/functions"); e != nil && e["decision"] == "allowed" {
			t.Errorf("an allowed GET was sent: %v", e)
		}
		for _, e := range recv.events {
			if b, _ := json.Marshal(e); bytes.Contains(b, []byte(ciMain[:40])) {
				t.Fatal("an audit event carries the token")
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// The sender counts a batch once the receiver has answered it.
		waitFor(t, "the sent events counted", func() bool {
			return strings.Contains(scrapeMetrics(t), `caddy_fed_oidc_audit_events_total{result="sent"}`)
		})
		m := scrapeMetrics(t)
		for _, want := range []string{
			`caddy_fed_oidc_iam_decisions_total{action="Function:List",mode="enforce",outcome="allowed"}`,
			`caddy_fed_oidc_iam_decisions_total{action="Function:List",mode="enforce",outcome="denied_no_match"}`,
			`caddy_fed_oidc_iam_decisions_total{action="Function:Update",mode="dry_run",outcome="denied_no_match"}`,
			`caddy_fed_oidc_iam_decisions_total{action="none",mode="enforce",outcome="bad_request"}`,
			`caddy_fed_oidc_audit_events_total{result="sent"}`,
			fmt.Sprintf(`caddy_fed_oidc_decisions_total{issuer=%q,outcome="allowed"}`, ci.URL()),
			`caddy_fed_oidc_decisions_total{issuer="",outcome="unknown_issuer"}`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// TestIAMReload changes, breaks and fixes the IAM directory, through a
// ConfigMap-style symlink swap, while requests run: each decision is the
// old set's or the new one's, and no request fails otherwise.
func TestIAMReload(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k", "ES256", "p256")
	gw := newIAMGateway(t)
	dir := t.TempDir()
	iamDir := filepath.Join(dir, "iam")
	// A ConfigMap volume: objects.yaml -> ..data/objects.yaml, ..data -> ..v1
	version := 0
	publish := func(content string) {
		version++
		v := fmt.Sprintf("..v%d", version)
		if err := os.MkdirAll(filepath.Join(iamDir, v), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(iamDir, v, "objects.yaml"), content)
		tmp := filepath.Join(iamDir, "..data_tmp")
		if err := os.Symlink(v, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(iamDir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(iamDir, 0o700); err != nil {
		t.Fatal(err)
	}
	policy := func(ns string) string { return grantYAML("Function:List", ns+":*") }
	publish(policy("dev"))
	if err := os.Symlink("..data/objects.yaml", filepath.Join(iamDir, "objects.yaml")); err != nil {
		t.Fatal(err)
	}
	tester := newInProcessCaddy(t, fmt.Sprintf(`
	http://localhost:{http} {
		fed_oidc {
			issuer %s
			audience fed-gw.tenant1
			iam %s
			iam_reload_interval 100ms
		}
		reverse_proxy %s
	}`, ti.URL(), iamDir, gw.srv.URL))
	token := "Bearer " + ti.token(t, key, ti.claims("fed-gw.tenant1"))
	status := func(ns string) int {
		return do(t, tester, "GET", "localhost", "/system/functions?namespace="+ns, token).StatusCode
	}
	waitFor(t, "keys", func() bool { return status("dev") == 200 })

	// Requests run throughout; each must be 200 or 403, never anything else.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	unexpected := map[int]int{}
	total := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Transport: tester.Client.Transport}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Do(newReq(t, "GET", "localhost", "/system/functions?namespace=staging", token))
			mu.Lock()
			total++
			if err != nil {
				unexpected[-1]++
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 403 {
					unexpected[resp.StatusCode]++
				}
			}
			mu.Unlock()
		}
	}()

	publish(policy("staging"))
	waitFor(t, "the new set", func() bool { return status("staging") == 200 })
	if s := status("dev"); s != 403 {
		t.Errorf("dev after the change: %d, want 403", s)
	}

	publish("apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: p}\nspec: {statement: [{sid: s, action: [Function:Lst], effect: Allow, resource: ['*']}]}\n")
	waitFor(t, "the failed reload", func() bool {
		return strings.Contains(scrapeMetrics(t), `caddy_fed_oidc_iam_reloads_total{result="error"}`)
	})
	time.Sleep(300 * time.Millisecond)
	if s := status("staging"); s != 200 {
		t.Errorf("staging after a broken set: %d, want 200 (the last good set)", s)
	}

	publish(policy("prod"))
	waitFor(t, "the fixed set", func() bool { return status("prod") == 200 })
	if s := status("staging"); s != 403 {
		t.Errorf("staging after the fix: %d, want 403", s)
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(unexpected) > 0 {
		t.Errorf("of %d concurrent requests, these failed: %v (status: count)", total, unexpected)
	}
	if total < 10 {
		t.Errorf("only %d concurrent requests ran", total)
	}
}

// TestAuditReceiverTrouble sends requests through sites whose audit
// webhook is down, hangs, or answers 500, with a queue of 4 events: every
// request is answered as if there were no webhook, and what could not be
// queued is counted as dropped.
func TestAuditReceiverTrouble(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k", "ES256", "p256")
	gw := newIAMGateway(t)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	t.Cleanup(func() { close(hang); slow.Close() })
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	deadURL := closed.URL
	closed.Close()

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "objects.yaml"), grantYAML("Function:*", "*"))
	secretFile := filepath.Join(dir, "secret")
	writeFile(t, secretFile, "s")
	site := func(host, url string) string {
		return fmt.Sprintf(`
	http://%s:{http} {
		fed_oidc {
			issuer %s
			audience fed-gw.tenant1
			iam %s/objects.yaml
			audit_webhook %s {
				secret_file %s
				methods *
				queue_size 4
				batch_size 2
				flush_interval 10ms
				timeout 30s
				max_retries 3
			}
		}
		reverse_proxy %s
	}`, host, ti.URL(), dir, url, secretFile, gw.srv.URL)
	}
	tester := newInProcessCaddy(t, site("down.localhost", deadURL)+site("slow.localhost", slow.URL)+site("failing.localhost", failing.URL))
	token := "Bearer " + ti.token(t, key, ti.claims("fed-gw.tenant1"))
	waitFor(t, "keys", func() bool {
		return do(t, tester, "GET", "down.localhost", "/system/functions", token).StatusCode == 200
	})
	dropped := func() float64 {
		for _, line := range strings.Split(scrapeMetrics(t), "\n") {
			if strings.HasPrefix(line, `caddy_fed_oidc_audit_events_total{result="dropped"}`) {
				var v float64
				fmt.Sscan(strings.Fields(line)[1], &v)
				return v
			}
		}
		return 0
	}
	before := dropped()
	const perSite = 200
	for _, host := range []string{"down.localhost", "slow.localhost", "failing.localhost"} {
		for i := range perSite {
			if s := do(t, tester, "GET", host, "/system/functions", token).StatusCode; s != 200 {
				t.Fatalf("%s: request %d got %d with the audit receiver in trouble", host, i, s)
			}
		}
	}
	gw.take()
	// Each site's sender holds its queue (4) and the batch in delivery
	// (2), and takes a new batch only when a delivery gives up (after
	// its retries, or at once on a refused connection), so most of the
	// 600 events are dropped, and counted, while no request waited.
	if got := dropped() - before; got < 3*perSite/2 {
		t.Errorf("%v events counted as dropped, want at least %d", got, 3*perSite/2)
	}
}
