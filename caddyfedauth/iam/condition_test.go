package iam

import (
	"fmt"
	"testing"
)

// missing marks a claim the token does not have.
type missingClaim struct{}

var missing = missingClaim{}

// roleWithCondition is a set with one role, of the given condition, that
// may do anything.
func roleWithCondition(t *testing.T, cond string) *Set {
	t.Helper()
	return compileYAML(t, policyYAML("all", "- {sid: all, action: '*', effect: Allow, resource: '*'}")+
		roleYAML("r", "policy: all\ncondition: "+cond))
}

func TestConditionOperators(t *testing.T) {
	for _, tc := range []struct {
		op     string
		values string // YAML
		claim  any
		want   bool
	}{
		// StringEqual(s): exact, a string claim only.
		{"StringEqual", "[a]", "a", true},
		{"StringEqual", "[a]", "A", false},
		{"StringEqual", "[a]", "ab", false},
		{"StringEqual", "[a]", "", false},
		{"StringEqual", "['']", "", true},
		{"StringEqual", "[a]", []any{"a"}, false}, // an array needs ForAnyValue:
		{"StringEqual", "[a]", []string{"a"}, false},
		{"StringEqual", "[a]", missing, false},
		{"StringEqual", "['42']", 42.0, false}, // numbers never match
		{"StringEqual", "['true']", true, false},
		{"StringEqual", "[a]", nil, false},
		{"StringEqual", "[a]", map[string]any{"a": "a"}, false},
		{"StringEquals", "[a, b]", "b", true},
		{"StringEquals", "[a, b]", "c", false},
		{"StringEqual", "a", "a", true}, // a scalar where the schema wants a list

		// StringEqualIgnoreCase.
		{"StringEqualIgnoreCase", "[Admin]", "admin", true},
		{"StringEqualIgnoreCase", "[Admin]", "ADMIN", true},
		{"StringEqualIgnoreCase", "[Admin]", "admins", false},
		{"StringEqualIgnoreCase", "[Admin]", []any{"admin"}, false},
		{"StringEqualsIgnoreCase", "[Straße]", "STRASSE", false}, // simple folding only, no expansion
		{"StringEqualsIgnoreCase", "[ǅ]", "ǆ", true},

		// StringLike: '*' and '?', anchored, nothing else special.
		{"StringLike", "['*@example.com']", "alice@example.com", true},
		{"StringLike", "['*@example.com']", "@example.com", true},
		{"StringLike", "['*@example.com']", "alice@example.com.evil.org", false},
		{"StringLike", "['*@example.com']", "alice@EXAMPLE.com", false},
		{"StringLike", "['*@example.com']", "alice@examplexcom", false}, // '.' is a dot, not a regex
		{"StringLike", "['refs/heads/*']", "refs/heads/main", true},
		{"StringLike", "['refs/heads/*']", "refs/heads/", true},
		{"StringLike", "['refs/heads/*']", "refs/heads/a/b", true},
		{"StringLike", "['refs/heads/*']", "refs/tags/v1", false},
		{"StringLike", "['refs/heads/*']", "xrefs/heads/main", false},
		{"StringLike", "['v?']", "v1", true},
		{"StringLike", "['v?']", "vé", true}, // one character, not one byte
		{"StringLike", "['v?']", "v", false},
		{"StringLike", "['v?']", "v10", false},
		{"StringLike", "['[ab]']", "a", false},
		{"StringLike", "['[ab]']", "[ab]", true},
		{"StringLike", "['a+']", "aa", false},
		{"StringLike", "['^a$']", "a", false},
		{"StringLike", "['*']", "", true},
		{"StringLike", "['*']", []any{"x"}, false},
		{"StringLike", "['*']", missing, false},

		// ForAnyValue: one string of an array claim (or a string) matches.
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []any{"x", "openfaas-dev"}, true},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []string{"openfaas-dev"}, true},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", "openfaas-dev", true},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []any{}, false},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []any{1.0, "openfaas-dev"}, true},
		{"ForAnyValue:StringEqual", "['1']", []any{1.0}, false},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []any{[]any{"openfaas-dev"}}, false},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", []any{"OpenFaaS-dev"}, false},
		{"ForAnyValue:StringEqual", "[openfaas-dev]", missing, false},
		{"ForAnyValue:StringEquals", "[a, b]", []any{"c", "b"}, true},
		{"ForAnyValue:StringEqualIgnoreCase", "[Admins]", []any{"x", "admins"}, true},
		{"ForAnyValue:StringLike", "['openfaas-*']", []any{"x", "openfaas-dev"}, true},
		{"ForAnyValue:StringLike", "['openfaas-*']", []any{"x", "xopenfaas-dev"}, false},

		// Negated: holds when the claim is a string matching none; a
		// missing or non-string claim fails closed (the role does not match).
		{"StringNotEqual", "[prod]", "dev", true},
		{"StringNotEqual", "[prod]", "prod", false},
		{"StringNotEqual", "[prod]", missing, false},
		{"StringNotEqual", "[prod]", []any{"dev"}, false},
		{"StringNotEqual", "[prod]", 1.0, false},
		{"StringNotEquals", "[prod, staging]", "staging", false},
		{"StringNotEqualIgnoreCase", "[prod]", "PROD", false},
		{"StringNotEqualsIgnoreCase", "[prod]", "dev", true},
		{"StringNotLike", "['*-contractor']", "alice", true},
		{"StringNotLike", "['*-contractor']", "bob-contractor", false},
		{"StringNotLike", "['*-contractor']", missing, false},
	} {
		t.Run(fmt.Sprintf("%s %s %#v", tc.op, tc.values, tc.claim), func(t *testing.T) {
			s := roleWithCondition(t, "{"+tc.op+": {jwt:c: "+tc.values+"}}")
			c := map[string]any{}
			if tc.claim != missing {
				c["c"] = tc.claim
			}
			if got := len(s.MatchRoles(c).Names()) == 1; got != tc.want {
				t.Errorf("role matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// Conditions AND, keys AND, values OR, and principal AND condition.
func TestConditionCombination(t *testing.T) {
	s := compileYAML(t, policyYAML("all", "- {sid: all, action: '*', effect: Allow, resource: '*'}")+roleYAML("ci", `
policy: [all]
principal:
  jwt:sub: [repo:acme/app:ref:refs/heads/main, repo:acme/app:environment:prod]
condition:
  StringEqual:
    jwt:iss: https://token.actions.githubusercontent.com
    jwt:repository: [acme/app, acme/app2]
  StringLike:
    jwt:ref: refs/heads/*
`))
	good := func(kv ...any) map[string]any {
		c := map[string]any{
			"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main",
			"repository": "acme/app", "ref": "refs/heads/main",
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == missing {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		want   bool
	}{
		{"all hold", good(), true},
		{"the other subject", good("sub", "repo:acme/app:environment:prod"), true},
		{"the other repository value", good("repository", "acme/app2"), true},
		{"subject not listed", good("sub", "repo:acme/app:ref:refs/heads/dev"), false},
		{"subject a prefix of a listed one", good("sub", "repo:acme/app"), false},
		{"no subject", good("sub", missing), false},
		{"subject not a string", good("sub", []any{"repo:acme/app:ref:refs/heads/main"}), false},
		{"principal holds, another issuer", good("iss", "https://gitlab.com"), false},
		{"second key of an operator fails", good("repository", "evil/app"), false},
		{"second operator fails", good("ref", "refs/tags/v1"), false},
		{"claim of the second operator missing", good("ref", missing), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(s.MatchRoles(tc.claims).Names()) == 1; got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
}

// A negated operator on a missing claim fails closed: an Allow statement
// does not apply, a Deny does.
func TestNegatedOperatorFailsClosed(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- sid: allow-non-contractors
  action: Function:List
  effect: Allow
  resource: "*"
  condition: {StringNotLike: {jwt:email: "*@contractor.example.com"}}
- sid: allow-get
  action: Function:Get
  effect: Allow
  resource: "*"
- sid: deny-get-outside-ops
  action: Function:Get
  effect: Deny
  resource: "prod:*"
  condition: {StringNotEqual: {jwt:team: ops}}
`)+roleYAML("r", "policy: p\n"+everyone))
	for _, tc := range []struct {
		name   string
		claims map[string]any
		action Action
		res    Resource
		want   Outcome
	}{
		{"allow: claim present, not matching", claims("email", "a@example.com"), FunctionList, "dev:*", Allowed},
		{"allow: claim matching", claims("email", "a@contractor.example.com"), FunctionList, "dev:*", DeniedNoMatch},
		{"allow: claim missing", claims(), FunctionList, "dev:*", DeniedNoMatch},
		{"allow: claim an array", claims("email", []any{"a@example.com"}), FunctionList, "dev:*", DeniedNoMatch},
		{"deny: ops", claims("team", "ops"), FunctionGet, "prod:fn", Allowed},
		{"deny: another team", claims("team", "dev"), FunctionGet, "prod:fn", DeniedByStatement},
		{"deny: claim missing", claims(), FunctionGet, "prod:fn", DeniedByStatement},
		{"deny: claim a number", claims("team", 7.0), FunctionGet, "prod:fn", DeniedByStatement},
		{"deny: elsewhere", claims(), FunctionGet, "dev:fn", Allowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := s.Decide(tc.claims, tc.action, tc.res); d.Outcome != tc.want {
				t.Errorf("got %s, want %s", d.Reason(), tc.want)
			}
		})
	}
}

// A Deny conditioned on a positive operator does not apply when the claim
// is missing (AWS's rule): to deny unless a claim proves something, use a
// negated operator.
func TestPositiveDenyConditionOnMissingClaim(t *testing.T) {
	s := compileYAML(t, policyYAML("p", `
- {sid: a, action: '*', effect: Allow, resource: '*'}
- {sid: d, action: '*', effect: Deny, resource: '*', condition: {StringEqual: {jwt:env: prod}}}
`)+roleYAML("r", "policy: p\n"+everyone))
	if d := s.Decide(claims(), FunctionList, "x:*"); !d.Allowed() {
		t.Errorf("missing claim: %s", d.Reason())
	}
	if d := s.Decide(claims("env", "prod"), FunctionList, "x:*"); d.Outcome != DeniedByStatement {
		t.Errorf("env=prod: %s", d.Reason())
	}
}

// Claim keys are jwt:<claim>, the rest of the key being the claim's whole
// name.
func TestClaimKeys(t *testing.T) {
	for key, claim := range map[string]string{
		"jwt:fed:iss": "fed:iss",
		`"jwt:https://my-identity-provider.com#sub-id"`: "https://my-identity-provider.com#sub-id",
		"jwt:kubernetes.io":                             "kubernetes.io",
	} {
		s := roleWithCondition(t, "{StringEqual: {"+key+": v}}")
		if len(s.MatchRoles(map[string]any{claim: "v"}).Names()) != 1 {
			t.Errorf("%s does not read the claim %q", key, claim)
		}
	}
	// A nested claim is not reached by a dotted key.
	s := roleWithCondition(t, "{StringEqual: {jwt:kubernetes.io.namespace: dev}}")
	if len(s.MatchRoles(map[string]any{"kubernetes.io": map[string]any{"namespace": "dev"}}).Names()) != 0 {
		t.Error("a dotted key reached into a nested claim")
	}
}
