package iam

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzParse: the loader never panics, every error is located, and what
// compiles compiles again, to the same decisions, from its JSON.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/docs/*")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(policyYAML("p", "- {sid: s, action: '*', effect: Deny, resource: 'a-*:b?', condition: {StringNotLike: {jwt:x: [a*]}}}") + roleYAML("r", "policy: p\nprincipal: {jwt:sub: u}\n"+everyone)))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: iam.openfaas.com/v1, kind: Role, metadata: {name: r}, spec: {policy: p, condition: {StringEqual: {jwt:iss: a}}}}]\n"))
	f.Add([]byte("a: &x [b]\nc: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("f.yaml", data)
		if err != nil {
			checkLocated(t, err)
			return
		}
		s, err := Compile(objs)
		if err != nil {
			checkLocated(t, err)
			return
		}
		b, err := json.Marshal(Objects(s.Objects()))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Objects
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("the set's own JSON does not parse: %v\n%s", err, b)
		}
		s2, err := Compile(back)
		if err != nil {
			t.Fatalf("the set's own JSON does not compile: %v\n%s", err, b)
		}
		if !slices.Equal(stripLocations(s.Warnings()), stripLocations(s2.Warnings())) {
			t.Errorf("warnings differ:\n%q\n%q", s.Warnings(), s2.Warnings())
		}
		for _, c := range probeClaims(objs) {
			r, r2 := s.MatchRoles(c), s2.MatchRoles(c)
			if !slices.Equal(r.Names(), r2.Names()) {
				t.Fatalf("roles differ for %v: %q %q", c, r.Names(), r2.Names())
			}
			for _, res := range []Resource{"*", "a:*", "a:b", "dev:env"} {
				for _, a := range append(Actions, "Other:Thing") {
					if d, d2 := r.Decide(a, res), r2.Decide(a, res); d != d2 {
						t.Fatalf("%s %s: %+v vs %+v", a, res, d, d2)
					}
				}
			}
		}
	})
}

// checkLocated checks that every error is an *Error.
func checkLocated(t *testing.T, err error) {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ie *Error
		if !errors.As(e, &ie) {
			t.Errorf("%T %v is not an *Error", e, e)
		}
	}
}

var location = regexp.MustCompile(`^[^ ]*:\d+: |^line \d+: `)

func stripLocations(w []string) []string {
	out := make([]string, len(w))
	for i, s := range w {
		out[i] = location.ReplaceAllString(s, "")
	}
	return out
}

// probeClaims are tokens built from the values the objects mention, so
// that the fuzzer's roles sometimes match.
func probeClaims(objs []Object) []map[string]any {
	full := map[string]any{}
	for _, o := range objs {
		r, ok := o.(*Role)
		if !ok {
			continue
		}
		for _, subs := range r.Spec.Principal {
			if len(subs) > 0 {
				full["sub"] = subs[0]
			}
		}
		for _, keys := range r.Spec.Condition {
			for key, values := range keys {
				if claim, ok := strings.CutPrefix(key, claimPrefix); ok && len(values) > 0 {
					full[claim] = values[0]
				}
			}
		}
	}
	return []map[string]any{{}, full}
}

// decideSet is the set FuzzDecide decides with: every operator, both
// effects, wildcards of both kinds.
const decideSet = `
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: p1}
spec:
  statement:
  - {sid: a1, action: [Function:List, Function:Get], effect: Allow, resource: ['staging:*', 'dev:fn-*']}
  - {sid: a2, action: 'Secret:*', effect: Allow, resource: 'team-?:*'}
  - {sid: d1, action: Function:Get, effect: Deny, resource: 'dev:fn-secret*'}
  - {sid: a3, action: '*', effect: Allow, resource: '*', condition: {StringEqualIgnoreCase: {jwt:role: admin}}}
  - {sid: d2, action: '*', effect: Deny, resource: 'prod:*', condition: {StringNotEqual: {jwt:team: ops}}}
  - {sid: a4, action: Function:Invoke, effect: Allow, resource: ['*-prod:api', 'prod:*'], condition: {'ForAnyValue:StringLike': {jwt:groups: 'api-*'}}}
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: p2}
spec:
  statement:
  - {sid: b1, action: System:Info, effect: Allow, resource: '*'}
  - {sid: b2, action: 'Namespace:*', effect: Deny, resource: '*:*', condition: {StringLike: {jwt:email: '*@contractor.com'}}}
  - {sid: b3, action: [Namespace:List, Namespace:Get], effect: Allow, resource: '*:*'}
  - {sid: b4, action: 'Function:*', effect: Allow, resource: ['*ev*:*', 'st?ging:fn-?', '*-prod:*']}
  - {sid: b5, action: Function:Get, effect: Deny, resource: ['*:fn-secret*', 'team-*:*']}
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: p0}
spec:
  statement:
  - {sid: c1, action: [Function:List, Secret:List], effect: Allow, resource: ['dev:*', 'team-*:*', '*-prod:x']}
  - {sid: c2, action: Secret:List, effect: Deny, resource: 'team-a:*'}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: r1}
spec:
  policy: [p1]
  principal: {jwt:sub: [alice, bob]}
  condition: {StringEqual: {jwt:iss: https://idp.example.com}}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: r2}
spec:
  policy: [p2]
  condition:
    StringLike: {jwt:iss: 'https://*.example.com'}
    StringNotLike: {jwt:sub: 'svc-*'}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: r3}
spec:
  policy: [p1, p2]
  condition: {'ForAnyValue:StringEqual': {jwt:groups: [ops, admins]}}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: r0}
spec:
  policy: [p0, p2]
  condition: {StringEqual: {jwt:team: ops}}
`

