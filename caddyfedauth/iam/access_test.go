package iam

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAccess(t *testing.T) {
	for _, tc := range []struct {
		name       string
		statements string
		ns         string
		want       string // Access, formatted by formatAccess
	}{
		{"namespace-wide", "- {sid: a, action: [Function:List, Function:Get], effect: Allow, resource: 'staging:*'}", "staging", "Function:List Function:Get"},
		{"another namespace", "- {sid: a, action: [Function:List], effect: Allow, resource: 'staging:*'}", "dev", ""},
		{"a prefix of the namespace", "- {sid: a, action: [Function:List], effect: Allow, resource: 'prod:*'}", "preprod", ""},
		{"one function", "- {sid: a, action: Function:Invoke, effect: Allow, resource: 'dev:env'}", "dev", "env=Function:Invoke"},
		{"one function, denied", "- {sid: a, action: Function:Invoke, effect: Allow, resource: 'dev:env'}\n- {sid: d, action: Function:Invoke, effect: Deny, resource: 'dev:env'}", "dev", ""},
		{"a pattern, denied on the namespace", "- {sid: a, action: Function:Invoke, effect: Allow, resource: 'dev:fn-*'}\n- {sid: d, action: '*', effect: Deny, resource: 'dev:*'}", "dev", ""},
		{"a pattern, denied on the same pattern", "- {sid: a, action: Function:Invoke, effect: Allow, resource: 'dev:fn-*'}\n- {sid: d, action: Function:Invoke, effect: Deny, resource: 'dev:fn-*'}", "dev", ""},
		{"a pattern, denied on a narrower one", "- {sid: a, action: Function:Invoke, effect: Allow, resource: 'dev:fn-*'}\n- {sid: d, action: Function:Invoke, effect: Deny, resource: 'dev:fn-a'}", "dev", "fn-*=Function:Invoke"},
		{"a pattern and a name, one action", "- {sid: a, action: [Function:Invoke, Function:Get], effect: Allow, resource: ['dev:fn-*', 'dev:env']}", "dev", "fn-*=Function:Get,Function:Invoke env=Function:Get,Function:Invoke"},
		{"namespace-wide less a denied action", "- {sid: a, action: 'Function:*', effect: Allow, resource: 'staging:*'}\n- {sid: d, action: [Function:Delete, Function:Invoke], effect: Deny, resource: 'staging:*'}",
			"staging", "Function:List Function:Get Function:Create Function:Update Function:Logs Function:Scale"},
		{"narrower grants beyond the namespace-wide ones only", "- {sid: a, action: Function:List, effect: Allow, resource: 'dev:*'}\n- {sid: b, action: [Function:List, Function:Invoke], effect: Allow, resource: 'dev:env'}", "dev", "Function:List env=Function:Invoke"},
		{"everything, less the cluster", "- {sid: a, action: '*', effect: Allow, resource: '*'}", "any",
			"Function:List Function:Get Function:Create Function:Update Function:Delete Function:Logs Function:Scale Function:Invoke Secret:List Secret:Create Secret:Update Secret:Delete Namespace:List Namespace:Get Namespace:Create Namespace:Update Namespace:Delete"},
		{"a namespace pattern", "- {sid: a, action: Secret:List, effect: Allow, resource: 'team-*:*'}", "team-a", "Secret:List"},
		{"a namespace pattern, no match", "- {sid: a, action: Secret:List, effect: Allow, resource: 'team-*:*'}", "teams", ""},
		{"the cluster only", "- {sid: a, action: System:Info, effect: Allow, resource: '*'}", "dev", ""},
		{"a conditional statement unmet", "- {sid: a, action: Function:List, effect: Allow, resource: '*', condition: {StringEqual: {jwt:role: admin}}}", "dev", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := compileYAML(t, policyYAML("p", tc.statements)+roleYAML("r", "policy: p\n"+everyone))
			r := s.MatchRoles(claims())
			a := r.Access(tc.ns)
			if got := formatAccess(a); got != tc.want {
				t.Errorf("Access(%s) = %q, want %q", tc.ns, got, tc.want)
			}
			shown := r.VisibleNamespaces([]string{tc.ns})
			if len(shown) == 1 == a.Empty() {
				t.Errorf("VisibleNamespaces %q, Access empty %v", shown, a.Empty())
			}
		})
	}
}

