package iam

import (
	"slices"
	"strings"
)

// Decision is the answer to "may this token take this action on this
// resource", with the reason.
type Decision struct {
	Outcome Outcome

	// The statement that decided (Allowed, DeniedByStatement): its Role
	// ("" when decided by a token's policy claim), Policy and sid.
	Role, Policy, Sid string

	// DeniedNoMatch because the token matched no role (or, for a policy
	// claim, named no policy of the set), rather than because no
	// statement of its roles covered the request.
	NoRole bool
}

// Outcome is how a request was decided. The zero value is a denial.
type Outcome uint8

// The outcomes. String gives each a metric label.
const (
	DeniedNoMatch     Outcome = iota // the implicit deny: no statement allows it
	Allowed                          // an Allow statement applies, and no Deny does
	DeniedByStatement                // a Deny statement applies
	DeniedMalformed                  // the resource is not "*", "<ns>:*" or "<ns>:<name>"
)

func (o Outcome) String() string {
	switch o {
	case Allowed:
		return "allowed"
	case DeniedByStatement:
		return "denied_by_statement"
	case DeniedMalformed:
		return "bad_request"
	}
	return "denied_no_match"
}

// Allowed says whether the request may go ahead.
func (d Decision) Allowed() bool { return d.Outcome == Allowed }

// Reason says in words what decided, for logs, audit and explain.
func (d Decision) Reason() string {
	switch d.Outcome {
	case Allowed, DeniedByStatement:
		verb := "allowed by "
		if d.Outcome == DeniedByStatement {
			verb = "denied by "
		}
		// One concatenation each: a reason is made for every audit event.
		if d.Role == "" {
			return verb + "policy " + d.Policy + ", statement " + d.Sid
		}
		return verb + "role " + d.Role + ", policy " + d.Policy + ", statement " + d.Sid
	case DeniedMalformed:
		return "denied: malformed resource"
	}
	if d.NoRole {
		return "denied: the token matches no role"
	}
	return "denied: no statement allows it"
}

// Roles is what one token holds: the roles it matches, their policies,
// and which of their statements apply to it. Compute it once per verified
// token and keep it with the token: Decide then looks up the statements
// that may cover the request in the Set's index, and allocates nothing. A
// Roles belongs to the Set that made it (Set), so after a reload, match
// again.
type Roles struct {
	set      *Set
	roles    []*compiledRole
	matched  bitset            // roles, by id
	policies []*compiledPolicy // held, each once, in order
	missing  []string          // MatchPolicies: names not in the set
	applies  bitset            // statements, by id: those of policies held that apply to the token
}

// MatchRoles finds the roles the token's claims match (its principal, if
// any, and its condition), and the statements of their policies whose
// conditions the claims meet. claims are the verified token's: strings
// and arrays of strings match, other values never do.
func (s *Set) MatchRoles(claims map[string]any) *Roles {
	r := &Roles{set: s}
	if s == nil {
		return r
	}
	r.matched = newBitset(len(s.roles))
	for _, role := range s.roles {
		if !role.matches(claims) {
			continue
		}
		r.roles = append(r.roles, role)
		r.matched.set(role.id)
		for _, p := range role.policies {
			r.hold(p)
		}
	}
	r.meet(claims)
	return r
}

// PolicyClaim is the claim of OpenFaaS access tokens, issued by the
// system issuer in a token exchange, that names the policies the token
// holds.
const PolicyClaim = "policy"

// MatchPolicies is MatchRoles for a token of the system issuer, whose
// PolicyClaim (a string or an array of strings) names its policies: they
// apply directly, and roles are not matched. Use it only for tokens the
// system issuer signed: the holder of any other token chooses its claims. Statement conditions are
// met against the token's claims, which carry the original token's.
// Names not in the set are skipped (MissingPolicies lists them).
func (s *Set) MatchPolicies(claims map[string]any) *Roles {
	r := &Roles{set: s}
	var names []string
	switch v := claims[PolicyClaim].(type) {
	case string:
		names = []string{v}
	case []string:
		names = v
	case []any:
		for _, e := range v {
			if name, ok := e.(string); ok {
				names = append(names, name)
			}
		}
	}
	for _, name := range names {
		var p *compiledPolicy
		if s != nil {
			p = s.policies[name]
		}
		if p == nil {
			r.missing = append(r.missing, name)
			continue
		}
		r.hold(p)
	}
	r.meet(claims)
	return r
}

// hold adds policy p unless it is held already.
func (r *Roles) hold(p *compiledPolicy) {
	if !slices.Contains(r.policies, p) {
		r.policies = append(r.policies, p)
	}
}

