package caddyfedauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// explainIAM is the IAM of the explain tests: CI of acme/app on main may
// do everything with functions in staging but delete prod-*, and with
// secrets there from its staging environment; an auditor
// may list and get everywhere but in kube-system.
const explainIAM = `
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: staging-rw}
spec:
  statement:
  - sid: rw
    action: ["Function:*", "Namespace:List"]
    effect: Allow
    resource: ["staging:*"]
  - sid: keep-prod
    action: ["Function:Delete"]
    effect: Deny
    resource: ["staging:prod-*"]
  - sid: secrets
    action: ["Secret:*"]
    effect: Allow
    resource: ["staging:*"]
    condition:
      StringEqual: {"jwt:environment": ["staging"]}
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: read-all}
spec:
  statement:
  - sid: read
    action: ["Function:List", "Function:Get", "Namespace:List"]
    effect: Allow
    resource: ["*"]
  - sid: not-system
    action: ["*"]
    effect: Deny
    resource: ["kube-system:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: ci-staging}
spec:
  policy: [staging-rw]
  condition:
    StringEqual: {"jwt:repository": ["acme/app"]}
    StringLike: {"jwt:ref": ["refs/heads/main"]}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: auditor}
spec:
  policy: [read-all]
  principal: {"jwt:sub": ["auditor"]}
`

// explainEnv is a config with one fed_oidc handler in front of a
// gateway, trusting a test issuer, with IAM from a temporary directory.
type explainEnv struct {
	ti     *testIssuer
	key    *testKey
	config string
}

// newExplainEnv writes the Caddyfile of sites (a format taking the
// issuer URL and the IAM directory, in that order) and the IAM objects.
func newExplainEnv(t *testing.T, sites string) *explainEnv {
	t.Helper()
	ti := newTestIssuer(t)
	env := &explainEnv{ti: ti, key: ti.addKey(t, "k1", "ES256", "p256")}
	dir := t.TempDir()
	iamDir := filepath.Join(dir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(iamDir, "objects.yaml"), explainIAM)
	env.config = filepath.Join(dir, "Caddyfile")
	writeFile(t, env.config, fmt.Sprintf(sites, ti.URL(), iamDir))
	return env
}

// oneSite is a gateway site as deployed: IAM enforced, the gateway
// credential from files that do not exist here (explain must not need
// them), and the transport that sends it.
const oneSite = `{
	admin off
}
http://gw.example.com {
	fed_oidc {
		issuer %s
		audience fed-gw.tenant1
		iam %s
		gateway_basic_auth /nonexistent/basic-auth-user /nonexistent/basic-auth-password
	}
	reverse_proxy 127.0.0.1:9 {
		transport fed_oidc
	}
}
`

// ciToken is a CI-shaped token of the test issuer for ref.
func (env *explainEnv) ciToken(t *testing.T, ref string, mutate func(map[string]any)) string {
	t.Helper()
	c := env.ti.claims("fed-gw.tenant1")
	c["sub"] = "repo:acme/app:ref:" + ref
	c["repository"] = "acme/app"
	c["ref"] = ref
	delete(c, "azp")
	delete(c, "client_id")
	if mutate != nil {
		mutate(c)
	}
	return env.ti.token(t, env.key, c)
}

// runExplain runs the explain command function with args, as caddy does
// after parsing them, and returns its exit status and output.
func runExplain(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	cmd := explainCommand()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	status, err := cmdFedOIDCExplain(caddycmd.Flags{FlagSet: cmd.Flags()}, &out)
	return status, out.String(), err
}

// explainJSON runs explain with --json and decodes its output.
func explainJSON(t *testing.T, args ...string) (int, explanation) {
	t.Helper()
	status, out, err := runExplain(t, append(args, "--json")...)
	if status == explainUsage {
		t.Fatalf("explain: status %d, %v", status, err)
	}
	var e explanation
	d := json.NewDecoder(strings.NewReader(out))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return status, e
}

// tokenFile writes tok where --token @file reads it.
func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	return atFile(t, "token", tok+"\n")
}

// atFile writes data to a new file and returns @file, as flags take it.
func atFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, data)
	return "@" + p
}

