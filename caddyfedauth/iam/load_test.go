package iam

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "apiVersion: iam.openfaas.com/v1\n"

func TestParseShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		kinds string // the kinds and names parsed, or the error substring after "error: "
	}{
		{"multi-document, empty documents and comments", "# c\n---\n" + policyYAML("p", "- {sid: s, action: '*', effect: Allow, resource: '*'}") + "---\n# only a comment\n---\n" + roleYAML("r", "policy: p\n"+everyone) + "---\n", "Policy/p Role/r"},
		{"kubectl List", `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: iam.openfaas.com/v1
  kind: Role
  metadata: {name: r, uid: x, resourceVersion: "1", creationTimestamp: "2024-01-01T00:00:00Z", labels: {a: b}, annotations: {kubectl.kubernetes.io/last-applied-configuration: "{}"}, managedFields: [{manager: kubectl}], generation: 2}
  spec: {policy: p}
  status: {anything: [1, 2]}
`, "Role/r"},
		{"typed list", header + "kind: RoleList\nitems:\n- {apiVersion: iam.openfaas.com/v1, kind: Role, metadata: {name: r}, spec: {policy: p}}\n", "Role/r"},
		{"typed list of the wrong kind", header + "kind: PolicyList\nitems:\n- {apiVersion: iam.openfaas.com/v1, kind: Role, metadata: {name: r}, spec: {policy: p}}\n", "error: test.yaml:4: Role \"r\": kind: a PolicyList may not contain a Role"},
		{"List with the wrong apiVersion", "apiVersion: iam.openfaas.com/v1\nkind: List\nitems: []\n", `error: apiVersion: want v1, got "iam.openfaas.com/v1"`},
		{"List without items", "apiVersion: v1\nkind: List\n", "error: items: required"},
		{"List without apiVersion", "kind: List\nitems: []\n", "error: apiVersion: required"},
		{"List in a List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n", "error: kind: a list may not contain a list"},
		{"List item not an object", "apiVersion: v1\nkind: List\nitems: [a]\n", `error: want an object, got "a"`},
		{"sequence of objects", `[{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "spec": {"policy": ["p"]}}]`, "Role/r"},
		{"JSON object", `{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "spec": {"policy": ["p"]}}`, "Role/r"},
		{"empty", "", ""},
		{"document a scalar", "hello\n", `error: want an object, a List or a sequence of objects, got "hello"`},
		{"unknown kind", header + "kind: ClusterRole\nmetadata: {name: admin}\nspec: {}\n", `error: test.yaml:2: ClusterRole "admin": kind: unknown kind "ClusterRole": want JwtIssuer, Policy, Role or List`},
		{"no kind", header + "metadata: {name: x}\nspec: {}\n", "error: kind: required"},
		{"kind not a string", header + "kind: [Role]\nmetadata: {name: x}\nspec: {}\n", "error: kind: required"},
		{"wrong apiVersion", "apiVersion: iam.openfaas.com/v2\nkind: Role\nmetadata: {name: r}\nspec: {policy: p}\n", `error: apiVersion: want iam.openfaas.com/v1, got "iam.openfaas.com/v2"`},
		{"no apiVersion", "kind: Role\nmetadata: {name: r}\nspec: {policy: p}\n", "error: apiVersion: required"},
		{"no metadata", header + "kind: Role\nspec: {policy: p}\n", "error: metadata: required"},
		{"no name", header + "kind: Role\nmetadata: {namespace: openfaas}\nspec: {policy: p}\n", "error: metadata.name: required"},
		{"no spec", header + "kind: Role\nmetadata: {name: r}\n", "error: spec: required"},
		{"unknown top field, case variant", header + "kind: Role\nmetadata: {name: r}\nSpec: {policy: p}\n", `error: test.yaml:4: Role "r": Spec: unknown field (did you mean "spec"?)`},
		{"unknown metadata field", header + "kind: Role\nmetadata: {name: r, nmespace: x}\nspec: {policy: p}\n", "error: metadata.nmespace: unknown field"},
		{"unknown spec field, plural", policyYAML("p", "- {sid: s, action: '*', effect: Allow, resources: '*'}"), `error: spec.statement[0].resources: unknown field (did you mean "resource"?)`},
		{"unknown issuer field", header + "kind: JwtIssuer\nmetadata: {name: i}\nspec: {iss: https://a.example.com, aud: a, jwks_url: https://a.example.com/k}\n", `error: spec.jwks_url: unknown field`},
		{"duplicate key", header + "kind: Role\nmetadata: {name: r}\nspec:\n  policy: [a]\n  policy: [b]\n", "error: test.yaml:6: Role \"r\": spec.policy: duplicate key (first at line 5)"},
		{"duplicate condition key", roleYAML("r", "policy: p\ncondition:\n  StringEqual:\n    jwt:iss: a\n    jwt:iss: b\n"), `error: spec.condition["StringEqual"]["jwt:iss"]: duplicate key`},
		{"alias", header + "kind: Role\nmetadata: {name: r}\nspec:\n  policy: &p [a]\n  principal: {jwt:sub: *p}\n", "error: aliases are not supported"},
		{"merge key", header + "kind: Role\nmetadata: {name: r}\nspec:\n  <<: {policy: [a]}\n", "error: spec: key: want a string, got !!merge"},
		{"number for a string", header + "kind: Role\nmetadata: {name: r}\nspec:\n  policy: p\n  condition: {StringEqual: {jwt:repository_id: [123456]}}\n", "error: test.yaml:6: Role \"r\": spec.condition[\"StringEqual\"][\"jwt:repository_id\"][0]: want a string, got the number 123456 (quote it)"},
		{"boolean for a string", header + "kind: Role\nmetadata: {name: r}\nspec: {policy: true}\n", "error: spec.policy: want a string, got the boolean true (quote it)"},
		{"null for a string", header + "kind: Role\nmetadata: {name: r}\nspec: {policy: [~]}\n", "error: spec.policy[0]: want a string, got null"},
		{"null for a list", header + "kind: Role\nmetadata: {name: r}\nspec: {policy: }\n", "error: spec.policy: want a string, got null"},
		{"object for a list", header + "kind: Role\nmetadata: {name: r}\nspec: {policy: {a: b}}\n", "error: spec.policy: want a string or a list of strings, got an object"},
		{"custom tag", header + "kind: Role\nmetadata: {name: r}\nspec: {policy: !secret p}\n", "error: want a string, got !secret \"p\""},
		{"string for a bool", header + "kind: JwtIssuer\nmetadata: {name: i}\nspec: {iss: https://a.example.com, aud: a, acceptAzp: 'yes'}\n", "error: spec.acceptAzp: want true or false, got \"yes\""},
		{"statement not a list", header + "kind: Policy\nmetadata: {name: p}\nspec: {statement: {sid: s}}\n", "error: spec.statement: want a list of statements, got an object"},
		{"syntax error", "a: [b\n", "error: test.yaml: parsing YAML: yaml: line 1"},
		{"tabs", "a:\n\t- b\n", "error: parsing YAML"},
		{"unquoted *", policyYAML("p", "- sid: s\n  action: *\n  effect: Allow\n  resource: '*'"), "error: test.yaml: parsing YAML: yaml: line 7: did not find expected alphabetic or numeric character (a value starting with * is an alias in YAML: quote it, '*')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Parse("test.yaml", []byte(tc.input))
			want, wantErr := strings.CutPrefix(tc.kinds, "error: ")
			if wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			if strings.Join(got, " ") != want {
				t.Errorf("parsed %q, want %q", got, want)
			}
		})
	}
}