// FuzzDecide: Decide agrees with a reference evaluator that walks the
// objects as written, with regexps for the wildcards. Each input picks
// from the values the set mentions, or is taken as it is, so that the
// fuzzer reaches the statements.
func FuzzDecide(f *testing.F) {
	s := compileYAML(f, decideSet)
	objs := s.Objects()
	vocab := decideVocab()
	f.Add([]byte{0, 0, 0, 1, 0, 1, 1, 1, 2}, "", "", "", "", "", "", "", "", "")
	f.Add([]byte{0, 2, 9, 0, 1, 9, 13, 0, 0}, "", "", "", "", "", "", "", "", "")
	f.Add([]byte{1, 1, 9, 9, 9, 0, 12, 3, 0}, "", "", "", "", "", "", "", "", "")
	f.Add([]byte{0, 0, 9, 9, 0, 9, 7, 4, 3}, "", "", "", "", "", "", "", "", "")
	f.Add([]byte{9, 9, 9, 9, 9, 9, 17, 9, 9}, "", "", "", "", "", "", "System:Info", "", "")
	f.Add([]byte{0, 0, 2, 1, 9, 9, 0, 1, 0}, "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, picks []byte, iss, sub, role, team, group, email, action, ns, name string) {
		raw := []string{iss, sub, role, team, group, email, action, ns, name}
		v := make([]string, len(raw))
		for i := range raw {
			v[i] = raw[i]
			if i < len(picks) && int(picks[i]) < len(vocab[i]) {
				v[i] = vocab[i][picks[i]]
			}
		}
		c := map[string]any{"iss": v[0], "sub": v[1], "groups": []any{v[4], 1.0}}
		for i, k := range []string{"role", "team", "email"} {
			if v[i+2] != "" {
				c[k] = v[i+2]
			}
		}
		resource := v[7] + ":" + v[8]
		if v[7] == "*" {
			resource = "*"
		}
		got := s.Decide(c, Action(v[6]), Resource(resource))
		if want := refDecide(objs, c, v[6], resource); got != want {
			t.Errorf("claims %v, %s on %q: %+v, reference %+v", c, v[6], resource, got, want)
		}
	})
}

// decideVocab are the values decideSet mentions, and near misses: iss,
// sub, role, team, group, email, action, namespace, name.
func decideVocab() [][]string {
	var actions []string
	for _, a := range Actions {
		actions = append(actions, string(a))
	}
	actions = append(actions, "Other:Thing", "function:get")
	return [][]string{
		{"https://idp.example.com", "https://x.example.com", "https://idp.example.com.evil"}, // iss
		{"alice", "bob", "svc-1", "carol"},                                                   // sub
		{"admin", "ADMIN", "viewer"},                                                         // role
		{"ops", "dev"},                                                                       // team
		{"api-x", "ops", "admins", "api"},                                                    // group
		{"a@contractor.com", "a@example.com"},                                                // email
		actions,                                                                              // action
		{"staging", "dev", "prod", "team-a", "eu-prod", "preprod", "*", ""}, // namespace
		{"*", "fn-a", "fn-secret1", "api", "x", "fn-", "fn*", "a:b"},        // name
	}
}

// Every action on every resource that decideSet's vocabulary makes, for
// tokens of each kind, is decided as the reference decides.
func TestDecideMatchesReference(t *testing.T) {
	s := compileYAML(t, decideSet)
	objs := s.Objects()
	v := decideVocab()
	tokens := []map[string]any{
		{"iss": v[0][0], "sub": "alice"},
		{"iss": v[0][0], "sub": "alice", "role": "ADMIN"},
		{"iss": v[0][0], "sub": "alice", "team": "ops", "groups": []any{"api-1"}},
		{"iss": v[0][0], "sub": "bob", "team": "dev", "groups": []any{2.0, "api-x"}},
		{"iss": v[0][1], "sub": "carol", "email": "c@contractor.com"},
		{"iss": v[0][1], "sub": "svc-1", "groups": []any{"ops"}},
		{"iss": v[0][2], "sub": "carol", "groups": "admins"},
		{"iss": v[0][1], "sub": "carol", "groups": []any{"ops"}, "email": "c@contractor.com", "team": "ops"},
		{},
	}
	outcomes := map[Outcome]int{}
	for _, c := range tokens {
		r := s.MatchRoles(c)
		for _, a := range v[6] {
			for _, ns := range v[7] {
				for _, name := range v[8] {
					res := ns + ":" + name
					if ns == "*" {
						res = "*"
					}
					got, want := r.Decide(Action(a), Resource(res)), refDecide(objs, c, a, res)
					if got != want {
						t.Errorf("claims %v, %s on %q: %+v, reference %+v", c, a, res, got, want)
					}
					outcomes[got.Outcome]++
				}
			}
		}
	}
	if outcomes[Allowed] == 0 || outcomes[DeniedByStatement] == 0 || outcomes[DeniedNoMatch] == 0 || outcomes[DeniedMalformed] == 0 {
		t.Errorf("the table does not reach every outcome: %v", outcomes)
	}
}