func TestExplainRequest(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	main := env.ciToken(t, "refs/heads/main", nil)
	branch := env.ciToken(t, "refs/heads/feature", nil)
	for _, tc := range []struct {
		name     string
		token    string
		args     []string
		status   int // exit status
		http     int
		decision *decisionInfo
		action   string
		refused  *refusalInfo
		upstream *upstreamInfo
	}{
		{
			name: "allowed", token: main,
			args:   []string{"--path", "/system/functions?namespace=staging"},
			status: explainAllowed, http: 200, action: "Function:List staging:*",
			decision: &decisionInfo{Outcome: "allowed", Role: "ci-staging", Policy: "staging-rw", Sid: "rw",
				Reason: "allowed by role ci-staging, policy staging-rw, statement rw", Enforced: true},
			upstream: &upstreamInfo{Method: "GET", Path: "/system/functions", Query: "namespace=staging",
				BodyUnchanged: true, Credential: credentialAttached},
		},
		{
			// faas-netes reads this namespace from the query: the handler
			// adds it, and passes the body on byte for byte.
			name: "allowed, query completed", token: main,
			args:   []string{"--method", "DELETE", "--path", "/system/functions", "--body", `{"functionName":"api","namespace":"staging"}`},
			status: explainAllowed, http: 200, action: "Function:Delete staging:api",
			decision: &decisionInfo{Outcome: "allowed", Role: "ci-staging", Policy: "staging-rw", Sid: "rw",
				Reason: "allowed by role ci-staging, policy staging-rw, statement rw", Enforced: true},
			upstream: &upstreamInfo{Method: "DELETE", Path: "/system/functions", Query: "namespace=staging",
				QueryRewritten: true, BodyBytes: 44, BodyUnchanged: true, Credential: credentialAttached},
		},
		{
			// An invocation's body is the function's: not read, and
			// no gateway credential goes with it.
			name: "invocation", token: main,
			args:   []string{"--method", "POST", "--path", "/function/api.staging/run?x=1", "--body", `{"Namespace":1}`},
			status: explainAllowed, http: 200, action: "Function:Invoke staging:api",
			decision: &decisionInfo{Outcome: "allowed", Role: "ci-staging", Policy: "staging-rw", Sid: "rw",
				Reason: "allowed by role ci-staging, policy staging-rw, statement rw", Enforced: true},
			upstream: &upstreamInfo{Method: "POST", Path: "/function/api.staging/run", Query: "x=1",
				BodyBytes: 15, BodyUnchanged: true, Credential: credentialNone},
		},
		{
			name: "denied by statement", token: main,
			args:   []string{"--method", "DELETE", "--path", "/system/functions", "--body", atFile(t, "body.json", `{"functionName":"prod-api","namespace":"staging"}`)},
			status: explainDenied, http: 403, action: "Function:Delete staging:prod-api",
			decision: &decisionInfo{Outcome: "denied_by_statement", Role: "ci-staging", Policy: "staging-rw", Sid: "keep-prod",
				Reason: "denied by role ci-staging, policy staging-rw, statement keep-prod", Enforced: true},
			refused: &refusalInfo{Reason: outcomeIAMDenied, Detail: "denied by role ci-staging, policy staging-rw, statement keep-prod"},
		},
		{
			name: "denied, no statement", token: main,
			args:   []string{"--path", "/system/functions?namespace=openfaas-fn"},
			status: explainDenied, http: 403, action: "Function:List openfaas-fn:*",
			decision: &decisionInfo{Outcome: "denied_no_match", Reason: "denied: no statement allows it", Enforced: true},
			refused:  &refusalInfo{Reason: outcomeIAMDenied, Detail: "denied: no statement allows it"},
		},
		{
			name: "denied, no role", token: branch,
			args:   []string{"--path", "/system/functions?namespace=staging"},
			status: explainDenied, http: 403, action: "Function:List staging:*",
			decision: &decisionInfo{Outcome: "denied_no_match", Reason: "denied: the token matches no role", Enforced: true},
			refused:  &refusalInfo{Reason: outcomeIAMDenied, Detail: "denied: the token matches no role"},
		},
		{
			name: "ambiguous body", token: main,
			args:   []string{"--method", "PUT", "--path", "/system/functions", "--body", `{"service":"a","Service":"b","namespace":"staging"}`},
			status: explainDenied, http: 400,
			decision: &decisionInfo{Outcome: "bad_request", Reason: "ambiguous_body", Enforced: true},
			refused:  &refusalInfo{Reason: outcomeIAMRefused, Detail: "ambiguous_body"},
		},
		{
			name: "method not allowed", token: main,
			args:   []string{"--method", "POST", "--path", "/system/info"},
			status: explainDenied, http: 405,
			decision: &decisionInfo{Outcome: "bad_request", Reason: "method_not_allowed", Enforced: true},
			refused:  &refusalInfo{Reason: outcomeIAMRefused, Detail: "method_not_allowed"},
		},
		{
			name: "expired", token: env.ciToken(t, "refs/heads/main", func(c map[string]any) {
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = time.Now().Add(-time.Hour).Unix()
			}),
			args:   []string{"--path", "/system/functions?namespace=staging"},
			status: explainDenied, http: 401,
			refused: &refusalInfo{Reason: reasonExpired},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := explainJSON(t, append([]string{"--config", env.config, "--token", tokenFile(t, tc.token)}, tc.args...)...)
			if status != tc.status || e.Status != tc.http {
				t.Errorf("exit status %d, HTTP %d; want %d, %d", status, e.Status, tc.status, tc.http)
			}
			if e.Allowed != (tc.status == explainAllowed) {
				t.Errorf("allowed = %v", e.Allowed)
			}
			if e.Issuer == nil || e.Issuer.Iss != env.ti.URL() {
				t.Errorf("issuer = %+v, want %s", e.Issuer, env.ti.URL())
			}
			if !reflect.DeepEqual(e.Decision, tc.decision) {
				t.Errorf("decision = %+v, want %+v", e.Decision, tc.decision)
			}
			if got := strings.TrimSpace(e.Request.Action + " " + e.Request.Resource); got != tc.action {
				t.Errorf("action and resource %q, want %q", got, tc.action)
			}
			if tc.refused != nil && e.Refused != nil {
				e.Refused.Error = "" // the text is the routes package's
			}
			if !reflect.DeepEqual(e.Refused, tc.refused) {
				t.Errorf("refused = %+v, want %+v", e.Refused, tc.refused)
			}
			if !reflect.DeepEqual(e.Upstream, tc.upstream) {
				t.Errorf("upstream = %+v, want %+v", e.Upstream, tc.upstream)
			}
			if e.Token == nil || e.Token.Sub != "repo:acme/app:ref:refs/heads/"+map[bool]string{true: "feature", false: "main"}[tc.token == branch] {
				t.Errorf("token = %+v", e.Token)
			}
		})
	}
}