// The docs write a scalar in places where the schema wants a list; both
// read the same.
func TestScalarOrList(t *testing.T) {
	scalar := compileYAML(t, policyYAML("p", "- {sid: s, action: Function:List, effect: Allow, resource: 'dev:*', condition: {StringEqual: {jwt:x: a}}}")+
		roleYAML("r", "policy: p\nprincipal: {jwt:sub: u}\ncondition: {StringEqual: {jwt:iss: https://idp.example.com}}"))
	list := compileYAML(t, policyYAML("p", "- {sid: s, action: [Function:List], effect: Allow, resource: ['dev:*'], condition: {StringEqual: {jwt:x: [a]}}}")+
		roleYAML("r", "policy: [p]\nprincipal: {jwt:sub: [u]}\ncondition: {StringEqual: {jwt:iss: [https://idp.example.com]}}"))
	a, _ := json.Marshal(scalar.Objects())
	b, _ := json.Marshal(list.Objects())
	if string(a) != string(b) {
		t.Errorf("scalar %s\nlist   %s", a, b)
	}
	c := claims("sub", "u", "x", "a")
	if !scalar.Decide(c, FunctionList, "dev:*").Allowed() || !list.Decide(c, FunctionList, "dev:*").Allowed() {
		t.Error("not allowed")
	}
}