// meet marks the statements of the held policies that apply to claims.
func (r *Roles) meet(claims map[string]any) {
	if r.set == nil {
		return
	}
	r.applies = newBitset(len(r.set.stmts))
	for _, p := range r.policies {
		for _, st := range p.stmts {
			if st.applies(claims) {
				r.applies.set(st.id)
			}
		}
	}
}

// Decide says whether the token may take action on resource, in the
// order AWS IAM documents. An action not in Actions is granted only by
// the action "*".
func (r *Roles) Decide(action Action, resource Resource) Decision {
	ref, ok := splitResource(resource)
	if !ok {
		return Decision{Outcome: DeniedMalformed}
	}
	if r == nil || r.set == nil {
		return Decision{NoRole: true}
	}
	x, slot := &r.set.idx, slotOf(action)
	if st := x.find(true, r.applies, slot, ref); st != nil { // an explicit Deny in any matched statement wins;
		return r.decision(st, DeniedByStatement)
	}
	if st := x.find(false, r.applies, slot, ref); st != nil { // else any Allow allows;
		return r.decision(st, Allowed)
	}
	return Decision{NoRole: len(r.roles)+len(r.policies) == 0} // else the implicit deny.
}

func (r *Roles) decision(st *compiledStmt, o Outcome) Decision {
	d := Decision{Outcome: o, Policy: st.policy, Sid: st.sid}
	if role := r.roleOf(st); role != nil {
		d.Role = role.name
	}
	return d
}

// roleOf is the role through which the token holds st's policy: the
// first matched, by name, that names it; nil for a policy claim.
func (r *Roles) roleOf(st *compiledStmt) *compiledRole {
	for _, role := range st.pol.roles {
		if r.matched.has(role.id) {
			return role
		}
	}
	return nil
}

// held calls fn for each statement that applies to the token, policy by
// policy in order.
func (r *Roles) held(fn func(*compiledStmt)) {
	if r == nil {
		return
	}
	for _, p := range r.policies {
		for _, st := range p.stmts {
			if r.applies.has(st.id) {
				fn(st)
			}
		}
	}
}

// Decide matches the token's roles and decides; to decide many requests
// of one token, keep MatchRoles' result instead.
func (s *Set) Decide(claims map[string]any, action Action, resource Resource) Decision {
	return s.MatchRoles(claims).Decide(action, resource)
}

// DecidePolicies decides for a token of the system issuer, by the
// policies its PolicyClaim names.
func (s *Set) DecidePolicies(claims map[string]any, action Action, resource Resource) Decision {
	return s.MatchPolicies(claims).Decide(action, resource)
}

// Set is the Set that made r.
func (r *Roles) Set() *Set { return r.set }

// Names are the roles matched, by name.
func (r *Roles) Names() []string {
	return texts(r.roles, func(role *compiledRole) string { return role.name })
}

// Policies are the policies applied, in the order of the roles (or of
// the policy claim), each once.
func (r *Roles) Policies() []string {
	return texts(r.policies, func(p *compiledPolicy) string { return p.name })
}

// MissingPolicies are the names in a policy claim that the set does not
// have (MatchPolicies only).
func (r *Roles) MissingPolicies() []string { return slices.Clone(r.missing) }

func (role *compiledRole) matches(claims map[string]any) bool {
	if role.subjects != nil {
		sub, ok := claims["sub"].(string)
		if !ok || !slices.Contains(role.subjects, sub) {
			return false
		}
	}
	return role.cond.grants(claims)
}

// applies says whether a statement applies to claims. A condition that
// cannot be evaluated (a negated operator on a missing claim) fails
// closed: an Allow does not apply, a Deny does.
func (st *compiledStmt) applies(claims map[string]any) bool {
	if st.deny {
		return st.cond.denies(claims)
	}
	return st.cond.grants(claims)
}

// effect is the statement's Effect, as written.
func (st *compiledStmt) effect() string {
	if st.deny {
		return EffectDeny
	}
	return EffectAllow
}

// resources are the statement's resource patterns, as written.
func (st *compiledStmt) resourceTexts() []string {
	return texts(st.resources, func(p resourcePattern) string { return p.text })
}

func texts[T any](items []T, text func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = text(it)
	}
	return out
}

// IsClusterAction says whether a is cluster-wide (a System: action,
// decided on ClusterResource) rather than namespaced.
func IsClusterAction(a Action) bool { return strings.HasPrefix(string(a), "System:") }