var wellFormed = regexp.MustCompile(`^(\*|[^:*?]+:(\*|[^:*?]+))$`)

// refDecide decides as the docs say, from the objects as written: the
// first deciding statement is the first by policy name, then position,
// and its role the first matched role, by name, that names the policy.
func refDecide(objs []Object, claims map[string]any, action, resource string) Decision {
	if !wellFormed.MatchString(resource) {
		return Decision{Outcome: DeniedMalformed}
	}
	var (
		policies []*Policy // by name: Objects sorts them
		roles    []*Role
	)
	for _, o := range objs {
		switch o := o.(type) {
		case *Policy:
			policies = append(policies, o)
		case *Role:
			if refRole(o, claims) {
				roles = append(roles, o)
			}
		}
	}
	var deny, allow *Decision
	for _, p := range policies {
		i := slices.IndexFunc(roles, func(r *Role) bool { return slices.Contains(r.Spec.Policy, p.Metadata.Name) })
		if i < 0 {
			continue
		}
		for _, st := range p.Spec.Statement {
			if !refApplies(st, claims) || !refAction(st.Action, action) || !refResource(st.Resource, resource) {
				continue
			}
			d := &Decision{Outcome: Allowed, Role: roles[i].Metadata.Name, Policy: p.Metadata.Name, Sid: st.Sid}
			if st.Effect == EffectDeny && deny == nil {
				d.Outcome, deny = DeniedByStatement, d
			} else if st.Effect == EffectAllow && allow == nil {
				allow = d
			}
		}
	}
	switch {
	case deny != nil:
		return *deny
	case allow != nil:
		return *allow
	}
	return Decision{NoRole: len(roles) == 0}
}

func refRole(r *Role, claims map[string]any) bool {
	if subs, ok := r.Spec.Principal["jwt:sub"]; ok {
		sub, _ := claims["sub"].(string)
		if !slices.Contains(subs, sub) {
			return false
		}
	}
	holds, unknown := refCondition(r.Spec.Condition, claims)
	return holds && !unknown
}

func refApplies(st Statement, claims map[string]any) bool {
	holds, unknown := refCondition(st.Condition, claims)
	if st.Effect == EffectDeny {
		return holds // unless a clause is false
	}
	return holds && !unknown
}

// refCondition: holds is whether no clause is false; unknown whether a
// negated clause meets a claim that is not a string.
func refCondition(c Condition, claims map[string]any) (holds, unknown bool) {
	holds = true
	for op, keys := range c {
		negated := strings.Contains(op, "Not")
		base := strings.NewReplacer("ForAnyValue:", "", "Not", "", "Equals", "Equal").Replace(op)
		for key, values := range keys {
			v := claims[strings.TrimPrefix(key, "jwt:")]
			var strs []string
			switch v := v.(type) {
			case string:
				strs = []string{v}
			case []any:
				if strings.HasPrefix(op, "ForAnyValue:") {
					for _, e := range v {
						if s, ok := e.(string); ok {
							strs = append(strs, s)
						}
					}
				} else if negated {
					unknown = true
					continue
				}
			default:
				if negated {
					unknown = true
					continue
				}
			}
			match := false
			for _, s := range strs {
				for _, want := range values {
					switch base {
					case "StringEqual":
						match = match || s == want
					case "StringEqualIgnoreCase":
						match = match || strings.EqualFold(s, want)
					case "StringLike":
						match = match || globRegexp(want).MatchString(s)
					}
				}
			}
			if match == negated {
				holds = false
			}
		}
	}
	return holds, unknown
}

func refAction(actions []string, action string) bool {
	for _, a := range actions {
		if a == "*" || a == action && slices.Contains(Actions, Action(action)) ||
			strings.HasSuffix(a, ":*") && slices.Contains(Actions, Action(action)) && strings.HasPrefix(action, strings.TrimSuffix(a, "*")) {
			return true
		}
	}
	return false
}

func refResource(patterns []string, resource string) bool {
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		if resource == "*" {
			continue
		}
		pns, pname, _ := strings.Cut(p, ":")
		ns, name, _ := strings.Cut(resource, ":")
		if !globRegexp(pns).MatchString(ns) {
			continue
		}
		if name == "*" && strings.Trim(pname, "*") == "" || name != "*" && globRegexp(pname).MatchString(name) {
			return true
		}
	}
	return false
}