func TestCompileErrors(t *testing.T) {
	allowAll := policyYAML("all", "- {sid: s, action: '*', effect: Allow, resource: '*'}")
	stmt := func(s string) string { return policyYAML("p", s) }
	issuer := func(spec string) string {
		return header + "kind: JwtIssuer\nmetadata: {name: i}\nspec: " + spec + "\n---\n"
	}
	for _, tc := range []struct {
		name, input, want string
	}{
		{"missing policy", roleYAML("r", "policy: [all, nope]\n"+everyone) + allowAll, `test.yaml:5: Role "r": spec.policy[1]: no Policy "nope"`},
		{"unknown action", stmt("- {sid: s, action: [Function:List, Function:Read], effect: Allow, resource: '*'}"),
			`test.yaml:6: Policy "p": spec.statement[0].action[1]: unknown action "Function:Read": want an action such as Function:List, a service wildcard such as Function:*, or *`},
		{"action in the wrong case", stmt("- {sid: s, action: function:list, effect: Allow, resource: '*'}"), `unknown action "function:list" (did you mean "Function:List"?)`},
		{"action glob", stmt("- {sid: s, action: 'Function:L*', effect: Allow, resource: '*'}"), `unknown action "Function:L*"`},
		{"action on every service", stmt("- {sid: s, action: '*:List', effect: Allow, resource: '*'}"), `unknown action "*:List"`},
		{"unknown service", stmt("- {sid: s, action: 'Queue:*', effect: Allow, resource: '*'}"), `unknown action "Queue:*"`},
		{"empty action", stmt("- {sid: s, action: '', effect: Allow, resource: '*'}"), `unknown action ""`},
		{"no action", stmt("- {sid: s, action: [], effect: Allow, resource: '*'}"), "spec.statement[0].action: required"},
		{"docs' Function:Admin", stmt("- {sid: s, action: Function:Admin, effect: Allow, resource: '*'}"), `unknown action "Function:Admin"`},
		{"unknown operator", roleYAML("r", "policy: all\ncondition: {StringEquall: {jwt:iss: a}}") + allowAll, `Role "r": spec.condition["StringEquall"]: unknown operator; want one of ForAnyValue:StringEqual`},
		{"operator in the wrong case", roleYAML("r", "policy: all\ncondition: {stringlike: {jwt:iss: a}}") + allowAll, `(did you mean "StringLike"?)`},
		{"ForAllValues", roleYAML("r", "policy: all\ncondition: {'ForAllValues:StringEqual': {jwt:groups: a}}") + allowAll, "unknown operator"},
		{"ForAnyValue negated", roleYAML("r", "policy: all\ncondition: {'ForAnyValue:StringNotEqual': {jwt:groups: a}}") + allowAll, "unknown operator"},
		{"docs' NotStringEquals", roleYAML("r", "policy: all\ncondition: {NotStringEquals: {jwt:groups: a}}") + allowAll, "unknown operator"},
		{"key without jwt:", roleYAML("r", "policy: all\ncondition: {StringEqual: {iss: a}}") + allowAll, `spec.condition["StringEqual"]["iss"]: want a key of the form jwt:<claim>`},
		{"key jwt: alone", roleYAML("r", "policy: all\ncondition: {StringEqual: {'jwt:': a}}") + allowAll, "want a key of the form jwt:<claim>"},
		{"no values", roleYAML("r", "policy: all\ncondition: {StringEqual: {jwt:iss: []}}") + allowAll, "no values"},
		{"bad effect", stmt("- {sid: s, action: '*', effect: allow, resource: '*'}"), `spec.statement[0].effect: want Allow or Deny, got "allow" (did you mean "Allow"?)`},
		{"no effect", stmt("- {sid: s, action: '*', resource: '*'}"), `effect: want Allow or Deny, got ""`},
		{"no sid", stmt("- {action: '*', effect: Allow, resource: '*'}"), "spec.statement[0].sid: required"},
		{"duplicate sid", stmt("- {sid: s, action: '*', effect: Allow, resource: '*'}\n- {sid: s, action: '*', effect: Deny, resource: 'a:*'}"), `spec.statement[1].sid: duplicate sid "s", also in statement 0`},
		{"no resource", stmt("- {sid: s, action: '*', effect: Allow, resource: []}"), "spec.statement[0].resource: required"},
		{"bad statement condition", stmt("- {sid: s, action: '*', effect: Allow, resource: '*', condition: {Like: {jwt:a: b}}}"), `spec.statement[0].condition["Like"]: unknown operator`},
		{"duplicate name", allowAll + allowAll, `test.yaml:10: Policy "all": metadata.name: duplicate Policy name, first defined at test.yaml:1`},
		{"same name, two kinds", allowAll + roleYAML("all", "policy: all\n"+everyone), ""},
		{"bad name", policyYAML("Staging_RW", "- {sid: s, action: '*', effect: Allow, resource: '*'}"), `"Staging_RW" is not a DNS subdomain name`},
		{"name with a leading dash", policyYAML("-p", "- {sid: s, action: '*', effect: Allow, resource: '*'}"), "is not a DNS subdomain name"},
		{"principal key", roleYAML("r", "policy: all\nprincipal: {jwt:email: a@example.com}\n"+everyone) + allowAll, `spec.principal["jwt:email"]: unknown principal key: only jwt:sub is supported`},
		{"empty principal", roleYAML("r", "policy: all\nprincipal: {}\n"+everyone) + allowAll, "spec.principal: empty"},
		{"empty subject", roleYAML("r", "policy: all\nprincipal: {jwt:sub: ''}\n"+everyone) + allowAll, `spec.principal["jwt:sub"][0]: empty`},
		{"no subjects", roleYAML("r", "policy: all\nprincipal: {jwt:sub: []}\n"+everyone) + allowAll, `no values: want at least one subject`},
		{"role that matches everyone", roleYAML("r", "policy: all") + allowAll, `Role "r": spec: neither principal nor condition`},
		{"role with an empty condition", roleYAML("r", "policy: all\ncondition: {}") + allowAll, "neither principal nor condition"},
		{"an invalid policy named", roleYAML("r", "policy: p\n"+everyone) + stmt("- {sid: s, action: nope, effect: Allow, resource: '*'}"), `unknown action "nope"`},
		{"issuer without iss", issuer("{aud: a}"), `JwtIssuer "i": spec.iss: required`},
		{"issuer without aud", issuer("{iss: https://a.example.com}"), "spec.aud: required"},
		{"issuer with an empty aud", issuer("{iss: https://a.example.com, aud: ['']}"), "spec.aud[0]: empty"},
		{"issuer not a URL", issuer("{iss: keycloak, aud: a}"), `spec.iss: want an https URL, got "keycloak"`},
		{"issuer with a query", issuer("{iss: 'https://a.example.com/?x=1', aud: a}"), "has a query"},
		{"issuer with a fragment", issuer("{iss: 'https://a.example.com/#x', aud: a}"), "has a fragment"},
		{"issuer with user info", issuer("{iss: 'https://u:p@a.example.com/', aud: a}"), "has user info"},
		{"bad jwksUrl", issuer("{iss: https://a.example.com, aud: a, jwksUrl: 'file:///etc/keys'}"), `spec.jwksUrl: want an https URL, got "file:///etc/keys"`},
		{"bad issInternal", issuer("{iss: https://a.example.com, aud: a, issInternal: 'http://'}"), "spec.issInternal: URL \"http://\" has no host"},
		{"bad tokenExpiry", issuer("{iss: https://a.example.com, aud: a, tokenExpiry: 1d}"), `spec.tokenExpiry: want a positive duration such as 30m or 12h, got "1d"`},
		{"negative tokenExpiry", issuer("{iss: https://a.example.com, aud: a, tokenExpiry: -1h}"), "spec.tokenExpiry"},
		{"empty algorithm", issuer("{iss: https://a.example.com, aud: a, algorithms: [RS256, '']}"), "spec.algorithms[1]: empty"},
		{"duplicate iss", issuer("{iss: https://a.example.com, aud: a}") + strings.Replace(issuer("{iss: https://a.example.com, aud: b}"), "name: i", "name: j", 1), `JwtIssuer "j": spec.iss: JwtIssuer "i" has the same iss`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compileErr(tc.input)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("error %q\nwant one containing %q", got, tc.want)
			}
		})
	}
}

