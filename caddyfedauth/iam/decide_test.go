package iam

import (
	"testing"
)

// allowOn is a set whose one role may take actions on resources.
func allowOn(t *testing.T, actions, resources string) *Set {
	t.Helper()
	return compileYAML(t, policyYAML("p", "- {sid: s, action: "+actions+", effect: Allow, resource: "+resources+"}")+
		roleYAML("r", "policy: p\n"+everyone))
}

// Resource patterns are anchored globs over the namespace and the name.
func TestResourceMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern  string
		resource Resource
		want     Outcome
	}{
		// The shipped faas-middleware matcher is unanchored: prod:* also
		// matched preprod:fn, and dev:env matched dev:env2.
		{"prod:*", "preprod:fn", DeniedNoMatch},
		{"prod:*", "production:fn", DeniedNoMatch},
		{"prod:*", "prod:fn", Allowed},
		{"prod:*", "prod:*", Allowed}, // the namespace as a whole
		{"dev:env", "dev:env2", DeniedNoMatch},
		{"dev:env", "xdev:env", DeniedNoMatch},
		{"dev:env", "dev:en", DeniedNoMatch},
		{"dev:env", "dev:env", Allowed},
		{"dev:env", "dev:*", DeniedNoMatch}, // one function does not grant the namespace
		{"Dev:env", "dev:env", DeniedNoMatch},

		{"staging:fn-*", "staging:fn-a", Allowed},
		{"staging:fn-*", "staging:fn-", Allowed},
		{"staging:fn-*", "staging:fn", DeniedNoMatch},
		{"staging:fn-*", "staging:xfn-a", DeniedNoMatch},
		{"staging:fn-*", "staging:*", DeniedNoMatch},
		{"staging:?", "staging:a", Allowed},
		{"staging:?", "staging:ab", DeniedNoMatch},
		{"staging:?", "staging:*", DeniedNoMatch}, // '?' does not take the namespace marker
		{"staging:*?", "staging:*", DeniedNoMatch},
		{"staging:**", "staging:*", Allowed},
		{"staging:*", "*", DeniedNoMatch}, // a namespace does not grant the cluster

		{"*", "*", Allowed},
		{"*", "any:fn", Allowed},
		{"*", "any:*", Allowed},
		{"*:*", "staging:fn", Allowed},
		{"*:*", "staging:*", Allowed},
		{"*:*", "*", DeniedNoMatch},
		{"team-*:*", "team-a:fn", Allowed},
		{"team-*:*", "team-a:*", Allowed},
		{"team-*:*", "teamx:fn", DeniedNoMatch},
		{"team-*:*", "xteam-a:fn", DeniedNoMatch},
		{"st?ging:*", "staging:x", Allowed},
		{"st?ging:*", "stagging:x", DeniedNoMatch},
		{"*-prod:api-*", "eu-prod:api-v1", Allowed},
		{"*-prod:api-*", "eu-prod:web", DeniedNoMatch},

		// Malformed resources are refused whatever the pattern.
		{"*", "", DeniedMalformed},
		{"*", "staging", DeniedMalformed},
		{"*", "staging:", DeniedMalformed},
		{"*", ":fn", DeniedMalformed},
		{"*", "a:b:c", DeniedMalformed},
		{"*", "staging:fn*", DeniedMalformed},
		{"*", "staging:f?", DeniedMalformed},
		{"*", "st*:fn", DeniedMalformed},
		{"*", "*:*", DeniedMalformed},
		{"*", "**", DeniedMalformed},
	} {
		t.Run(tc.pattern+" "+string(tc.resource), func(t *testing.T) {
			s := allowOn(t, "Function:Invoke", "'"+tc.pattern+"'")
			if d := s.Decide(claims(), FunctionInvoke, tc.resource); d.Outcome != tc.want {
				t.Errorf("got %s (%s), want %s", d.Outcome, d.Reason(), tc.want)
			}
		})
	}
}