func formatAccess(a NamespaceAccess) string {
	var parts []string
	for _, act := range a.Actions {
		parts = append(parts, string(act))
	}
	for _, o := range a.Objects {
		var acts []string
		for _, act := range o.Actions {
			acts = append(acts, string(act))
		}
		slices.Sort(acts)
		parts = append(parts, o.Name+"="+strings.Join(acts, ","))
	}
	return strings.Join(parts, " ")
}

func TestAccessSummary(t *testing.T) {
	s := compileYAML(t, policyYAML("a", `
- {sid: deny, action: Secret:Delete, effect: Deny, resource: '*'}
- {sid: staging, action: ['Function:*', Secret:List], effect: Allow, resource: ['staging:*', 'dev:env']}
`)+policyYAML("b", `
- {sid: teams, action: Function:List, effect: Allow, resource: ['team-*:*', 'ops:*']}
- {sid: info, action: System:Info, effect: Allow, resource: '*'}
- {sid: admin, action: '*', effect: Allow, resource: '*', condition: {StringEqual: {jwt:role: admin}}}
`)+roleYAML("r", "policy: [b, a]\n"+everyone))
	r := s.MatchRoles(claims())
	if got := r.Namespaces(); !slices.Equal(got, []string{"dev", "ops", "staging"}) {
		t.Errorf("Namespaces %q", got)
	}
	if got := r.ClusterActions(); !slices.Equal(got, []Action{SystemInfo}) {
		t.Errorf("ClusterActions %q", got)
	}
	var got []string
	for _, g := range r.Statements() {
		got = append(got, fmt.Sprintf("%s/%s/%s %s %q %q", g.Role, g.Policy, g.Sid, g.Effect, g.Action, g.Resource))
	}
	want := []string{
		`r/b/teams Allow ["Function:List"] ["team-*:*" "ops:*"]`,
		`r/b/info Allow ["System:Info"] ["*"]`,
		`r/a/deny Deny ["Secret:Delete"] ["*"]`,
		`r/a/staging Allow ["Function:*" "Secret:List"] ["staging:*" "dev:env"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Statements\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var nilRoles *Roles
	if nilRoles.Namespaces() != nil || nilRoles.Statements() != nil || !nilRoles.Access("x").Empty() || nilRoles.VisibleNamespaces([]string{"x"}) != nil {
		t.Error("nil Roles hold something")
	}
}

func TestExplainRoles(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- {sid: admin, action: '*', effect: Allow, resource: '*', condition: {StringEqual: {jwt:role: admin}}}
- {sid: guard, action: '*', effect: Deny, resource: 'prod:*', condition: {StringEqual: {jwt:team: dev}}}
- {sid: read, action: Function:List, effect: Allow, resource: '*'}
`)+roleYAML("by-sub", "policy: p\nprincipal: {jwt:sub: [alice]}\n"+everyone)+
		roleYAML("by-group", "policy: p\ncondition: {'ForAnyValue:StringEqual': {jwt:groups: ops}}")+
		roleYAML("by-email", "policy: p\ncondition: {StringLike: {jwt:email: '*@example.com'}}")+
		roleYAML("not-contractor", "policy: p\ncondition: {StringNotLike: {jwt:email: '*@contractor.com'}, StringEqual: {jwt:iss: https://idp.example.com}}")+
		roleYAML("by-aud", "policy: p\ncondition: {StringEqual: {jwt:aud: gw}}")+
		roleYAML("by-level", "policy: p\ncondition: {StringEqual: {jwt:level: '3'}}")+
		roleYAML("everyone", "policy: p\n"+everyone))
	got := map[string]RoleMatch{}
	for _, m := range s.ExplainRoles(claims("groups", []any{"dev"}, "aud", []any{"gw"}, "level", 3.0)) {
		got[m.Role] = m
	}
	for role, want := range map[string]string{
		"by-sub":         `principal: sub "user-1" is not one of ["alice"]`,
		"by-group":       `condition ForAnyValue:StringEqual["jwt:groups"]: no string of the claim [dev] matches one of ["ops"]`,
		"by-email":       `condition StringLike["jwt:email"]: the claim is missing`,
		"not-contractor": `condition StringNotLike["jwt:email"]: the claim is missing; a negated operator then fails closed`,
		"by-aud":         `condition StringEqual["jwt:aud"]: the claim is an array (only ForAnyValue: operators match arrays)`,
		"by-level":       `condition StringEqual["jwt:level"]: the claim is a float64, not a string`,
	} {
		if m := got[role]; m.Matched || m.Reason != want {
			t.Errorf("%s: %+v\nwant reason %q", role, m, want)
		}
	}
	m := got["everyone"]
	wantSkipped := []string{`policy p, statement admin (Allow): condition StringEqual["jwt:role"]: the claim is missing`,
		`policy p, statement guard (Deny): condition StringEqual["jwt:team"]: the claim is missing`}
	if !m.Matched || m.Reason != "" || !slices.Equal(m.Skipped, wantSkipped) {
		t.Errorf("everyone: %+v", m)
	}
	if m := s.ExplainRoles(claims("sub", 5.0))[slices.IndexFunc(s.roles, func(r *compiledRole) bool { return r.name == "by-sub" })]; m.Reason != "principal: the token has no sub string" {
		t.Errorf("no sub: %+v", m)
	}
	// Explain and MatchRoles agree.
	var matched []string
	for _, m := range s.ExplainRoles(claims()) {
		if m.Matched {
			matched = append(matched, m.Role)
		}
	}
	if !slices.Equal(matched, s.MatchRoles(claims()).Names()) {
		t.Errorf("explain %q, match %q", matched, s.MatchRoles(claims()).Names())
	}
}