// Why each role does or does not match is the policy engine's
// ExplainRoles, on the token's verified claims.
func TestExplainRoles(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	_, e := explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ciToken(t, "refs/heads/feature", nil)),
		"--path", "/system/functions?namespace=staging")
	want := []roleInfo{
		{Role: "auditor", Reason: `principal: sub "repo:acme/app:ref:refs/heads/feature" is not one of ["auditor"]`},
		{Role: "ci-staging", Reason: `condition StringLike["jwt:ref"]: the claim "refs/heads/feature" matches none of ["refs/heads/main"]`},
	}
	if !reflect.DeepEqual(e.Roles, want) {
		t.Errorf("roles = %+v\nwant %+v", e.Roles, want)
	}

	_, e = explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ciToken(t, "refs/heads/main", nil)),
		"--path", "/system/secrets?namespace=staging")
	want = []roleInfo{
		{Role: "auditor", Reason: `principal: sub "repo:acme/app:ref:refs/heads/main" is not one of ["auditor"]`},
		{Role: "ci-staging", Matched: true, Skipped: []string{
			`policy staging-rw, statement secrets (Allow): condition StringEqual["jwt:environment"]: the claim is missing`}},
	}
	if !reflect.DeepEqual(e.Roles, want) || e.Decision == nil || e.Decision.Outcome != "denied_no_match" {
		t.Errorf("roles = %+v\nwant %+v; decision %+v", e.Roles, want, e.Decision)
	}
	_, e = explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ciToken(t, "refs/heads/main",
		func(c map[string]any) { c["environment"] = "staging" })), "--path", "/system/secrets?namespace=staging")
	if e.Decision == nil || e.Decision.Sid != "secrets" || len(e.Roles) != 2 || e.Roles[1].Skipped != nil {
		t.Errorf("with the environment claim: roles %+v, decision %+v", e.Roles, e.Decision)
	}
}

