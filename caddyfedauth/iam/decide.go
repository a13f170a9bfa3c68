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
	by := "policy " + d.Policy + ", statement " + d.Sid
	if d.Role != "" {
		by = "role " + d.Role + ", " + by
	}
	switch d.Outcome {
	case Allowed:
		return "allowed by " + by
	case DeniedByStatement:
		return "denied by " + by
	case DeniedMalformed:
		return "denied: malformed resource"
	}
	if d.NoRole {
		return "denied: the token matches no role"
	}
	return "denied: no statement allows it"
}

// Roles is what one token holds: the roles it matches and, from their
// policies, the statements whose conditions it meets, indexed by action.
// Compute it once per verified token and keep it with the token: Decide
// then does a few string compares and allocates nothing. A Roles belongs
// to the Set that made it (Set), so after a reload, match again.
type Roles struct {
	set      *Set
	roles    []*compiledRole
	policies []*compiledPolicy // applied, each once, in order
	missing  []string          // MatchPolicies: names not in the set
	deny     index
	allow    index
}

// index lists statements by action slot: slot i's statements are
// entries[start[i]:start[i+1]].
type index struct {
	start   []int32
	entries []entry
}

type entry struct {
	stmt *compiledStmt
	role *compiledRole // nil when applied from a policy claim
}

// MatchRoles finds the roles the token's claims match (its principal, if
// any, and its condition), and the statements of their policies whose
// conditions the claims meet. claims are the verified token's: strings
// and arrays of strings match, other values never do.
func (s *Set) MatchRoles(claims map[string]any) *Roles {
	r := &Roles{set: s}
	var applied []entry // a policy, with the first role (by name) that applies it
	if s != nil {
		for _, role := range s.roles {
			if !role.matches(claims) {
				continue
			}
			r.roles = append(r.roles, role)
			for _, p := range role.policies {
				if !slices.Contains(r.policies, p) {
					r.policies = append(r.policies, p)
					applied = append(applied, entry{role: role})
				}
			}
		}
	}
	r.index(claims, applied)
	return r
}

// PolicyClaim is the claim of OpenFaaS access tokens, issued by the
// system issuer in a token exchange, that names the policies the token
// holds.
const PolicyClaim = "policy"

// MatchPolicies is MatchRoles for a token of the system issuer, whose
// PolicyClaim (a string or an array of strings) names its policies: they
// apply directly, and roles are not matched. Statement conditions are
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
	var applied []entry
	for _, name := range names {
		var p *compiledPolicy
		if s != nil {
			p = s.policies[name]
		}
		switch {
		case p == nil:
			r.missing = append(r.missing, name)
		case !slices.Contains(r.policies, p):
			r.policies = append(r.policies, p)
			applied = append(applied, entry{})
		}
	}
	r.index(claims, applied)
	return r
}

// index fills the action indexes with the statements of r.policies that
// apply to claims; applied[i].role is the role that brought policy i.
func (r *Roles) index(claims map[string]any, applied []entry) {
	var deny, allow [][]entry
	deny, allow = make([][]entry, otherSlot+1), make([][]entry, otherSlot+1)
	for i, p := range r.policies {
		for j := range p.stmts {
			st := &p.stmts[j]
			if !st.applies(claims) {
				continue
			}
			to := allow
			if st.deny {
				to = deny
			}
			for slot := range to {
				if st.actions&(1<<slot) != 0 {
					to[slot] = append(to[slot], entry{stmt: st, role: applied[i].role})
				}
			}
		}
	}
	r.deny, r.allow = flatten(deny), flatten(allow)
}

func flatten(slots [][]entry) index {
	x := index{start: make([]int32, len(slots)+1)}
	for i, s := range slots {
		x.entries = append(x.entries, s...)
		x.start[i+1] = int32(len(x.entries))
	}
	return x
}

// Decide says whether the token may take action on resource, in the
// order AWS IAM documents. An action not in Actions is granted only by
// the action "*".
func (r *Roles) Decide(action Action, resource Resource) Decision {
	ref, ok := splitResource(resource)
	if !ok {
		return Decision{Outcome: DeniedMalformed}
	}
	if r == nil {
		return Decision{NoRole: true}
	}
	slot := slotOf(action)
	if e := r.deny.find(slot, ref); e != nil { // an explicit Deny in any matched statement wins;
		return e.decision(DeniedByStatement)
	}
	if e := r.allow.find(slot, ref); e != nil { // else any Allow allows;
		return e.decision(Allowed)
	}
	return Decision{NoRole: len(r.roles)+len(r.policies) == 0} // else the implicit deny.
}

func (x *index) find(slot int, ref resourceRef) *entry {
	if len(x.start) == 0 {
		return nil
	}
	for i := x.start[slot]; i < x.start[slot+1]; i++ {
		e := &x.entries[i]
		for j := range e.stmt.resources {
			if e.stmt.resources[j].match(ref) {
				return e
			}
		}
	}
	return nil
}

func (e *entry) decision(o Outcome) Decision {
	d := Decision{Outcome: o, Policy: e.stmt.policy, Sid: e.stmt.sid}
	if e.role != nil {
		d.Role = e.role.name
	}
	return d
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
	out := make([]string, len(r.roles))
	for i, role := range r.roles {
		out[i] = role.name
	}
	return out
}

// Policies are the policies applied, in the order of the roles (or of
// the policy claim), each once.
func (r *Roles) Policies() []string {
	out := make([]string, len(r.policies))
	for i, p := range r.policies {
		out[i] = p.name
	}
	return out
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
	out := make([]string, len(st.resources))
	for i, p := range st.resources {
		out[i] = p.text
	}
	return out
}

// IsClusterAction says whether a is cluster-wide (a System: action,
// decided on ClusterResource) rather than namespaced.
func IsClusterAction(a Action) bool { return strings.HasPrefix(string(a), "System:") }