func TestActionMatching(t *testing.T) {
	for _, tc := range []struct {
		actions string
		action  Action
		want    bool
	}{
		{"Function:List", FunctionList, true},
		{"Function:List", FunctionGet, false},
		{"Function:List", "function:list", false},
		{"Function:List", "Function:List ", false},
		{"[Function:List, Secret:List]", SecretList, true},
		{"Function:*", FunctionInvoke, true},
		{"Function:*", FunctionScale, true},
		{"Function:*", SecretList, false},
		{"Function:*", "Function:Admin", false}, // unknown actions: only "*"
		{"Secret:*", SecretDelete, true},
		{"Secret:*", FunctionList, false},
		{"Namespace:*", NamespaceCreate, true},
		{"System:*", SystemInfo, true},
		{"System:*", "System:Alert", false},
		{"'*'", SystemInfo, true},
		{"'*'", FunctionDelete, true},
		{"'*'", "System:Alert", true},
		{"'*'", "", true},
	} {
		t.Run(tc.actions+" "+string(tc.action), func(t *testing.T) {
			s := allowOn(t, tc.actions, "'*'")
			if got := s.Decide(claims(), tc.action, ClusterResource).Allowed(); got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

// An explicit Deny in any matched statement wins over any Allow, in any
// role, policy or order.
func TestDenyPrecedence(t *testing.T) {
	s := compileYAML(t, policyYAML("a-deny-prod-deletes", `
- {sid: no-prod-deletes, action: Function:Delete, effect: Deny, resource: 'staging:prod-*'}
`)+policyYAML("z-staging-all", `
- {sid: all-staging, action: 'Function:*', effect: Allow, resource: 'staging:*'}
- {sid: no-secrets, action: 'Secret:*', effect: Deny, resource: '*'}
- {sid: secrets, action: 'Secret:*', effect: Allow, resource: 'staging:*'}
`)+policyYAML("unmatched-deny", `
- {sid: deny-all, action: '*', effect: Deny, resource: '*'}
`)+roleYAML("deployers", "policy: [z-staging-all]\n"+everyone)+
		roleYAML("guard", "policy: [a-deny-prod-deletes]\n"+everyone)+
		roleYAML("someone-else", "policy: [unmatched-deny]\ncondition: {StringEqual: {jwt:iss: https://other.example.com}}"))
	c := claims()
	for _, tc := range []struct {
		action   Action
		resource Resource
		want     Decision
	}{
		{FunctionDelete, "staging:prod-db", Decision{Outcome: DeniedByStatement, Role: "guard", Policy: "a-deny-prod-deletes", Sid: "no-prod-deletes"}},
		{FunctionDelete, "staging:dev-db", Decision{Outcome: Allowed, Role: "deployers", Policy: "z-staging-all", Sid: "all-staging"}},
		{FunctionUpdate, "staging:prod-db", Decision{Outcome: Allowed, Role: "deployers", Policy: "z-staging-all", Sid: "all-staging"}},
		// The Deny comes before the Allow in its policy; it would win after it too.
		{SecretCreate, "staging:s", Decision{Outcome: DeniedByStatement, Role: "deployers", Policy: "z-staging-all", Sid: "no-secrets"}},
		{FunctionList, "prod:*", Decision{Outcome: DeniedNoMatch}},
	} {
		if got := s.Decide(c, tc.action, tc.resource); got != tc.want {
			t.Errorf("%s %s: got %+v (%s), want %+v", tc.action, tc.resource, got, got.Reason(), tc.want)
		}
	}
}

// A Deny on the namespace as a whole also denies every object in it.
func TestDenyNamespaceCoversObjects(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- {sid: a, action: Function:Invoke, effect: Allow, resource: 'prod:api'}
- {sid: d, action: Function:Invoke, effect: Deny, resource: 'prod:*'}
`)+roleYAML("r", "policy: p\n"+everyone))
	if d := s.Decide(claims(), FunctionInvoke, "prod:api"); d.Outcome != DeniedByStatement {
		t.Errorf("got %s", d.Reason())
	}
}

func TestNoRole(t *testing.T) {
	s := allowOn(t, "'*'", "'*'")
	d := s.Decide(claims("iss", "https://evil.example.com"), FunctionList, "staging:*")
	if d.Allowed() || !d.NoRole || d.Reason() != "denied: the token matches no role" {
		t.Errorf("got %+v %s", d, d.Reason())
	}
	var nilSet *Set
	if d := nilSet.Decide(claims(), FunctionList, "staging:*"); d.Allowed() {
		t.Error("a nil set allowed")
	}
	var nilRoles *Roles
	if d := nilRoles.Decide(FunctionList, "staging:*"); d.Allowed() {
		t.Error("nil roles allowed")
	}
	if (Decision{}).Allowed() {
		t.Error("the zero Decision allows")
	}
	empty, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := empty.Decide(claims(), FunctionList, "staging:*"); d.Allowed() {
		t.Error("the empty set allowed")
	}
}

func TestMatchPolicies(t *testing.T) {
	s := compileYAML(t, policyYAML("fn-rw", "- {sid: rw, action: 'Function:*', effect: Allow, resource: 'dev:*'}")+
		policyYAML("no-delete", "- {sid: nd, action: Function:Delete, effect: Deny, resource: '*'}")+
		policyYAML("admin", "- {sid: all, action: '*', effect: Allow, resource: '*', condition: {StringEqual: {jwt:role: admin}}}")+
		roleYAML("unrelated", "policy: [admin]\n"+everyone))
	for _, tc := range []struct {
		name   string
		claims map[string]any
		action Action
		res    Resource
		want   Decision
	}{
		{"one policy", map[string]any{"policy": []any{"fn-rw"}}, FunctionCreate, "dev:fn", Decision{Outcome: Allowed, Policy: "fn-rw", Sid: "rw"}},
		{"a scalar claim", map[string]any{"policy": "fn-rw"}, FunctionCreate, "dev:fn", Decision{Outcome: Allowed, Policy: "fn-rw", Sid: "rw"}},
		{"outside it", map[string]any{"policy": []any{"fn-rw"}}, FunctionCreate, "prod:fn", Decision{}},
		{"deny wins", map[string]any{"policy": []any{"fn-rw", "no-delete"}}, FunctionDelete, "dev:fn", Decision{Outcome: DeniedByStatement, Policy: "no-delete", Sid: "nd"}},
		{"unknown names skipped", map[string]any{"policy": []any{"gone", 3.0, "fn-rw"}}, FunctionList, "dev:*", Decision{Outcome: Allowed, Policy: "fn-rw", Sid: "rw"}},
		{"only unknown names", map[string]any{"policy": []any{"gone"}}, FunctionList, "dev:*", Decision{NoRole: true}},
		{"no claim", claims(), FunctionList, "dev:*", Decision{NoRole: true}},
		{"roles are not matched", claims("policy", []any{}), FunctionList, "dev:*", Decision{NoRole: true}},
		{"statement condition on the token's claims", map[string]any{"policy": []any{"admin"}, "role": "admin"}, SystemInfo, "*", Decision{Outcome: Allowed, Policy: "admin", Sid: "all"}},
		{"statement condition unmet", map[string]any{"policy": []any{"admin"}}, SystemInfo, "*", Decision{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.DecidePolicies(tc.claims, tc.action, tc.res); got != tc.want {
				t.Errorf("got %+v (%s), want %+v", got, got.Reason(), tc.want)
			}
		})
	}
	r := s.MatchPolicies(map[string]any{"policy": []any{"gone", "fn-rw", "fn-rw"}})
	if got := r.MissingPolicies(); len(got) != 1 || got[0] != "gone" {
		t.Errorf("missing = %q", got)
	}
	if got := r.Policies(); len(got) != 1 {
		t.Errorf("policies = %q", got)
	}
}

// Statement conditions are met once, when the roles are matched; the
// matched roles then decide any number of requests.
func TestStatementCondition(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- {sid: read, action: Function:List, effect: Allow, resource: '*'}
- {sid: admin, action: 'Function:*', effect: Allow, resource: '*', condition: {StringEqualIgnoreCase: {jwt:role: admin}}}
`)+roleYAML("r", "policy: p\n"+everyone))
	user, admin := s.MatchRoles(claims()), s.MatchRoles(claims("role", "Admin"))
	if d := user.Decide(FunctionDelete, "dev:fn"); d.Allowed() {
		t.Errorf("user: %s", d.Reason())
	}
	if d := user.Decide(FunctionList, "dev:*"); d.Sid != "read" {
		t.Errorf("user list: %s", d.Reason())
	}
	if d := admin.Decide(FunctionDelete, "dev:fn"); d.Sid != "admin" {
		t.Errorf("admin: %s", d.Reason())
	}
}

func TestRolesAccessors(t *testing.T) {
	s := compileYAML(t, policyYAML("p1", "- {sid: a, action: Function:List, effect: Allow, resource: '*'}")+
		policyYAML("p2", "- {sid: b, action: Function:Get, effect: Allow, resource: '*'}")+
		roleYAML("b", "policy: [p2, p1]\n"+everyone)+roleYAML("a", "policy: [p1]\n"+everyone))
	r := s.MatchRoles(claims())
	if got := r.Names(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("names = %q", got)
	}
	// p1 applied once, through the first role by name.
	if got := r.Policies(); len(got) != 2 || got[0] != "p1" || got[1] != "p2" {
		t.Errorf("policies = %q", got)
	}
	if d := r.Decide(FunctionList, "x:*"); d.Role != "a" {
		t.Errorf("decided through %q", d.Role)
	}
	if r.Set() != s {
		t.Error("Set")
	}
}

func TestDecisionReason(t *testing.T) {
	for d, want := range map[Decision]string{
		{Outcome: Allowed, Role: "r", Policy: "p", Sid: "s"}: "allowed by role r, policy p, statement s",
		{Outcome: DeniedByStatement, Policy: "p", Sid: "s"}:  "denied by policy p, statement s",
		{}:                         "denied: no statement allows it",
		{NoRole: true}:             "denied: the token matches no role",
		{Outcome: DeniedMalformed}: "denied: malformed resource",
	} {
		if got := d.Reason(); got != want {
			t.Errorf("%+v: %q, want %q", d, got, want)
		}
	}
	for o, want := range map[Outcome]string{Allowed: "allowed", DeniedByStatement: "denied_by_statement", DeniedNoMatch: "denied_no_match", DeniedMalformed: "bad_request"} {
		if o.String() != want {
			t.Errorf("%d: %q", o, o.String())
		}
	}
}

// Actions fit the bit set, with room for the slot of unknown actions.
func TestActionSlots(t *testing.T) {
	if otherSlot+1 > 64 {
		t.Fatalf("%d actions do not fit an actionSet", len(Actions))
	}
	seen := map[Action]bool{}
	for _, a := range Actions {
		if seen[a] {
			t.Errorf("%s twice", a)
		}
		seen[a] = true
	}
}
