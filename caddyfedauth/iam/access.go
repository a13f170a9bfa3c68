package iam

import "slices"

// NamespaceAccess is what a token may do in one namespace.
type NamespaceAccess struct {
	Namespace string

	// Actions allowed on the namespace as a whole (<ns>:*), and so on
	// every object in it.
	Actions []Action

	// Narrower grants: actions an Allow statement gives on some names
	// only (ns:env, ns:fn-*), beyond Actions.
	Objects []ObjectAccess
}

// ObjectAccess is a grant on the names in a namespace that a pattern
// matches.
type ObjectAccess struct {
	Name    string // the name pattern, e.g. env or fn-*
	Actions []Action
}

// Empty says whether the token may do nothing in the namespace.
func (a NamespaceAccess) Empty() bool { return len(a.Actions) == 0 && len(a.Objects) == 0 }

// Access is what the token may do in namespace ns: each namespaced
// action it may take on the namespace as a whole, as Decide says, and
// the narrower grants. A narrower grant on a literal name is what Decide
// says for that name. One on a pattern (fn-*) is listed unless a Deny
// takes the action away on the whole namespace or on the same pattern; a
// Deny on a narrower pattern still leaves it listed.
func (r *Roles) Access(ns string) NamespaceAccess {
	a := NamespaceAccess{Namespace: ns}
	if r == nil {
		return a
	}
	for _, act := range Actions {
		if !IsClusterAction(act) && r.Decide(act, NamespaceResource(ns)).Allowed() {
			a.Actions = append(a.Actions, act)
		}
	}
	for slot, act := range Actions {
		if IsClusterAction(act) || slices.Contains(a.Actions, act) {
			continue
		}
		r.held(func(st *compiledStmt) {
			if st.deny || st.actions&(1<<slot) == 0 {
				return
			}
			for _, p := range st.resources {
				if p.all || p.wholeNS || !p.ns.match(ns) {
					continue
				}
				var held bool
				if p.name.kind == globExact {
					held = r.Decide(act, ObjectResource(ns, p.names)).Allowed()
				} else {
					held = !r.denied(slot, ns, p.names)
				}
				if held {
					a.grant(p.names, act)
				}
			}
		})
	}
	return a
}

func (a *NamespaceAccess) grant(name string, act Action) {
	i := slices.IndexFunc(a.Objects, func(o ObjectAccess) bool { return o.Name == name })
	if i < 0 {
		a.Objects = append(a.Objects, ObjectAccess{Name: name})
		i = len(a.Objects) - 1
	}
	if !slices.Contains(a.Objects[i].Actions, act) {
		a.Objects[i].Actions = append(a.Objects[i].Actions, act)
	}
}

// denied says whether a Deny takes the action in slot away on the whole
// namespace ns or on the name pattern names in it.
func (r *Roles) denied(slot int, ns, names string) bool {
	denied := false
	r.held(func(st *compiledStmt) {
		if !st.deny || st.actions&(1<<slot) == 0 {
			return
		}
		for _, p := range st.resources {
			denied = denied || p.all || p.ns.match(ns) && (p.wholeNS || p.names == names)
		}
	})
	return denied
}

// DecideSomewhere decides a list of namespaces, which GET
// /system/namespaces answers filtered (VisibleNamespaces): the action is
// allowed on the whole cluster (ClusterResource), or else by the first
// Allow statement that grants it on some namespace, as the docs'
// staging-rw grants Namespace:List on staging:*. A Deny on the cluster
// refuses it.
func (r *Roles) DecideSomewhere(action Action) Decision {
	d := r.Decide(action, ClusterResource)
	if d.Outcome != DeniedNoMatch {
		return d
	}
	slot := slotOf(action)
	var allow *compiledStmt
	r.held(func(st *compiledStmt) {
		if allow == nil && !st.deny && st.actions&(1<<slot) != 0 {
			allow = st
		}
	})
	if allow == nil {
		return d
	}
	return r.decision(allow, Allowed)
}

// Resources are the resource patterns, as written, of the Allow
// statements that apply to the token and grant action, each once: what a
// function token's permissions carry for Function:Invoke. Deny statements
// are not reflected; decide with Decide where they matter.
func (r *Roles) Resources(action Action) []string {
	slot := slotOf(action)
	var out []string
	r.held(func(st *compiledStmt) {
		if st.deny || st.actions&(1<<slot) == 0 {
			return
		}
		for _, p := range st.resources {
			if !slices.Contains(out, p.text) {
				out = append(out, p.text)
			}
		}
	})
	return out
}

// VisibleNamespaces filters namespaces to those in which the token holds
// any action (Access is not empty), as GET /system/namespaces shows them.
func (r *Roles) VisibleNamespaces(namespaces []string) []string {
	var out []string
	for _, ns := range namespaces {
		if a := r.Access(ns); !a.Empty() {
			out = append(out, ns)
		}
	}
	return out
}

// Namespaces are the namespaces that the token's Allow statements name
// literally (staging in staging:*), sorted. Patterns such as * or team-*:*
// name none; Statements shows them.
func (r *Roles) Namespaces() []string {
	var out []string
	r.held(func(st *compiledStmt) {
		for _, p := range st.resources {
			if !st.deny && !p.all && p.ns.kind == globExact && !slices.Contains(out, p.ns.lit) {
				out = append(out, p.ns.lit)
			}
		}
	})
	slices.Sort(out)
	return out
}

// ClusterActions are the cluster-wide actions (System:Info) the token may
// take.
func (r *Roles) ClusterActions() []Action {
	var out []Action
	for _, act := range Actions {
		if IsClusterAction(act) && r.Decide(act, ClusterResource).Allowed() {
			out = append(out, act)
		}
	}
	return out
}

// Grant is a statement that applies to a token, as written.
type Grant struct {
	Role, Policy, Sid string // Role is "" for a policy claim
	Effect            string
	Action, Resource  []string
}

// Statements are the statements that apply to the token, policy by
// policy in order.
func (r *Roles) Statements() []Grant {
	var out []Grant
	r.held(func(st *compiledStmt) {
		g := Grant{Policy: st.policy, Sid: st.sid, Effect: st.effect(),
			Action: slices.Clone(st.actionTexts), Resource: st.resourceTexts()}
		if role := r.roleOf(st); role != nil {
			g.Role = role.name
		}
		out = append(out, g)
	})
	return out
}
