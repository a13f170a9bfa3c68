package iam

import (
	"fmt"
	"slices"
)

// RoleMatch says whether a role matches a token, and why not.
type RoleMatch struct {
	Role    string
	Matched bool

	// Why the role does not match: the principal, or the first condition
	// clause that fails.
	Reason string

	// For a matched role: the statements of its policies that do not
	// apply to the token, each with the clause that fails.
	Skipped []string
}

// ExplainRoles says, for every role of the set by name, whether the
// token's claims match it and why not, using the same matching as
// MatchRoles. It is for `caddy fed-oidc explain`; the reasons quote
// claim values, so they are not for logs.
func (s *Set) ExplainRoles(claims map[string]any) []RoleMatch {
	if s == nil {
		return nil
	}
	out := make([]RoleMatch, 0, len(s.roles))
	for _, role := range s.roles {
		m := RoleMatch{Role: role.name, Matched: role.matches(claims)}
		if !m.Matched {
			m.Reason = role.whyNot(claims)
		} else {
			for _, p := range role.policies {
				for _, st := range p.stmts {
					if !st.applies(claims) {
						_, failed := st.cond.eval(claims)
						m.Skipped = append(m.Skipped, fmt.Sprintf("policy %s, statement %s (%s): %s",
							p.name, st.sid, st.effect(), st.cond[failed].explain(claims)))
					}
				}
			}
		}
		out = append(out, m)
	}
	return out
}

func (role *compiledRole) whyNot(claims map[string]any) string {
	if role.subjects != nil {
		sub, ok := claims["sub"].(string)
		if !ok {
			return "principal: the token has no sub string"
		}
		if !slices.Contains(role.subjects, sub) {
			return fmt.Sprintf("principal: sub %q is not one of %q", sub, role.subjects)
		}
	}
	if _, failed := role.cond.eval(claims); failed >= 0 {
		return role.cond[failed].explain(claims)
	}
	return ""
}

// explain says why the clause is not true for claims.
func (c *clause) explain(claims map[string]any) string {
	at := fmt.Sprintf("condition %s[%q]", c.operator, c.key)
	v, ok := claims[c.claim]
	var got string
	switch v := v.(type) {
	case nil:
		if !ok {
			got = "the claim is missing"
		} else {
			got = "the claim is null"
		}
	case string:
		if c.op.negated {
			return fmt.Sprintf("%s: the claim %q matches one of %q", at, v, c.values)
		}
		return fmt.Sprintf("%s: the claim %q matches none of %q", at, v, c.values)
	case []string, []any:
		if c.op.forAny {
			return fmt.Sprintf("%s: no string of the claim %v matches one of %q", at, v, c.values)
		}
		got = "the claim is an array (only ForAnyValue: operators match arrays)"
	default:
		got = fmt.Sprintf("the claim is a %T, not a string", v)
	}
	if c.op.negated {
		got += "; a negated operator then fails closed"
	}
	return at + ": " + got
}