// Every error is reported, each an *Error naming file, object and field.
func TestCompileReportsEveryError(t *testing.T) {
	objs, err := Parse("x.yaml", []byte(policyYAML("p", "- {sid: s, action: nope, effect: maybe, resource: 'a:b:c'}")+roleYAML("r", "policy: q\n"+everyone)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(objs)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ie *Error
		if !errors.As(e, &ie) || ie.File != "x.yaml" || ie.Line == 0 || ie.Name == "" {
			t.Errorf("%v: not a located *Error", e)
		}
		fields = append(fields, ie.Field)
	}
	want := "spec.statement[0].effect spec.statement[0].action[0] spec.statement[0].resource[0] spec.policy[0]"
	if strings.Join(fields, " ") != want {
		t.Errorf("fields %q, want %q", fields, want)
	}
}

func TestMalformedResources(t *testing.T) {
	for _, r := range []string{"", "staging", ":fn", "staging:", ":", "a:b:c", "staging/*", " staging:*", "staging:* ", "staging:fn name",
		"staging:fn/x", "**", "staging:fn%2F", "ns:*\n"} {
		got := compileErr(policyYAML("p", "- {sid: s, action: '*', effect: Allow, resource: "+jsonString(r)+"}"))
		if !strings.Contains(got, "malformed resource") {
			t.Errorf("%q: %q", r, got)
		}
	}
	for _, r := range []string{"*", "a:*", "a:b", "*:*", "a-*:b-?", "a.b_c:D.e-F", "a:**"} {
		if got := compileErr(policyYAML("p", "- {sid: s, action: '*', effect: Allow, resource: "+jsonString(r)+"}")); got != "" {
			t.Errorf("%q: %v", r, got)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestWarnings(t *testing.T) {
	issuers := header + "kind: JwtIssuer\nmetadata: {name: a}\nspec: {iss: 'https://a.example.com', aud: gw}\n---\n" +
		header + "kind: JwtIssuer\nmetadata: {name: b}\nspec: {iss: 'https://b.example.com', aud: gw}\n---\n"
	allowAll := policyYAML("all", "- {sid: s, action: '*', effect: Allow, resource: '*'}")
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"principal without jwt:iss, two issuers", issuers + allowAll + roleYAML("r", "policy: all\nprincipal: {jwt:sub: u}"),
			[]string{`Role "r": spec.condition: no jwt:iss condition while 2 issuers are trusted: a token of another issuer with the same sub matches the role`}},
		{"condition without jwt:iss, two issuers", issuers + allowAll + roleYAML("r", "policy: all\ncondition: {StringEqual: {jwt:email: a}}"),
			[]string{"no jwt:iss condition while 2 issuers"}},
		{"negated jwt:iss pins nothing", issuers + allowAll + roleYAML("r", "policy: all\ncondition: {StringNotEqual: {jwt:iss: https://a.example.com}}"),
			[]string{"no jwt:iss condition while 2 issuers"}},
		{"principal without jwt:iss, one issuer", strings.SplitAfterN(issuers, "---\n", 2)[0] + allowAll + roleYAML("r", "policy: all\nprincipal: {jwt:sub: u}"), nil},
		{"pinned", issuers + allowAll + roleYAML("r", "policy: all\nprincipal: {jwt:sub: u}\ncondition: {StringEqual: {jwt:iss: https://a.example.com}}"), nil},
		{"pinned with a pattern", issuers + allowAll + roleYAML("r", "policy: all\ncondition: {StringLike: {jwt:iss: 'https://b.*'}}"), nil},
		{"jwt:iss of no trusted issuer", issuers + allowAll + roleYAML("r", "policy: all\ncondition: {StringEqual: {jwt:iss: https://c.example.com}}"),
			[]string{`Role "r": spec.condition["StringEqual"]["jwt:iss"]: no trusted JwtIssuer has an iss that matches: the role never matches`}},
		{"no roles", allowAll, []string{"no Role: every request is denied"}},
		{"empty policy", header + "kind: Policy\nmetadata: {name: p}\nspec: {statement: []}\n---\n" + roleYAML("r", "policy: p\n"+everyone), []string{`Policy "p": spec.statement: no statements`}},
		{"role without policies", roleYAML("r", "policy: []\n"+everyone), []string{`Role "r": spec.policy: no policies`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compileYAML(t, tc.input).Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("warning %q, want one containing %q", got[i], tc.want[i])
				}
			}
		})
	}
}

