package routes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// This file is an oracle for Map written apart from it: the gateway's
// router as regular expressions over the decoded path (faas 0.27.14
// gateway/main.go, gorilla/mux), and what faasd and faas-netes act on,
// transcribed from their handlers, with encoding/json and url.ParseQuery
// doing the reading. Map may refuse more than the oracle; a Call it
// returns must have the oracle's action, and every provider that would
// act must act on the Call's namespace and name.

// The faas-provider types the providers decode into (types/*.go, v0.25.12).
type (
	functionDeployment struct {
		Service                string             `json:"service"`
		Image                  string             `json:"image"`
		Namespace              string             `json:"namespace,omitempty"`
		EnvProcess             string             `json:"envProcess,omitempty"`
		EnvVars                map[string]string  `json:"envVars,omitempty"`
		Constraints            []string           `json:"constraints,omitempty"`
		Secrets                []string           `json:"secrets,omitempty"`
		Labels                 *map[string]string `json:"labels,omitempty"`
		Annotations            *map[string]string `json:"annotations,omitempty"`
		Limits                 *functionResources `json:"limits,omitempty"`
		Requests               *functionResources `json:"requests,omitempty"`
		ReadOnlyRootFilesystem bool               `json:"readOnlyRootFilesystem,omitempty"`
	}
	functionResources struct {
		Memory string `json:"memory,omitempty"`
		CPU    string `json:"cpu,omitempty"`
	}
	deleteFunctionRequest struct {
		FunctionName string `json:"functionName"`
		Namespace    string `json:"namespace,omitempty"`
	}
	scaleServiceRequest struct {
		ServiceName string `json:"serviceName"`
		Replicas    uint64 `json:"replicas"`
		Namespace   string `json:"namespace,omitempty"`
	}
	secret struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
		Value     string `json:"value,omitempty"`
		RawValue  []byte `json:"rawValue,omitempty"`
	}
	functionNamespace struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
	}
)

// gatewayRoute is one path of the gateway's router and the action of each
// method routed on it. NAME is mux's {name:[-a-zA-Z_0-9.]+}; mux anchors
// every template, and Go's '.' does not match a newline.
type gatewayRoute struct {
	re      *regexp.Regexp
	actions map[string]iam.Action
}

var (
	invokeMethods = map[string]iam.Action{ // faas-provider proxy.go's switch
		"GET": iam.FunctionInvoke, "POST": iam.FunctionInvoke, "PUT": iam.FunctionInvoke, "PATCH": iam.FunctionInvoke,
		"DELETE": iam.FunctionInvoke, "OPTIONS": iam.FunctionInvoke, "HEAD": iam.FunctionInvoke,
	}
	gatewayRoutes = []gatewayRoute{
		{regexp.MustCompile(`^/function/([-a-zA-Z_0-9.]+)(/.*)?$`), invokeMethods},
		{regexp.MustCompile(`^/system/info$`), map[string]iam.Action{"GET": iam.SystemInfo}},
		{regexp.MustCompile(`^/system/telemetry$`), map[string]iam.Action{"GET": Unlisted}},
		{regexp.MustCompile(`^/system/alert$`), map[string]iam.Action{"POST": Unlisted}},
		{regexp.MustCompile(`^/system/function/([-a-zA-Z_0-9.]+)$`), map[string]iam.Action{"GET": iam.FunctionGet}},
		{regexp.MustCompile(`^/system/functions$`), map[string]iam.Action{
			"GET": iam.FunctionList, "POST": iam.FunctionCreate, "DELETE": iam.FunctionDelete, "PUT": iam.FunctionUpdate}},
		{regexp.MustCompile(`^/system/scale-function/([-a-zA-Z_0-9.]+)$`), map[string]iam.Action{"POST": iam.FunctionScale}},
		{regexp.MustCompile(`^/system/secrets$`), map[string]iam.Action{
			"GET": iam.SecretList, "PUT": iam.SecretUpdate, "POST": iam.SecretCreate, "DELETE": iam.SecretDelete}},
		{regexp.MustCompile(`^/system/logs$`), map[string]iam.Action{"GET": iam.FunctionLogs}},
		{regexp.MustCompile(`^/system/namespaces$`), map[string]iam.Action{"GET": iam.NamespaceList}},
		{regexp.MustCompile(`^/system/namespace/([-a-zA-Z_0-9.]*)$`), map[string]iam.Action{
			"POST": iam.NamespaceCreate, "DELETE": iam.NamespaceDelete, "PUT": iam.NamespaceUpdate, "GET": iam.NamespaceGet}},
		{regexp.MustCompile(`^/async-function/([-a-zA-Z_0-9.]+)(/.*)?$`), map[string]iam.Action{"POST": iam.FunctionInvoke}},
	}
)