// A token of an issuer the config does not trust is refused by its iss
// alone: no fetch from that issuer.
func TestExplainUnknownIssuer(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	other := newTestIssuer(t)
	okey := other.addKey(t, "k9", "ES256", "p256")
	tok := other.token(t, okey, other.claims("fed-gw.tenant1"))
	status, e := explainJSON(t, "--config", env.config, "--token", tokenFile(t, tok), "--path", "/system/info")
	if status != explainDenied || e.Status != 401 || e.Issuer != nil || e.Token != nil || e.Decision != nil || e.Upstream != nil {
		t.Errorf("status %d, explanation %+v; want 1, a 401 with no issuer, token, decision or upstream", status, e)
	}
	if e.Refused == nil || e.Refused.Reason != reasonUnknownIssuer || !strings.Contains(e.Refused.Error, other.URL()) {
		t.Errorf("refused = %+v, want %s naming %s", e.Refused, reasonUnknownIssuer, other.URL())
	}
	if n := other.jwksHits.Load() + other.discHits.Load(); n != 0 {
		t.Errorf("the untrusted issuer was asked %d times", n)
	}
}

// With --token alone: what the token may do, per namespace.
func TestExplainAccess(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	status, e := explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ciToken(t, "refs/heads/main", nil)))
	fn := []string{"Function:List", "Function:Get", "Function:Create", "Function:Update", "Function:Delete",
		"Function:Logs", "Function:Scale", "Function:Invoke", "Namespace:List"}
	if status != explainAllowed || e.Access == nil || e.Request != nil {
		t.Fatalf("status %d, explanation %+v", status, e)
	}
	// The Deny on staging:prod-* does not cover staging as a whole: it
	// shows among the statements.
	if got := fmt.Sprint(e.Access.Namespaces); got != fmt.Sprintf("[{staging %v []}]", fn) {
		t.Errorf("namespaces = %s", got)
	}
	if len(e.Access.Cluster) != 0 {
		t.Errorf("cluster = %v, want nothing", e.Access.Cluster)
	}
	wantStmts := []grantInfo{
		{Role: "ci-staging", Policy: "staging-rw", Sid: "rw", Effect: "Allow", Action: []string{"Function:*", "Namespace:List"}, Resource: []string{"staging:*"}},
		{Role: "ci-staging", Policy: "staging-rw", Sid: "keep-prod", Effect: "Deny", Action: []string{"Function:Delete"}, Resource: []string{"staging:prod-*"}},
	}
	if !reflect.DeepEqual(e.Access.Statements, wantStmts) {
		t.Errorf("statements = %+v", e.Access.Statements)
	}

	// The auditor reads everywhere: the default namespace too.
	c := env.ti.claims("fed-gw.tenant1")
	c["sub"] = "auditor"
	_, e = explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ti.token(t, env.key, c)))
	want := []namespaceInfo{{Namespace: "openfaas-fn", Actions: []iam.Action{"Function:List", "Function:Get", "Namespace:List"}}}
	if !reflect.DeepEqual(e.Access.Namespaces, want) {
		t.Errorf("auditor's namespaces = %+v, want %+v", e.Access.Namespaces, want)
	}

	// A token that matches no role may do nothing: status 1.
	status, e = explainJSON(t, "--config", env.config, "--token", tokenFile(t, env.ciToken(t, "refs/heads/x", nil)))
	if status != explainDenied || e.Allowed || len(e.Access.Namespaces) != 0 || len(e.Access.Statements) != 0 {
		t.Errorf("status %d, access %+v: want 1 and nothing", status, e.Access)
	}
}