// A ConfigMap volume: each key is a link to ..data/key, ..data a link to
// the current timestamped directory, which a kubelet update swaps.
func TestLoadConfigMapLayout(t *testing.T) {
	dir := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	version := func(name, policy string) {
		t.Helper()
		write(filepath.Join(dir, name, "policies.yaml"), policy)
		write(filepath.Join(dir, name, "roles.yml"), roleYAML("r", "policy: p\n"+everyone))
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil { // the kubelet's atomic swap
			t.Fatal(err)
		}
	}
	version("..2024_01_01_00_00_00.1", policyYAML("p", "- {sid: v1, action: '*', effect: Allow, resource: 'dev:*'}"))
	for _, key := range []string{"policies.yaml", "roles.yml"} {
		if err := os.Symlink(filepath.Join("..data", key), filepath.Join(dir, key)); err != nil {
			t.Fatal(err)
		}
	}
	// Neither read: a subdirectory, another extension, a hidden file.
	write(filepath.Join(dir, "sub", "x.yaml"), "not: [valid")
	write(filepath.Join(dir, "README.md"), "not: [valid")
	write(filepath.Join(dir, ".hidden.yaml"), "not: [valid")

	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Decide(claims(), FunctionList, "dev:*"); d.Sid != "v1" {
		t.Fatalf("v1: %s", d.Reason())
	}
	if len(s.Objects()) != 2 {
		t.Errorf("%d objects, want 2 (the timestamped directory read twice?)", len(s.Objects()))
	}

	version("..2024_01_01_00_01_00.2", policyYAML("p", "- {sid: v2, action: '*', effect: Allow, resource: 'prod:*'}"))
	if s, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	if d := s.Decide(claims(), FunctionList, "dev:*"); d.Allowed() {
		t.Errorf("after the swap, v1 still applies: %s", d.Reason())
	}
	if d := s.Decide(claims(), FunctionList, "prod:*"); d.Sid != "v2" {
		t.Errorf("v2: %s", d.Reason())
	}

	// A key whose link dangles is an error naming it.
	if err := os.Symlink(filepath.Join("..data", "gone.yaml"), filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "gone.yaml")+": stat: no such file") {
		t.Errorf("dangling link: %v", err)
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	if s, err := Load(dir); err != nil || len(s.Warnings()) != 1 {
		t.Errorf("empty directory: %v %q", err, s.Warnings())
	} else if s.Decide(claims(), FunctionList, "dev:*").Allowed() {
		t.Error("the empty set allowed")
	}
	if _, err := Load(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "B.JSON")
	os.WriteFile(a, []byte(policyYAML("p", "- {sid: s, action: nope, effect: Allow, resource: '*'}")), 0o644)
	os.WriteFile(b, []byte(`{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "spec": {"polcy": []}}`), 0o644)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), b+`:1: Role "r": spec.polcy: unknown field`) {
		t.Errorf("both files' errors: %v", err)
	}
	os.WriteFile(a, []byte(policyYAML("p", "- {sid: s, action: '*', effect: Allow, resource: '*'}")+roleYAML("r", "policy: p\n"+everyone)), 0o644)
	if s, err := Load(a); err != nil || !s.Decide(claims(), FunctionList, "dev:*").Allowed() {
		t.Errorf("one file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, make([]byte, maxFileSize+1), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// Inline objects decode with the same strictness as files, and round-trip.
func TestObjectsJSON(t *testing.T) {
	s, err := Load("testdata/docs")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Objects(s.Objects()))
	if err != nil {
		t.Fatal(err)
	}
	var back Objects
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Errorf("round trip:\n%s\n%s", b, again)
	}
	if _, err := Compile(back); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{
		`[{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "Spec": {"policy": ["p"]}}]`,
		`[{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "spec": {"policy": ["p"]}, "spec": {"policy": ["q"]}}]`,
		`[{"apiVersion": "iam.openfaas.com/v1", "kind": "Role", "metadata": {"name": "r"}, "spec": {"policy": [1]}}]`,
	} {
		var o Objects
		if err := json.Unmarshal([]byte(bad), &o); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	var config struct {
		IAM Objects `json:"iam_objects"`
	}
	if err := json.Unmarshal([]byte(`{"iam_objects": [`+policyJSON+`]}`), &config); err != nil || len(config.IAM) != 1 {
		t.Errorf("embedded: %v", err)
	}
	if b, _ := json.Marshal(Objects(nil)); string(b) != "[]" {
		t.Errorf("nil: %s", b)
	}
}

const policyJSON = `{"apiVersion": "iam.openfaas.com/v1", "kind": "Policy", "metadata": {"name": "p"}, "spec": {"statement": [{"sid": "s", "action": ["*"], "effect": "Allow", "resource": ["*"]}]}}`

// Objects built in Go compile, and the set is a copy of them.
func TestCompileGoObjects(t *testing.T) {
	p := &Policy{Metadata: ObjectMeta{Name: "p"}, Spec: PolicySpec{Statement: []Statement{
		{Sid: "s", Action: StringList{"Function:List"}, Effect: EffectAllow, Resource: StringList{"dev:*"}},
	}}}
	r := &Role{Metadata: ObjectMeta{Name: "r"}, Spec: RoleSpec{Policy: StringList{"p"},
		Condition: Condition{"StringEqual": {"jwt:iss": {"https://idp.example.com"}}}}}
	s, err := Compile([]Object{p, r})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Statement[0].Resource[0] = "*"
	r.Spec.Condition["StringEqual"]["jwt:iss"][0] = "https://evil.example.com"
	if d := s.Decide(claims(), FunctionList, "prod:*"); d.Allowed() {
		t.Error("changing the objects changed the set")
	}
	if d := s.Decide(claims(), FunctionList, "dev:*"); !d.Allowed() {
		t.Errorf("%s", d.Reason())
	}
	for _, bad := range []Object{nil, (*Role)(nil), &Role{TypeMeta: TypeMeta{Kind: "Policy"}, Metadata: ObjectMeta{Name: "x"}}} {
		if _, err := Compile([]Object{bad}); err == nil {
			t.Errorf("%#v compiled", bad)
		}
	}
	iss := s.Issuers()
	if len(iss) != 0 {
		t.Errorf("issuers %v", iss)
	}
}