func TestDecideSomewhere(t *testing.T) {
	for _, tc := range []struct {
		name, statements string
		want             Outcome
		sid              string
	}{
		{"the cluster", "- {sid: a, action: Namespace:List, effect: Allow, resource: '*'}", Allowed, "a"},
		{"one namespace, as the docs' staging-rw", "- {sid: a, action: [Function:List, Namespace:List], effect: Allow, resource: 'staging:*'}", Allowed, "a"},
		{"a namespace pattern", "- {sid: a, action: 'Namespace:*', effect: Allow, resource: 'team-*:*'}", Allowed, "a"},
		{"other actions only", "- {sid: a, action: 'Function:*', effect: Allow, resource: 'staging:*'}", DeniedNoMatch, ""},
		{"denied on the cluster", "- {sid: a, action: Namespace:List, effect: Allow, resource: 'staging:*'}\n- {sid: d, action: Namespace:List, effect: Deny, resource: '*'}", DeniedByStatement, "d"},
		{"a deny in one namespace leaves the list", "- {sid: a, action: Namespace:List, effect: Allow, resource: 'staging:*'}\n- {sid: d, action: Namespace:List, effect: Deny, resource: 'prod:*'}", Allowed, "a"},
		{"an unmet condition", "- {sid: a, action: Namespace:List, effect: Allow, resource: 'staging:*', condition: {StringEqual: {jwt:role: admin}}}", DeniedNoMatch, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := compileYAML(t, policyYAML("p", tc.statements)+roleYAML("r", "policy: p\n"+everyone))
			d := s.MatchRoles(claims()).DecideSomewhere(NamespaceList)
			if d.Outcome != tc.want || d.Sid != tc.sid {
				t.Errorf("DecideSomewhere = %v (sid %q), want %v (sid %q)", d.Outcome, d.Sid, tc.want, tc.sid)
			}
		})
	}
	var none *Roles
	if d := none.DecideSomewhere(NamespaceList); d.Allowed() {
		t.Error("no roles allow listing namespaces")
	}
}

func TestResourcesAndResourceMatches(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `- {sid: a, action: [Function:Invoke, Function:List], effect: Allow, resource: ['dev:env', 'openfaas-fn:*']}
- {sid: b, action: 'Function:*', effect: Allow, resource: 'dev:fn-*'}
- {sid: c, action: Function:List, effect: Allow, resource: 'prod:*'}
- {sid: d, action: Function:Invoke, effect: Deny, resource: 'dev:fn-secret'}`)+roleYAML("r", "policy: p\n"+everyone))
	got := s.MatchRoles(claims()).Resources(FunctionInvoke)
	if want := []string{"dev:env", "openfaas-fn:*", "dev:fn-*"}; !slices.Equal(got, want) {
		t.Errorf("Resources(Function:Invoke) = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		pattern  string
		resource Resource
		want     bool
	}{
		{"dev:env", "dev:env", true},
		{"dev:env", "dev:env2", false},
		{"prod:*", "preprod:fn", false},
		{"prod:*", "prod:fn", true},
		{"dev:fn-*", "dev:fn-a", true},
		{"dev:fn-*", "dev:*", false},
		{"*", "dev:x", true},
		{"dev:e?v", "dev:env", true},
		{"dev:[a]", "dev:a", false},
		{"dev:env", "dev:e*", false},
	} {
		if got := ResourceMatches(tc.pattern, tc.resource); got != tc.want {
			t.Errorf("ResourceMatches(%q, %q) = %v, want %v", tc.pattern, tc.resource, got, tc.want)
		}
	}
}
