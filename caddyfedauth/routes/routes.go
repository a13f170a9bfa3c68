// Package routes maps an OpenFaaS gateway request to the IAM action and
// resource it needs, reading the names the way the gateway and its
// providers (faasd, faas-netes) will act on them. It imports no Caddy, so
// the handler, `caddy fed-oidc explain` and the tests call the same code.
package routes

import (
	"strings"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// Unlisted is the action of a /system/ request the gateway has no IAM
// action for: /system/alert, /system/telemetry, and any endpoint a later
// gateway adds. Its resource is iam.ClusterResource. It is not one of
// iam.Actions, so no policy can name it and a loader refuses it; only a
// statement granting action "*" on resource "*" matches it.
const Unlisted iam.Action = "Unlisted"

// Call is what a request asks for, as the policy engine decides on it.
type Call struct {
	Action   iam.Action
	Resource iam.Resource

	// Namespace is the namespace the call acts in, the default applied.
	// For namespace endpoints it is the namespace acted on. Empty for
	// cluster-wide calls (System:Info, Namespace:List, Unlisted).
	Namespace string

	// Name is the function or secret named; empty for lists and for
	// namespace and cluster-wide calls.
	Name string

	// Invoke marks /function/ and /async-function/ (Async). Their query
	// and body are the function's, and are never read.
	Invoke bool
	Async  bool

	// FilterNamespaces marks GET /system/namespaces: the handler filters
	// the response to the namespaces the caller holds an action in.
	FilterNamespaces bool

	// BodyRead says the body was read: forward exactly those bytes.
	BodyRead bool

	// QueryNamespace says the upstream query must name Namespace (see
	// UpstreamQuery). Clients send the namespace of DELETE
	// /system/functions, POST /system/scale-function/{name} and DELETE
	// /system/secrets in the body only, but one provider reads it from the
	// query and would otherwise act in its default namespace: faas-netes
	// for the first two, faasd for the third.
	QueryNamespace bool
}

// UpstreamQuery returns the raw query to send upstream: rawQuery, with
// namespace=<Namespace> added when QueryNamespace is set (the query then
// has no namespace key, so it still has one reading).
func (c Call) UpstreamQuery(rawQuery string) string {
	if !c.QueryNamespace {
		return rawQuery
	}
	q := "namespace=" + c.Namespace // NameExpression bytes need no escaping
	if rawQuery == "" {
		return q
	}
	return rawQuery + "&" + q
}

// NeedsBody reports whether Map reads the body of a request with this
// method and escaped path. The handler reads it (ReadBody) only then.
func NeedsBody(method, escapedPath string) bool {
	rt, _, err := match(method, escapedPath)
	return err == nil && rt.readsBody()
}

// Map maps a request to its Call: method, escapedPath (r.URL.EscapedPath()),
// rawQuery (r.URL.RawQuery), the body (read with ReadBody when NeedsBody,
// else ignored) and the namespace the providers use when a request names
// none. An error is an *Error, whose Status the handler answers with.
//
// Each name and namespace is read from every place a provider reads it
// (the route table in README.md, "OpenFaaS API → IAM actions"); where two
// places give one, they must agree. An empty namespace is
// defaultNamespace. Names are 1 to 253 bytes of [-a-zA-Z_0-9.] (the
// gateway's NameExpression), never "." or "..".
func Map(method, escapedPath, rawQuery string, body []byte, defaultNamespace string) (Call, error) {
	c, err := mapCall(method, escapedPath, rawQuery, body, defaultNamespace)
	if err != nil {
		return Call{}, err
	}
	return c, nil
}

func mapCall(method, escapedPath, rawQuery string, body []byte, defaultNamespace string) (Call, *Error) {
	if !ValidName(defaultNamespace) {
		return Call{}, errBadDefault
	}
	rt, pathName, err := match(method, escapedPath)
	if err != nil {
		return Call{}, err
	}
	switch rt {
	case routeListFunctions, routeGetFunction, routeDeploy, routeUpdate, routeDelete, routeScale, routeLogs,
		routeListSecrets, routeCreateSecret, routeUpdateSecret, routeDeleteSecret:
		return mapObject(rt, pathName, rawQuery, body, defaultNamespace)
	case routeInfo:
		return Call{Action: iam.SystemInfo, Resource: iam.ClusterResource}, nil
	case routeListNamespaces:
		return Call{Action: iam.NamespaceList, Resource: iam.ClusterResource, FilterNamespaces: true}, nil
	case routeInvoke, routeInvokeAsync:
		name, ns, err := splitInvoke(pathName, defaultNamespace)
		if err != nil {
			return Call{}, err
		}
		return Call{
			Action: iam.FunctionInvoke, Resource: iam.ObjectResource(ns, name),
			Namespace: ns, Name: name, Invoke: true, Async: rt == routeInvokeAsync,
		}, nil
	case routeGetNamespace, routeCreateNamespace, routeUpdateNamespace, routeDeleteNamespace:
		return mapNamespace(rt, pathName, body)
	}
	return Call{Action: Unlisted, Resource: iam.ClusterResource}, nil // routeUnlisted
}

// mapNamespace maps /system/namespace/{name}. faasd (mutate_namespaces.go
// parseNamespaceRequest) reads GET's name from the path only, POST's from
// the body only, and wants PUT's and DELETE's in both, equal.
func mapNamespace(rt route, pathName string, body []byte) (Call, *Error) {
	if rt == routeGetNamespace {
		if pathName == "" {
			return Call{}, errMissingNS
		}
		return Call{Action: iam.NamespaceGet, Resource: iam.NamespaceResource(pathName), Namespace: pathName}, nil
	}
	f, err := parseObject(body, "name")
	if err != nil {
		return Call{}, err
	}
	name := f[0]
	switch {
	case name == "" || rt != routeCreateNamespace && pathName == "":
		return Call{}, errMissingNS
	case !ValidName(name):
		return Call{}, errBadNamespace
	case pathName != "" && pathName != name:
		return Call{}, errNamespacePathBody
	}
	action := iam.NamespaceCreate
	switch rt {
	case routeUpdateNamespace:
		action = iam.NamespaceUpdate
	case routeDeleteNamespace:
		action = iam.NamespaceDelete
	}
	return Call{Action: action, Resource: iam.NamespaceResource(name), Namespace: name, BodyRead: true}, nil
}

// objectRoute says where a function or secret route's provider reads its
// name and namespace.
type objectRoute struct {
	action iam.Action

	// Where the name is: the path, the query's "name", or a body member.
	// None of them: the call is on the namespace as a whole (a list).
	nameInPath  bool
	nameInQuery bool
	nameMember  string

	// The body's "namespace" (with nameMember, if any) is read when the
	// route readsBody; the query's "namespace" is read always, and when it
	// is absent on a queryReader route, the call sets QueryNamespace.
	queryReader bool

	missing, bad *Error
}

var objectRoutes = [...]objectRoute{
	routeListFunctions: {action: iam.FunctionList},
	routeGetFunction:   {action: iam.FunctionGet, nameInPath: true},
	routeDeploy:        {action: iam.FunctionCreate, nameMember: "service", missing: errMissingFunction, bad: errBadFunctionName},
	routeUpdate:        {action: iam.FunctionUpdate, nameMember: "service", missing: errMissingFunction, bad: errBadFunctionName},
	routeDelete:        {action: iam.FunctionDelete, nameMember: "functionName", queryReader: true, missing: errMissingFunction, bad: errBadFunctionName},
	routeScale:         {action: iam.FunctionScale, nameInPath: true, nameMember: "serviceName", queryReader: true},
	routeLogs:          {action: iam.FunctionLogs, nameInQuery: true, missing: errMissingFunction, bad: errBadFunctionName},
	routeListSecrets:   {action: iam.SecretList},
	routeCreateSecret:  {action: iam.SecretCreate, nameMember: "name", missing: errMissingSecret, bad: errBadSecretName},
	routeUpdateSecret:  {action: iam.SecretUpdate, nameMember: "name", missing: errMissingSecret, bad: errBadSecretName},
	routeDeleteSecret:  {action: iam.SecretDelete, nameMember: "name", queryReader: true, missing: errMissingSecret, bad: errBadSecretName},
}

var (
	errNamespaceQueryBody = badRequest(ReasonNamespaceMismatch, "namespace in the query and the body differ")
	errNamespacePathBody  = badRequest(ReasonNamespaceMismatch, "namespace in the path and the body differ")
	errScaleName          = badRequest(ReasonNameMismatch, "serviceName in the body is not the function in the path")
	// faas-netes (k8s/log.go) reads the logs of any case of kube-system
	// from its default namespace instead.
	errLogsKubeSystem = badRequest(ReasonNamespaceMismatch, "logs of kube-system are read from the default namespace")
)

// mapObject maps the function and secret routes.
func mapObject(rt route, pathName, rawQuery string, body []byte, defaultNamespace string) (Call, *Error) {
	spec := objectRoutes[rt]
	q, err := parseQuery(rawQuery)
	if err != nil {
		return Call{}, err
	}
	c := Call{Action: spec.action, Namespace: defaultNamespace}
	qns, inQuery := q.namespace()
	if inQuery && qns != "" {
		if !ValidName(qns) {
			return Call{}, errBadNamespace
		}
		c.Namespace = qns
	}
	var member string
	if rt.readsBody() {
		f, err := parseObject(body, spec.nameMember, "namespace")
		if err != nil {
			return Call{}, err
		}
		c.BodyRead = true
		member = f[0]
		bns := defaultNamespace
		if f[1] != "" {
			if !ValidName(f[1]) {
				return Call{}, errBadNamespace
			}
			bns = f[1]
		}
		switch {
		case inQuery && c.Namespace != bns:
			return Call{}, errNamespaceQueryBody
		case !inQuery && spec.queryReader:
			c.QueryNamespace = true
		}
		c.Namespace = bns
	}

	switch {
	case spec.nameInPath:
		c.Name = pathName // match checked it
		if spec.nameMember != "" && member != pathName {
			return Call{}, errScaleName
		}
	case spec.nameInQuery:
		c.Name = q.val[qName]
		if strings.EqualFold(c.Namespace, "kube-system") {
			return Call{}, errLogsKubeSystem
		}
	case spec.nameMember != "":
		c.Name = member
	default:
		c.Resource = iam.NamespaceResource(c.Namespace)
		return c, nil
	}
	switch {
	case c.Name == "":
		return Call{}, spec.missing
	case !ValidName(c.Name):
		return Call{}, spec.bad
	}
	c.Resource = iam.ObjectResource(c.Namespace, c.Name)
	return c, nil
}