var oracleName = regexp.MustCompile(`^[-a-zA-Z_0-9.]{1,253}$`)

// gatewayAction is what the gateway does with method and the escaped path:
// the action of the route it dispatches to and the path's {name}, or
// routed false (a 400 for a bad escape, a 301 to the cleaned path, a 404,
// a 405).
func gatewayAction(method, escaped string) (a iam.Action, name string, routed, isSystem bool) {
	p, err := url.PathUnescape(escaped)
	if err != nil || p == "" || p[0] != '/' {
		return "", "", false, false
	}
	isSystem = strings.HasPrefix(p, "/system/")
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return "", "", false, isSystem // mux redirects
	}
	for _, r := range gatewayRoutes {
		if m := r.re.FindStringSubmatch(p); m != nil {
			if a, ok := r.actions[method]; ok {
				if len(m) > 1 {
					name = m[1]
				}
				return a, name, true, isSystem
			}
		}
	}
	return "", "", false, isSystem
}

// reading is the namespace and name one provider acts on.
type reading struct {
	provider, ns, name string
}

func orDefault(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}

// providerReadings returns what faasd and faas-netes act on, leaving out a
// provider that would refuse the request before acting (a body
// encoding/json refuses).
func providerReadings(a iam.Action, method, pathName, upstreamQuery string, body []byte, def string) []reading {
	q, _ := url.ParseQuery(upstreamQuery) // r.URL.Query() ignores the error
	qns := orDefault(q.Get("namespace"), def)
	last := func(k string) string { // faas-provider logs getValue
		if v := q[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	var out []reading
	add := func(provider, ns, name string) { out = append(out, reading{provider, ns, name}) }
	switch a {
	case iam.FunctionInvoke:
		// gateway GetNamespace, faasd getNamespaceOrDefault + TrimSuffix,
		// faas-netes getNamespace + TrimSuffix.
		ns := def
		if strings.Contains(pathName, ".") {
			ns = pathName[strings.LastIndexAny(pathName, ".")+1:]
		}
		name := pathName
		if strings.Contains(pathName, ".") {
			name = strings.TrimSuffix(pathName, "."+ns)
		}
		add("faasd", ns, name)
		add("faas-netes", ns, name)
	case iam.FunctionList, iam.SecretList:
		add("faasd", qns, "")
		add("faas-netes", qns, "")
	case iam.FunctionGet:
		add("faasd", qns, pathName)
		add("faas-netes", qns, pathName)
	case iam.FunctionCreate, iam.FunctionUpdate:
		var req functionDeployment
		if json.Unmarshal(body, &req) == nil {
			add("faasd", orDefault(req.Namespace, def), req.Service)
			add("faas-netes", orDefault(req.Namespace, def), req.Service)
		}
	case iam.FunctionDelete:
		var req deleteFunctionRequest
		if json.Unmarshal(body, &req) == nil {
			add("faasd", orDefault(req.Namespace, def), req.FunctionName)
			add("faas-netes", qns, req.FunctionName)
		}
	case iam.FunctionScale:
		// The gateway decodes and re-encodes the body first.
		var req scaleServiceRequest
		if json.Unmarshal(body, &req) == nil {
			add("faasd", orDefault(req.Namespace, def), req.ServiceName)
			add("faas-netes", qns, pathName)
		}
	case iam.FunctionLogs:
		ns := orDefault(last("namespace"), def)
		add("faasd", ns, last("name"))
		if strings.ToLower(ns) == "kube-system" {
			ns = def
		}
		add("faas-netes", ns, last("name"))
	case iam.SecretCreate, iam.SecretUpdate, iam.SecretDelete:
		var s secret
		if json.Unmarshal(body, &s) != nil {
			break
		}
		if a == iam.SecretDelete {
			add("faasd", qns, s.Name)
		} else {
			add("faasd", orDefault(s.Namespace, def), s.Name)
		}
		// faas-netes NewNamespaceResolver, then json.NewDecoder(...).Decode.
		r := struct{ Namespace string }{Namespace: def}
		var s2 secret
		if json.Unmarshal(body, &r) == nil && json.NewDecoder(bytes.NewReader(body)).Decode(&s2) == nil {
			add("faas-netes", r.Namespace, s2.Name)
		}
	case iam.NamespaceGet:
		if pathName != "" {
			add("faasd", pathName, "")
		}
	case iam.NamespaceCreate, iam.NamespaceUpdate, iam.NamespaceDelete:
		// faasd parseNamespaceRequest; faas-netes CE has no mutations.
		var req functionNamespace
		if json.Unmarshal(body, &req) != nil || req.Name == "" {
			break
		}
		if a != iam.NamespaceCreate && (pathName == "" || req.Name != pathName) {
			break
		}
		add("faasd", req.Name, "")
	}
	return out
}

// checkOracle returns why c, the Call Map made of the request, is not what
// the gateway and the providers will act on, or "".
func checkOracle(method, escaped, rawQuery string, body []byte, def string, c Call) string {
	want, pathName, routed, isSystem := gatewayAction(method, escaped)
	switch {
	case !routed && !(isSystem && c.Action == Unlisted):
		return fmt.Sprintf("the gateway routes it nowhere, but Map gave %s", c.Action)
	case routed && c.Action != want:
		return fmt.Sprintf("the gateway routes it to %s, but Map gave %s", want, c.Action)
	}
	for _, s := range []string{c.Namespace, c.Name} {
		if s != "" && (!oracleName.MatchString(s) || s == "." || s == "..") {
			return fmt.Sprintf("name or namespace %q outside NameExpression", s)
		}
	}
	var resource string
	switch c.Action {
	case iam.SystemInfo, iam.NamespaceList, Unlisted:
		if c.Namespace != "" || c.Name != "" {
			return "a cluster-wide call names a namespace or object"
		}
		resource = "*"
	case iam.FunctionList, iam.SecretList, iam.NamespaceGet, iam.NamespaceCreate, iam.NamespaceUpdate, iam.NamespaceDelete:
		if c.Namespace == "" || c.Name != "" {
			return "a namespace call without its namespace, or with a name"
		}
		resource = c.Namespace + ":*"
	default:
		if c.Namespace == "" || c.Name == "" {
			return "an object call without namespace and name"
		}
		resource = c.Namespace + ":" + c.Name
	}
	if string(c.Resource) != resource {
		return fmt.Sprintf("resource %q, want %q", c.Resource, resource)
	}
	if c.FilterNamespaces != (c.Action == iam.NamespaceList) || c.Invoke != (c.Action == iam.FunctionInvoke) ||
		c.Async && !strings.HasPrefix(escaped, "/async-function/") {
		return "flags do not fit the action"
	}
	if !routed {
		return ""
	}
	for _, r := range providerReadings(c.Action, method, pathName, c.UpstreamQuery(rawQuery), body, def) {
		if r != (reading{r.provider, c.Namespace, c.Name}) {
			return fmt.Sprintf("%s acts on %s:%s, Map decided on %s", r.provider, r.ns, r.name, c.Resource)
		}
	}
	return ""
}
