// Package iam implements IAM for OpenFaaS: the JwtIssuer, Policy and Role
// objects, and the decision whether an identity may take an action on a
// resource. It imports no Caddy, so the handler, `caddy fed-oidc explain`
// and the tests call the same code.
//
// Load (or Parse and Compile) validates a set of objects and compiles it
// into an immutable Set; a reload compiles a new one. For each verified
// token, Set.MatchRoles finds the roles its claims match and the
// statements that apply to it, once; Roles.Decide then decides each
// request on (action, resource) without allocating: an explicit Deny in
// any matched statement wins, else any Allow allows, else the implicit
// deny. The Decision names the role, policy and statement that decided.
package iam

import (
	"fmt"
	"strings"
)

// Action is an OpenFaaS IAM action, e.g. Function:List.
type Action string

// The actions of IAM for OpenFaaS (docs.openfaas.com openfaas-pro/iam
// overview, "Permissions").
const (
	FunctionList   Action = "Function:List"
	FunctionGet    Action = "Function:Get"
	FunctionCreate Action = "Function:Create"
	FunctionUpdate Action = "Function:Update"
	FunctionDelete Action = "Function:Delete"
	FunctionLogs   Action = "Function:Logs"
	FunctionScale  Action = "Function:Scale"
	FunctionInvoke Action = "Function:Invoke"

	SecretList   Action = "Secret:List"
	SecretCreate Action = "Secret:Create"
	SecretUpdate Action = "Secret:Update"
	SecretDelete Action = "Secret:Delete"

	NamespaceList   Action = "Namespace:List"
	NamespaceGet    Action = "Namespace:Get"
	NamespaceCreate Action = "Namespace:Create"
	NamespaceUpdate Action = "Namespace:Update"
	NamespaceDelete Action = "Namespace:Delete"

	SystemInfo Action = "System:Info"
)

// Actions lists every action, in the order of the docs' table.
var Actions = []Action{
	FunctionList, FunctionGet, FunctionCreate, FunctionUpdate, FunctionDelete, FunctionLogs, FunctionScale, FunctionInvoke,
	SecretList, SecretCreate, SecretUpdate, SecretDelete,
	NamespaceList, NamespaceGet, NamespaceCreate, NamespaceUpdate, NamespaceDelete,
	SystemInfo,
}

// Resource names what an action applies to: "<namespace>:<name>" for one
// object, "<namespace>:*" for a namespace as a whole, "*" for the cluster
// (System:Info).
type Resource string

// NamespaceResource is the resource of a namespace as a whole.
func NamespaceResource(ns string) Resource { return Resource(ns + ":*") }

// ObjectResource is the resource of one named object in a namespace.
func ObjectResource(ns, name string) Resource { return Resource(ns + ":" + name) }

// ClusterResource is the resource of cluster-wide actions.
const ClusterResource Resource = "*"

// actionSet is a set of actions: a bit per entry of Actions, and
// otherSlot's bit for any action not in Actions, which only "*" grants.
type actionSet uint64

// otherSlot is the slot of actions not in Actions (unknown /system/
// endpoints, say): only the action "*" grants them.
var otherSlot = len(Actions)

var actionSlots = func() map[Action]int {
	m := make(map[Action]int, len(Actions))
	for i, a := range Actions {
		m[a] = i
	}
	return m
}()

// slotOf is a's slot: its index in Actions, or otherSlot.
func slotOf(a Action) int {
	if i, ok := actionSlots[a]; ok {
		return i
	}
	return otherSlot
}

// parseActionPattern reads a statement's action: one of Actions, a
// service wildcard (Function:*, Secret:*, Namespace:*, System:*: that
// service's actions in Actions) or * (every action, also unknown ones).
// No other wildcard is accepted, and names are case-sensitive.
func parseActionPattern(s string) (actionSet, error) {
	if s == "*" {
		return 1<<(otherSlot+1) - 1, nil
	}
	if i, ok := actionSlots[Action(s)]; ok {
		return 1 << i, nil
	}
	if service, ok := strings.CutSuffix(s, ":*"); ok {
		var set actionSet
		for i, a := range Actions {
			if strings.HasPrefix(string(a), service+":") {
				set |= 1 << i
			}
		}
		if set != 0 {
			return set, nil
		}
	}
	known := make([]string, 0, len(Actions))
	for _, a := range Actions {
		known = append(known, string(a))
	}
	return 0, fmt.Errorf("unknown action %q%s: want an action such as Function:List, a service wildcard such as Function:*, or *",
		s, hint(s, known))
}
