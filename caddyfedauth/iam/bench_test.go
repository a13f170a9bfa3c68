package iam

import (
	"fmt"
	"strings"
	"testing"
)

// benchSet has 100 roles and 100 policies. Role i matches tokens in group
// g-i and applies policies i and i+1; policy i allows four Function
// actions in namespace ns-i, Function:Logs on its fn-* (with a
// condition), and denies deletes of prod-* there. ns is the namespace
// pattern, ns-%d: literal namespaces; ns-%d-* and *-ns-%d: prefix and
// suffix patterns, which the index also looks up; ns-%d-?: other
// patterns, tried one by one. The
// claims are in every group: they match all 100 roles and hold all 100
// policies.
func benchSet(b *testing.B, ns string) (*Set, map[string]any) {
	var y strings.Builder
	groups := make([]any, 100)
	for i := range 100 {
		groups[i] = fmt.Sprintf("g-%d", i)
		y.WriteString(policyYAML(fmt.Sprintf("p-%d", i), fmt.Sprintf(`
- {sid: deny-prod-deletes, action: Function:Delete, effect: Deny, resource: '%[1]s:prod-*'}
- {sid: rw, action: [Function:List, Function:Get, Function:Create, Function:Update], effect: Allow, resource: ['%[1]s:*']}
- {sid: logs, action: Function:Logs, effect: Allow, resource: '%[1]s:fn-*', condition: {StringLike: {jwt:email: '*@example.com'}}}
`, fmt.Sprintf(ns, i))))
		y.WriteString(roleYAML(fmt.Sprintf("r-%d", i), fmt.Sprintf(`
policy: [p-%d, p-%d]
condition:
  StringEqual: {jwt:iss: https://idp.example.com}
  ForAnyValue:StringEqual: {jwt:groups: g-%d}
`, i, (i+1)%100, i)))
	}
	s := compileYAML(b, y.String())
	return s, claims("groups", groups, "email", "a@example.com")
}

// BenchmarkDecide: one decision for a token whose roles are already
// matched (as the handler's token cache keeps them), 100 roles and 100
// policies held.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name     string
		ns       string
		action   Action
		resource Resource
		want     Outcome
	}{
		{"allowed, first policy", "ns-%d", FunctionList, "ns-0:*", Allowed},
		{"allowed, last policy", "ns-%d", FunctionGet, "ns-99:fn", Allowed},
		{"denied by statement", "ns-%d", FunctionDelete, "ns-99:prod-db", DeniedByStatement},
		{"no match", "ns-%d", FunctionUpdate, "other:fn", DeniedNoMatch},
		{"no match, name globs", "ns-%d", FunctionLogs, "ns-5:api", DeniedNoMatch},
		{"prefix globs, allowed, last policy", "ns-%d-*", FunctionGet, "ns-99-a:fn", Allowed},
		{"prefix globs, denied by statement", "ns-%d-*", FunctionDelete, "ns-99-a:prod-db", DeniedByStatement},
		{"prefix globs, no match", "ns-%d-*", FunctionUpdate, "other:fn", DeniedNoMatch},
		{"suffix globs, allowed, last policy", "*-ns-%d", FunctionGet, "a-ns-99:fn", Allowed},
		{"suffix globs, no match", "*-ns-%d", FunctionUpdate, "other:fn", DeniedNoMatch},
		{"other globs, allowed, last policy", "ns-%d-?", FunctionGet, "ns-99-a:fn", Allowed},
		{"other globs, no match", "ns-%d-?", FunctionUpdate, "other:fn", DeniedNoMatch},
	} {
		s, c := benchSet(b, bc.ns)
		r := s.MatchRoles(c)
		if len(r.Names()) != 100 || len(r.Policies()) != 100 {
			b.Fatalf("%d roles, %d policies", len(r.Names()), len(r.Policies()))
		}
		b.Run(bc.name, func(b *testing.B) {
			if d := r.Decide(bc.action, bc.resource); d.Outcome != bc.want {
				b.Fatalf("%s", d.Reason())
			}
			b.ReportAllocs()
			for b.Loop() {
				r.Decide(bc.action, bc.resource)
			}
		})
	}
}

// BenchmarkMatchRoles: matching a new token against 100 roles, done once
// per verified token.
func BenchmarkMatchRoles(b *testing.B) {
	s, c := benchSet(b, "ns-%d")
	b.ReportAllocs()
	for b.Loop() {
		s.MatchRoles(c)
	}
}

// BenchmarkLoad: parsing and compiling the 200 objects.
func BenchmarkLoad(b *testing.B) {
	s, _ := benchSet(b, "ns-%d")
	objs := s.Objects()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(objs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecideAllocatesNothing holds the 0-allocation target without a
// timed test.
func TestDecideAllocatesNothing(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- {sid: d, action: Function:Delete, effect: Deny, resource: 'a:prod-*'}
- {sid: a, action: 'Function:*', effect: Allow, resource: ['a:*', 'b-*:fn-?']}
`)+roleYAML("r", "policy: p\n"+everyone))
	r := s.MatchRoles(claims())
	for _, res := range []Resource{"a:*", "a:prod-x", "b-1:fn-a", "c:x", "*", "bad"} {
		if n := testing.AllocsPerRun(100, func() { r.Decide(FunctionDelete, res) }); n != 0 {
			t.Errorf("%s: %v allocations", res, n)
		}
	}
}
