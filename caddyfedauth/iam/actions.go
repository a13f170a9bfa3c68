// Package iam implements IAM for OpenFaaS: the JwtIssuer, Policy and Role
// objects, and the decision whether an identity may take an action on a
// resource. It imports no Caddy, so the handler, `caddy fed-oidc explain`
// and the tests call the same code.
package iam

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