// GET /system/namespaces: the handler filters the gateway's list (here
// the stand-in's: the default namespace and those the token's statements
// name) to the namespaces the token holds an action in.
func TestExplainNamespaces(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	c := env.ti.claims("fed-gw.tenant1")
	c["sub"] = "auditor"
	for _, tc := range []struct {
		name, token string
		want        namespacesInfo
	}{
		{"CI sees staging only", env.ciToken(t, "refs/heads/main", nil),
			namespacesInfo{Gateway: []string{"openfaas-fn", "staging"}, Client: []string{"staging"}}},
		{"the auditor sees all but kube-system", env.ti.token(t, env.key, c),
			namespacesInfo{Gateway: []string{"kube-system", "openfaas-fn"}, Client: []string{"openfaas-fn"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, e := explainJSON(t, "--config", env.config, "--token", tokenFile(t, tc.token), "--path", "/system/namespaces")
			if status != explainAllowed || e.Upstream == nil || !reflect.DeepEqual(e.Upstream.Namespaces, &tc.want) {
				t.Fatalf("status %d, upstream %+v; want 0 and namespaces %+v", status, e.Upstream, tc.want)
			}
		})
	}
}

// The JSON is one object with these members, for scripts; and the token
// is in no output, text or JSON, allowed or refused.
func TestExplainOutput(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	tok := env.ciToken(t, "refs/heads/main", nil)
	expired := env.ciToken(t, "refs/heads/main", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	base := []string{"--config", env.config, "--path", "/system/functions?namespace=staging"}

	_, out, _ := runExplain(t, append(base, "--token", tok, "--json")...)
	var shape map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &shape); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range shape {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"allowed", "decision", "handler", "issuer", "request", "roles", "status", "token", "upstream"}; !slices.Equal(keys, want) {
		t.Errorf("members %v, want %v", keys, want)
	}
	var handler bytes.Buffer
	if err := json.Compact(&handler, shape["handler"]); err != nil || handler.String() != `{"server":"srv0","hosts":["gw.example.com"],"iam":"enforce"}` {
		t.Errorf("handler = %s", shape["handler"])
	}

	status, text, err := runExplain(t, append(base, "--token", tok)...)
	if status != explainAllowed || err != nil {
		t.Fatalf("status %d, %v", status, err)
	}
	for _, want := range []string{
		"handler    server srv0, host gw.example.com; iam enforce\n",
		"issuer     " + env.ti.URL() + "\n",
		`token      sub "repo:acme/app:ref:refs/heads/main", aud ["fed-gw.tenant1"], exp `,
		"roles      auditor: not matched: principal: sub",
		"           ci-staging: matched\n",
		"             not applied: policy staging-rw, statement secrets (Allow): condition StringEqual[\"jwt:environment\"]: the claim is missing\n",
		"request    GET /system/functions?namespace=staging\n",
		"action     Function:List on staging:*\n",
		"decision   allowed by role ci-staging, policy staging-rw, statement rw\n",
		"status     200 OK\n",
		"upstream   GET /system/functions?namespace=staging (query as sent), no body\n",
		"           gateway credential attached (by transport fed_oidc)\n",
		"           the caller's token stops here\n",
		"result     allowed\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}

	for _, args := range [][]string{
		{"--token", tok}, {"--token", tok, "--json"}, {"--token", expired}, {"--token", expired, "--json"},
		{"--token", tok, "--path", "/system/functions?namespace=openfaas-fn"},
		{"--token", tok[:len(tok)-4] + "AAAA", "--json"}, // bad signature
	} {
		_, out, err := runExplain(t, append([]string{"--config", env.config}, args...)...)
		for _, part := range strings.Split(args[1], ".") {
			if strings.Contains(out, part) || err != nil && strings.Contains(err.Error(), part) {
				t.Errorf("%v: the output shows the token:\n%s", args[2:], out)
			}
		}
	}
}

// Several handlers: --host picks one by its site's host matcher, and
// without it explain refuses, naming them.
func TestExplainSeveralHandlers(t *testing.T) {
	env := newExplainEnv(t, `{
	admin off
}
http://a.example.com {
	fed_oidc {
		issuer %[1]s
		audience fed-gw.tenant1
		iam %[2]s
	}
	reverse_proxy 127.0.0.1:9
}
http://b.example.com, http://*.b.example.com {
	fed_oidc {
		issuer %[1]s
		audience fed-gw.other
	}
	reverse_proxy 127.0.0.1:9
}
`)
	tok := tokenFile(t, env.ciToken(t, "refs/heads/main", nil))
	args := []string{"--config", env.config, "--token", tok, "--path", "/system/functions?namespace=staging"}
	status, _, err := runExplain(t, args...)
	if status != explainUsage || err == nil || !strings.Contains(err.Error(),
		"2 fed_oidc handlers; choose one with --host: server srv0, host a.example.com; server srv0, host b.example.com *.b.example.com") {
		t.Errorf("status %d, error %v", status, err)
	}
	status, _, err = runExplain(t, append(args, "--host", "c.example.com")...)
	if status != explainUsage || err == nil || !strings.Contains(err.Error(), `no fed_oidc handler serves host "c.example.com"`) {
		t.Errorf("status %d, error %v", status, err)
	}

	status, e := explainJSON(t, append(args, "--host", "a.example.com")...)
	if status != explainAllowed || !slices.Equal(e.Handler.Hosts, []string{"a.example.com"}) || e.Handler.IAM != "enforce" {
		t.Errorf("a.example.com: status %d, handler %+v", status, e.Handler)
	}
	// Caddy's host matcher, wildcards included; that site's handler wants
	// another audience.
	status, e = explainJSON(t, append(args, "--host", "x.b.example.com")...)
	if status != explainDenied || e.Handler.IAM != "off" || e.Refused == nil || e.Refused.Reason != reasonWrongAudience {
		t.Errorf("x.b.example.com: status %d, handler %+v, refused %+v", status, e.Handler, e.Refused)
	}
}

// Without iam, a valid token may use the whole /system/ API, and
// invocations only with allow_invoke; in dry_run, a denial is logged and
// the request still forwarded, and explain says it is not allowed.
func TestExplainWithoutIAMAndDryRun(t *testing.T) {
	env := newExplainEnv(t, `http://gw.example.com {
	fed_oidc {
		issuer %s
		audience fed-gw.tenant1
		# %s
	}
	reverse_proxy 127.0.0.1:9
}
`)
	tok := tokenFile(t, env.ciToken(t, "refs/heads/feature", nil))
	status, e := explainJSON(t, "--config", env.config, "--token", tok, "--path", "/system/secrets?namespace=kube-system")
	if status != explainAllowed || e.Decision != nil || e.Roles != nil || e.Upstream == nil || e.Upstream.Credential != credentialNone {
		t.Errorf("no iam: status %d, %+v", status, e)
	}
	status, e = explainJSON(t, "--config", env.config, "--token", tok, "--path", "/function/env")
	if status != explainDenied || e.Status != 403 || e.Refused == nil || e.Refused.Reason != outcomePathDenied {
		t.Errorf("invocation without allow_invoke: status %d, HTTP %d, refused %+v", status, e.Status, e.Refused)
	}
	status, e = explainJSON(t, "--config", env.config, "--token", tok)
	if status != explainAllowed || e.Access == nil || !e.Access.All || e.Access.Invoke {
		t.Errorf("no iam, --token alone: status %d, access %+v", status, e.Access)
	}

	dry := newExplainEnv(t, `http://gw.example.com {
	fed_oidc {
		issuer %s
		audience fed-gw.tenant1
		iam %s
		iam_mode dry_run
	}
	reverse_proxy 127.0.0.1:9
}
`)
	tok = tokenFile(t, dry.ciToken(t, "refs/heads/feature", nil))
	status, e = explainJSON(t, "--config", dry.config, "--token", tok, "--path", "/system/functions?namespace=staging")
	if status != explainDenied || e.Status != 200 || e.Upstream == nil || e.Decision == nil ||
		e.Decision.Enforced || e.Decision.Outcome != "denied_no_match" {
		t.Errorf("dry_run: status %d, HTTP %d, decision %+v, upstream %+v", status, e.Status, e.Decision, e.Upstream)
	}
}

// An issuer whose keys cannot be fetched: a clear error, status 2, after
// at most --timeout.
func TestExplainIssuerDown(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	tok := tokenFile(t, env.ciToken(t, "refs/heads/main", nil))
	env.ti.down.Store(true)
	start := time.Now()
	status, out, err := runExplain(t, "--config", env.config, "--token", tok, "--timeout", "3s", "--path", "/system/info")
	if status != explainUsage || out != "" || err == nil ||
		!strings.Contains(err.Error(), "fetching the keys of issuer "+env.ti.URL()) || !strings.Contains(err.Error(), "502") {
		t.Errorf("status %d, output %q, error %v", status, out, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestExplainUsage(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", env.config}, "--token is required"},
		{[]string{"--config", env.config, "--token", "x", "--method", "POST"}, "--method and --body need --path"},
		{[]string{"--config", env.config, "--token", "x", "--path", "system/info"}, "starting with /"},
		{[]string{"--config", env.config, "--token", "@" + filepath.Join(t.TempDir(), "none")}, "--token: open"},
		{[]string{"--config", filepath.Join(t.TempDir(), "Caddyfile"), "--token", "x"}, "no such file"},
	} {
		status, out, err := runExplain(t, tc.args...)
		if status != explainUsage || out != "" || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: status %d, output %q, error %v; want 2 and %q", tc.args, status, out, err, tc.want)
		}
	}
}

// The subcommand is registered under `caddy fed-oidc`, and a denial is an
// error (exit status 1) after the explanation.
func TestExplainRegistered(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	tok := tokenFile(t, env.ciToken(t, "refs/heads/main", nil))
	out, err := runFedOIDCCommand(t, "explain", "--config", env.config, "--token", tok, "--path", "/system/info")
	if err != errDenied || !strings.Contains(out, "decision   denied: no statement allows it\n") {
		t.Errorf("error %v, output:\n%s", err, out)
	}
	if out, err := runFedOIDCCommand(t, "explain", "--config", env.config, "--token", tok); err != nil || !strings.Contains(out, "access     staging: ") {
		t.Errorf("error %v, output:\n%s", err, out)
	}
}

// A JSON config, with a second trusted issuer as a JwtIssuer and a third
// that is down: the token's issuer is named, and only its keys are
// waited for.
func TestExplainJSONConfigAndIssuers(t *testing.T) {
	env := newExplainEnv(t, oneSite)
	ci := newTestIssuer(t)
	ckey := ci.addKey(t, "c1", "RS256", "rsa2048")
	extra := fmt.Sprintf(`
apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata: {name: ci}
spec: {iss: %q, aud: [fed-gw.tenant1]}
---
apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata: {name: dead}
spec: {iss: "http://127.0.0.1:1", aud: [fed-gw.tenant1]}
`, ci.URL())
	cfg, err := os.ReadFile(env.config)
	if err != nil {
		t.Fatal(err)
	}
	iamDir := strings.Fields(string(cfg)[strings.Index(string(cfg), "\t\tiam "):])[1]
	writeFile(t, filepath.Join(iamDir, "issuers.yaml"), extra)
	adapted := filepath.Join(t.TempDir(), "caddy.json")
	adapter := caddyconfig.GetAdapter("caddyfile")
	js, _, err := adapter.Adapt(cfg, map[string]any{"filename": env.config})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, adapted, string(js))

	c := ci.claims("fed-gw.tenant1")
	c["sub"] = "auditor"
	start := time.Now()
	status, e := explainJSON(t, "--config", adapted, "--token", tokenFile(t, ci.token(t, ckey, c)),
		"--path", "/system/function/env?namespace=openfaas-fn")
	if status != explainAllowed || e.Issuer == nil || *e.Issuer != (issuerInfo{Iss: ci.URL(), Name: "ci"}) ||
		e.Decision == nil || e.Decision.Role != "auditor" {
		t.Errorf("status %d, issuer %+v, decision %+v", status, e.Issuer, e.Decision)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: waited for an issuer the token does not name", d)
	}
}
