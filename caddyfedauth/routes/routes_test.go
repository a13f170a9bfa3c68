package routes

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

const defNS = "openfaas-fn"

// mapCase is one request and what Map must make of it: a Call, or an
// error with a status and reason.
type mapCase struct {
	name                string
	method, path, query string
	body                string
	want                Call
	status              int // non-zero: an error is expected
	reason              string
}

// obj builds the expected Call of a function or secret route.
func obj(a iam.Action, ns, name string) Call {
	if name == "" {
		return Call{Action: a, Resource: iam.NamespaceResource(ns), Namespace: ns}
	}
	return Call{Action: a, Resource: iam.ObjectResource(ns, name), Namespace: ns, Name: name}
}

// members is n members "<prefix>0":"v", … of a JSON object, without braces.
func members(n int, prefix string) string {
	m := make([]string, n)
	for i := range m {
		m[i] = `"` + prefix + strconv.Itoa(i) + `":"v"`
	}
	return strings.Join(m, ",")
}

func withBody(c Call) Call    { c.BodyRead = true; return c }
func withQueryNS(c Call) Call { c.BodyRead, c.QueryNamespace = true, true; return c }

func nsCall(a iam.Action, ns string, body bool) Call {
	return Call{Action: a, Resource: iam.NamespaceResource(ns), Namespace: ns, BodyRead: body}
}

func invoke(ns, name string, async bool) Call {
	return Call{Action: iam.FunctionInvoke, Resource: iam.ObjectResource(ns, name), Namespace: ns, Name: name, Invoke: true, Async: async}
}

var (
	unlisted       = Call{Action: Unlisted, Resource: iam.ClusterResource}
	info           = Call{Action: iam.SystemInfo, Resource: iam.ClusterResource}
	listNamespaces = Call{Action: iam.NamespaceList, Resource: iam.ClusterResource, FilterNamespaces: true}
)

// faasCLICases are the requests faas-cli 0.17.8 (its proxy package) and
// go-sdk v0.2.19 send for each command, byte for byte as they marshal
// them (field order of the faas-provider types, omitempty applied).
var faasCLICases = []mapCase{
	{name: "list", method: "GET", path: "/system/functions", want: obj(iam.FunctionList, defNS, "")},
	{name: "list -n staging", method: "GET", path: "/system/functions", query: "namespace=staging", want: obj(iam.FunctionList, "staging", "")},
	{name: "describe 1/2", method: "GET", path: "/system/function/fn", query: "namespace=staging&usage=1", want: obj(iam.FunctionGet, "staging", "fn")},
	{name: "describe 2/2", method: "GET", path: "/system/functions", query: "namespace=staging", want: obj(iam.FunctionList, "staging", "")},
	{name: "describe, no -n", method: "GET", path: "/system/function/fn", query: "usage=1", want: obj(iam.FunctionGet, defNS, "fn")},
	{name: "deploy (update first)", method: "PUT", path: "/system/functions",
		body: `{"service":"fn","image":"ghcr.io/openfaas/alpine:latest","envProcess":"env","namespace":"staging","labels":{"com.openfaas.scale.min":"1"},"annotations":{"a":"b"},"limits":{"memory":"128Mi"}}`,
		want: withBody(obj(iam.FunctionUpdate, "staging", "fn"))},
	{name: "deploy (create on 404)", method: "POST", path: "/system/functions",
		body: `{"service":"fn","image":"ghcr.io/openfaas/alpine:latest","namespace":"staging"}`, want: withBody(obj(iam.FunctionCreate, "staging", "fn"))},
	{name: "deploy, no -n", method: "POST", path: "/system/functions", body: `{"service":"fn","image":"img"}`, want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "remove", method: "DELETE", path: "/system/functions", body: `{"functionName":"fn","namespace":"staging"}`, want: withQueryNS(obj(iam.FunctionDelete, "staging", "fn"))},
	{name: "remove, no -n", method: "DELETE", path: "/system/functions", body: `{"functionName":"fn"}`, want: withQueryNS(obj(iam.FunctionDelete, defNS, "fn"))},
	{name: "logs", method: "GET", path: "/system/logs", query: "follow=false&name=fn&namespace=staging&tail=20", want: obj(iam.FunctionLogs, "staging", "fn")},
	{name: "logs --since", method: "GET", path: "/system/logs", query: "follow=true&name=fn&since=2026-01-02T15%3A04%3A05Z", want: obj(iam.FunctionLogs, defNS, "fn")},
	{name: "invoke (go-sdk always appends .NS)", method: "POST", path: "/function/fn.openfaas-fn", want: invoke(defNS, "fn", false)},
	{name: "invoke -n staging", method: "POST", path: "/function/fn.staging", want: invoke("staging", "fn", false)},
	{name: "invoke --async", method: "POST", path: "/async-function/fn.staging", want: invoke("staging", "fn", true)},
	{name: "invoke -m GET --query", method: "GET", path: "/function/fn.staging", query: "namespace=prod&a=1&a=2;x", want: invoke("staging", "fn", false)},
	{name: "secret list", method: "GET", path: "/system/secrets", query: "namespace=staging", want: obj(iam.SecretList, "staging", "")},
	{name: "secret create", method: "POST", path: "/system/secrets", body: `{"name":"s","namespace":"staging","value":"v"}`, want: withBody(obj(iam.SecretCreate, "staging", "s"))},
	{name: "secret create --from-file", method: "POST", path: "/system/secrets", body: `{"name":"s","namespace":"staging","rawValue":"AAEC"}`, want: withBody(obj(iam.SecretCreate, "staging", "s"))},
	{name: "secret update", method: "PUT", path: "/system/secrets", body: `{"name":"s","namespace":"staging","value":"v"}`, want: withBody(obj(iam.SecretUpdate, "staging", "s"))},
	{name: "secret remove", method: "DELETE", path: "/system/secrets", body: `{"name":"s","namespace":"staging"}`, want: withQueryNS(obj(iam.SecretDelete, "staging", "s"))},
	{name: "namespaces", method: "GET", path: "/system/namespaces", want: listNamespaces},
	{name: "namespace create", method: "POST", path: "/system/namespace/", body: `{"name":"staging","annotations":{"openfaas":"1"},"labels":{"openfaas":"1"}}`, want: nsCall(iam.NamespaceCreate, "staging", true)},
	{name: "namespace get", method: "GET", path: "/system/namespace/staging", want: nsCall(iam.NamespaceGet, "staging", false)},
	{name: "namespace update", method: "PUT", path: "/system/namespace/staging", body: `{"name":"staging","annotations":{"openfaas":"1"},"labels":{"openfaas":"1","team":"a"}}`, want: nsCall(iam.NamespaceUpdate, "staging", true)},
	{name: "namespace remove", method: "DELETE", path: "/system/namespace/staging", body: `{"name":"staging","labels":{"openfaas":"1"}}`, want: nsCall(iam.NamespaceDelete, "staging", true)},
	{name: "version", method: "GET", path: "/system/info", want: info},
	{name: "scale (proxy.ScaleFunction, no command)", method: "POST", path: "/system/scale-function/fn", body: `{"serviceName":"fn","replicas":2,"namespace":"staging"}`, want: withQueryNS(obj(iam.FunctionScale, "staging", "fn"))},
}

// attackCases try to make Map read a request differently from the gateway
// or a provider. Each names what it tries.
var attackCases = []mapCase{
	// Query: a repeated key is read first by r.URL.Query().Get (faasd,
	// faas-netes) and last by faas-provider's logs handler.
	{name: "repeated namespace", method: "GET", path: "/system/functions", query: "namespace=staging&namespace=prod", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated namespace, same value", method: "GET", path: "/system/functions", query: "namespace=staging&namespace=staging", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated namespace, one encoded key", method: "GET", path: "/system/functions", query: "n%61mespace=prod&namespace=staging", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated namespace, one empty", method: "GET", path: "/system/function/fn", query: "namespace=&namespace=staging", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated logs name", method: "GET", path: "/system/logs", query: "name=fn&name=other&namespace=staging", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated logs tail", method: "GET", path: "/system/logs", query: "name=fn&tail=1&tail=2", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "repeated usage", method: "GET", path: "/system/function/fn", query: "usage=1&usage=1", status: 400, reason: ReasonRepeatedQueryKey},
	{name: "encoded namespace value", method: "GET", path: "/system/functions", query: "namespace=st%61ging", want: obj(iam.FunctionList, "staging", "")},
	{name: "case-variant query key is another key", method: "GET", path: "/system/functions", query: "Namespace=prod", want: obj(iam.FunctionList, defNS, "")},
	{name: "empty namespace is the default", method: "GET", path: "/system/functions", query: "namespace=", want: obj(iam.FunctionList, defNS, "")},
	{name: "key without =", method: "GET", path: "/system/functions", query: "namespace", want: obj(iam.FunctionList, defNS, "")},
	{name: "empty pairs", method: "GET", path: "/system/functions", query: "&&namespace=staging&", want: obj(iam.FunctionList, "staging", "")},
	{name: "other keys repeat freely", method: "GET", path: "/system/functions", query: "x=1&x=2&namespace=staging", want: obj(iam.FunctionList, "staging", "")},
	{name: "semicolon: ParseQuery drops the pair", method: "GET", path: "/system/functions", query: "namespace=staging;namespace=prod", status: 400, reason: ReasonBadQuery},
	{name: "semicolon in another pair", method: "GET", path: "/system/functions", query: "a=1;b&namespace=staging", status: 400, reason: ReasonBadQuery},
	{name: "bad escape: ParseQuery drops the pair", method: "GET", path: "/system/functions", query: "namespace=%zz", status: 400, reason: ReasonBadQuery},
	{name: "bad escape in an unread pair", method: "GET", path: "/system/functions", query: "x=%2&namespace=staging", status: 400, reason: ReasonBadQuery},
	{name: "bad escape in a key", method: "GET", path: "/system/functions", query: "%zz=1&namespace=staging", status: 400, reason: ReasonBadQuery},
	{name: "10001 parameters: Go 1.26 ParseQuery returns none", method: "GET", path: "/system/functions", query: "namespace=staging" + strings.Repeat("&", 10000), status: 400, reason: ReasonBadQuery},
	{name: "101 parameters", method: "GET", path: "/system/functions", query: "namespace=staging" + strings.Repeat("&a=1", 100), status: 400, reason: ReasonBadQuery},
	{name: "100 parameters", method: "GET", path: "/system/functions", query: "namespace=staging" + strings.Repeat("&a=1", 99), want: obj(iam.FunctionList, "staging", "")},
	{name: "namespace reaching into the name", method: "GET", path: "/system/functions", query: "namespace=staging:fn", status: 400, reason: ReasonBadName},
	{name: "wildcard namespace", method: "GET", path: "/system/functions", query: "namespace=*", status: 400, reason: ReasonBadName},
	{name: "dot-dot namespace", method: "GET", path: "/system/secrets", query: "namespace=..", status: 400, reason: ReasonBadName},
	{name: "plus is a space", method: "GET", path: "/system/functions", query: "namespace=a+b", status: 400, reason: ReasonBadName},
	{name: "slash namespace", method: "GET", path: "/system/functions", query: "namespace=a%2Fb", status: 400, reason: ReasonBadName},
	{name: "254-byte namespace", method: "GET", path: "/system/functions", query: "namespace=" + strings.Repeat("a", 254), status: 400, reason: ReasonBadName},
	{name: "253-byte namespace", method: "GET", path: "/system/functions", query: "namespace=" + strings.Repeat("a", 253), want: obj(iam.FunctionList, strings.Repeat("a", 253), "")},

	// Body against query: faas-netes reads DELETE's and scale's namespace
	// from the query, faasd from the body (and DELETE secret's the other
	// way round).
	{name: "delete: query and body differ", method: "DELETE", path: "/system/functions", query: "namespace=prod", body: `{"functionName":"fn","namespace":"staging"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "delete: query names one, body the default", method: "DELETE", path: "/system/functions", query: "namespace=staging", body: `{"functionName":"fn"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "delete: query and body agree", method: "DELETE", path: "/system/functions", query: "namespace=staging", body: `{"functionName":"fn","namespace":"staging"}`, want: withBody(obj(iam.FunctionDelete, "staging", "fn"))},
	{name: "delete: empty query namespace and no body namespace", method: "DELETE", path: "/system/functions", query: "namespace=", body: `{"functionName":"fn"}`, want: withBody(obj(iam.FunctionDelete, defNS, "fn"))},
	{name: "delete: default named in both", method: "DELETE", path: "/system/functions", query: "namespace=openfaas-fn", body: `{"functionName":"fn","namespace":""}`, want: withBody(obj(iam.FunctionDelete, defNS, "fn"))},
	{name: "delete: no name", method: "DELETE", path: "/system/functions", body: `{"namespace":"staging"}`, status: 400, reason: ReasonMissingName},
	{name: "delete: no body", method: "DELETE", path: "/system/functions", status: 400, reason: ReasonBadBody},
	{name: "deploy: query disagrees though no provider reads it", method: "POST", path: "/system/functions", query: "namespace=prod", body: `{"service":"fn","namespace":"staging"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "deploy: query agrees", method: "POST", path: "/system/functions", query: "namespace=staging", body: `{"service":"fn","namespace":"staging"}`, want: withBody(obj(iam.FunctionCreate, "staging", "fn"))},
	{name: "scale: path and body name differ", method: "POST", path: "/system/scale-function/fn", body: `{"serviceName":"other","replicas":1,"namespace":"staging"}`, status: 400, reason: ReasonNameMismatch},
	{name: "scale: body without serviceName (faasd acts on \"\")", method: "POST", path: "/system/scale-function/fn", body: `{"replicas":1}`, status: 400, reason: ReasonNameMismatch},
	{name: "scale: query and body namespace differ", method: "POST", path: "/system/scale-function/fn", query: "namespace=prod", body: `{"serviceName":"fn","namespace":"staging"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "scale: query names one, body the default", method: "POST", path: "/system/scale-function/fn", query: "namespace=staging", body: `{"serviceName":"fn"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "scale: query and body agree", method: "POST", path: "/system/scale-function/fn", query: "namespace=staging", body: `{"serviceName":"fn","replicas":3,"namespace":"staging"}`, want: withBody(obj(iam.FunctionScale, "staging", "fn"))},
	{name: "secret delete: query and body differ", method: "DELETE", path: "/system/secrets", query: "namespace=prod", body: `{"name":"s","namespace":"staging"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "secret delete: query names one, body the default", method: "DELETE", path: "/system/secrets", query: "namespace=staging", body: `{"name":"s"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "secret delete: no name (faasd would remove the directory)", method: "DELETE", path: "/system/secrets", body: `{"name":"","namespace":"staging"}`, status: 400, reason: ReasonMissingName},
	{name: "secret create: traversal in the name", method: "POST", path: "/system/secrets", body: `{"name":"../../etc/x","namespace":"staging"}`, status: 400, reason: ReasonBadName},
	{name: "secret create: dot-dot name", method: "POST", path: "/system/secrets", body: `{"name":"..","namespace":"staging"}`, status: 400, reason: ReasonBadName},
	{name: "secret create: traversal in the namespace", method: "POST", path: "/system/secrets", body: `{"name":"s","namespace":".."}`, status: 400, reason: ReasonBadName},
	{name: "secret create: no name", method: "POST", path: "/system/secrets", body: `{"namespace":"staging","value":"v"}`, status: 400, reason: ReasonMissingName},

	// Body: encoding/json folds case (with Unicode: "ſ" is "s") and keeps
	// the last duplicate.
	{name: "duplicate namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":"staging","namespace":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "case-variant namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":"staging","NAMESPACE":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "case-variant name", method: "PUT", path: "/system/functions", body: `{"service":"fn","Service":"admin-fn"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "Unicode fold variant", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":"staging","name` + "\u017f" + `pace":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "Unicode fold variant alone is the namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","name` + "\u017f" + `pace":"prod"}`, want: withBody(obj(iam.FunctionCreate, "prod", "fn"))},
	{name: "escaped key is the namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","n\u0061mespace":"prod"}`, want: withBody(obj(iam.FunctionCreate, "prod", "fn"))},
	{name: "escaped duplicate key", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":"staging","n\u0061mespace":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "capitalised key alone is the field", method: "DELETE", path: "/system/functions", body: `{"FunctionName":"fn","Namespace":"staging"}`, want: withQueryNS(obj(iam.FunctionDelete, "staging", "fn"))},
	{name: "duplicate of an unread member", method: "POST", path: "/system/functions", body: `{"service":"fn","image":"a","Image":"b"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "json/v2 ignores '_' when folding", method: "POST", path: "/system/functions", body: `{"service":"fn","name_space":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "json/v2 ignores '-' when folding", method: "POST", path: "/system/scale-function/fn", body: `{"serviceName":"fn","service-name":"x"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "nested duplicate", method: "POST", path: "/system/functions", body: `{"service":"fn","labels":{"a":"1","a":"2"}}`, status: 400, reason: ReasonAmbiguousBody},
	// Past the first 16 names of an object the set changes form: a map
	// of folded names at the top, a sorted list of the body's bytes below.
	{name: "nested duplicate past 16 members", method: "POST", path: "/system/functions", body: `{"service":"fn","envVars":{` + members(40, "k") + `,"k39":"again"}}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "nested duplicate of one of the first 16, past 16", method: "POST", path: "/system/functions", body: `{"service":"fn","envVars":{` + members(40, "k") + `,"k3":"again"}}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "nested duplicate among many, both past 16", method: "POST", path: "/system/functions", body: `{"service":"fn","envVars":{` + members(20, "a") + `,"k":"1",` + members(20, "b") + `,"k":"2"}}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "100 nested members", method: "PUT", path: "/system/functions", body: `{"service":"fn","namespace":"staging","envVars":{` + members(100, "KEY_") + `}}`, want: withBody(obj(iam.FunctionUpdate, "staging", "fn"))},
	{name: "case-variant namespace past 16 members", method: "POST", path: "/system/functions", body: `{"service":"fn",` + members(20, "x") + `,"namespace":"staging",` + members(5, "y") + `,"NameSpace":"prod"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "case-variant of one of the first 16, past 16", method: "POST", path: "/system/functions", body: `{"service":"fn",` + members(20, "x") + `,"SERVICE":"admin"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "nested case-variants are distinct map keys", method: "POST", path: "/system/functions", body: `{"service":"fn","labels":{"a":"1","A":"2"}}`, want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "nested namespace member is not the namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","labels":{"namespace":"prod"}}`, want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "escaped value", method: "POST", path: "/system/functions", body: `{"service":"f\u006e","namespace":"st\u0061ging"}`, want: withBody(obj(iam.FunctionCreate, "staging", "fn"))},
	{name: "null namespace is the default", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":null}`, want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "null name is missing", method: "POST", path: "/system/functions", body: `{"service":null}`, status: 400, reason: ReasonMissingName},
	{name: "number namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":5}`, status: 400, reason: ReasonBadBody},
	{name: "array namespace", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":["staging"]}`, status: 400, reason: ReasonBadBody},
	{name: "object name", method: "POST", path: "/system/functions", body: `{"service":{"a":1}}`, status: 400, reason: ReasonBadBody},
	{name: "trailing object", method: "POST", path: "/system/functions", body: `{"service":"fn"}{"service":"admin"}`, status: 400, reason: ReasonBadBody},
	{name: "trailing garbage", method: "POST", path: "/system/functions", body: `{"service":"fn"}x`, status: 400, reason: ReasonBadBody},
	{name: "trailing whitespace", method: "POST", path: "/system/functions", body: "\r\n {\"service\":\"fn\"} \n\t", want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "array", method: "POST", path: "/system/functions", body: `[{"service":"fn"}]`, status: 400, reason: ReasonBadBody},
	{name: "null body", method: "POST", path: "/system/functions", body: `null`, status: 400, reason: ReasonBadBody},
	{name: "string body", method: "POST", path: "/system/functions", body: `"fn"`, status: 400, reason: ReasonBadBody},
	{name: "empty body", method: "POST", path: "/system/functions", status: 400, reason: ReasonBadBody},
	{name: "unterminated", method: "POST", path: "/system/functions", body: `{"service":"fn"`, status: 400, reason: ReasonBadBody},
	{name: "trailing comma", method: "POST", path: "/system/functions", body: `{"service":"fn",}`, status: 400, reason: ReasonBadBody},
	{name: "missing comma", method: "POST", path: "/system/functions", body: `{"service":"fn" "namespace":"prod"}`, status: 400, reason: ReasonBadBody},
	{name: "invalid nested value", method: "POST", path: "/system/functions", body: `{"service":"fn","labels":{"a":tru}}`, status: 400, reason: ReasonBadBody},
	{name: "invalid UTF-8 (encoding/json reads U+FFFD)", method: "POST", path: "/system/functions", body: "{\"service\":\"fn\",\"namespace\":\"staging\xff\"}", status: 400, reason: ReasonBadBody},
	{name: "invalid UTF-8 in an unread member", method: "POST", path: "/system/functions", body: "{\"service\":\"fn\",\"image\":\"\xc0\xaf\"}", status: 400, reason: ReasonBadBody},
	{name: "lone surrogate escape becomes U+FFFD", method: "POST", path: "/system/functions", body: `{"service":"fn","namespace":"staging\ud800"}`, status: 400, reason: ReasonBadName},
	{name: "BOM", method: "POST", path: "/system/functions", body: "\ufeff{\"service\":\"fn\"}", status: 400, reason: ReasonBadBody},
	{name: "deep nesting", method: "POST", path: "/system/functions", body: `{"service":"fn","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, status: 400, reason: ReasonBadBody},
	{name: "huge number is skipped, not converted", method: "POST", path: "/system/functions", body: `{"service":"fn","x":1e999}`, want: withBody(obj(iam.FunctionCreate, defNS, "fn"))},
	{name: "name with a colon", method: "POST", path: "/system/functions", body: `{"service":"fn:x"}`, status: 400, reason: ReasonBadName},
	{name: "name with a wildcard", method: "POST", path: "/system/functions", body: `{"service":"*"}`, status: 400, reason: ReasonBadName},
	{name: "name with a slash", method: "PUT", path: "/system/functions", body: `{"service":"a/b"}`, status: 400, reason: ReasonBadName},
	{name: "name with a NUL", method: "PUT", path: "/system/functions", body: `{"service":"fn\u0000"}`, status: 400, reason: ReasonBadName},
	{name: "empty name", method: "PUT", path: "/system/functions", body: `{"service":"","image":"x"}`, status: 400, reason: ReasonMissingName},

	// Namespace endpoints: path against body name (faasd).
	{name: "namespace create, path and body differ", method: "POST", path: "/system/namespace/staging", body: `{"name":"prod","labels":{"openfaas":"1"}}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "namespace create, path and body agree", method: "POST", path: "/system/namespace/staging", body: `{"name":"staging","labels":{"openfaas":"1"}}`, want: nsCall(iam.NamespaceCreate, "staging", true)},
	{name: "namespace create, no body name", method: "POST", path: "/system/namespace/", body: `{"labels":{"openfaas":"1"}}`, status: 400, reason: ReasonMissingName},
	{name: "namespace create, bad body name", method: "POST", path: "/system/namespace/", body: `{"name":"a:b"}`, status: 400, reason: ReasonBadName},
	{name: "namespace create, case-variant", method: "POST", path: "/system/namespace/", body: `{"name":"staging","Name":"kube-system"}`, status: 400, reason: ReasonAmbiguousBody},
	{name: "namespace update, path and body differ", method: "PUT", path: "/system/namespace/staging", body: `{"name":"prod"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "namespace update, no path name", method: "PUT", path: "/system/namespace/", body: `{"name":"staging"}`, status: 400, reason: ReasonMissingName},
	{name: "namespace delete, path and body differ", method: "DELETE", path: "/system/namespace/staging", body: `{"name":"prod"}`, status: 400, reason: ReasonNamespaceMismatch},
	{name: "namespace delete, no body", method: "DELETE", path: "/system/namespace/staging", status: 400, reason: ReasonBadBody},
	{name: "namespace get ignores the body", method: "GET", path: "/system/namespace/staging", body: `{"name":"prod"}`, want: nsCall(iam.NamespaceGet, "staging", false)},
	{name: "namespace get ignores the query", method: "GET", path: "/system/namespace/staging", query: "namespace=prod&namespace=x", want: nsCall(iam.NamespaceGet, "staging", false)},
	{name: "namespace get, no name", method: "GET", path: "/system/namespace/", status: 400, reason: ReasonMissingName},
	{name: "namespace get, bad name", method: "GET", path: "/system/namespace/a:b", status: 400, reason: ReasonBadName},
	{name: "namespace get, two segments", method: "GET", path: "/system/namespace/a/b", want: unlisted},
	{name: "namespace get, dotted name", method: "GET", path: "/system/namespace/a.b", want: nsCall(iam.NamespaceGet, "a.b", false)},

	// Paths: the gateway routes on the decoded path and redirects an
	// unclean one.
	{name: "encoded route segment", method: "GET", path: "/system/%66unctions", status: 400, reason: ReasonBadPath},
	{name: "encoded name", method: "GET", path: "/system/function/f%6e", status: 400, reason: ReasonBadPath},
	{name: "encoded slash in a name", method: "GET", path: "/system/function/a%2Fb", status: 400, reason: ReasonBadPath},
	{name: "dot-dot", method: "GET", path: "/system/functions/../secrets", status: 400, reason: ReasonBadPath},
	{name: "dot", method: "GET", path: "/system/./functions", status: 400, reason: ReasonBadPath},
	{name: "double slash", method: "GET", path: "/system//functions", status: 400, reason: ReasonBadPath},
	{name: "trailing dot", method: "GET", path: "/system/functions/.", status: 400, reason: ReasonBadPath},
	{name: "relative", method: "GET", path: "system/functions", status: 400, reason: ReasonBadPath},
	{name: "empty path", method: "GET", path: "", status: 400, reason: ReasonBadPath},
	{name: "trailing slash is another path", method: "GET", path: "/system/functions/", want: unlisted},
	{name: "function name with a dot is one name", method: "GET", path: "/system/function/fn.staging", want: obj(iam.FunctionGet, defNS, "fn.staging")},
	{name: "function get, two segments", method: "GET", path: "/system/function/a/b", want: unlisted},
	{name: "function get, no name", method: "GET", path: "/system/function/", status: 400, reason: ReasonMissingName},
	{name: "function get, bad name", method: "GET", path: "/system/function/fn~1", status: 400, reason: ReasonBadName},
	{name: "function get, 254-byte name", method: "GET", path: "/system/function/" + strings.Repeat("a", 254), status: 400, reason: ReasonBadName},
	{name: "function get, dot-dot", method: "GET", path: "/system/function/..", status: 400, reason: ReasonBadPath},
	{name: "scale, no name", method: "POST", path: "/system/scale-function/", body: `{"serviceName":""}`, status: 400, reason: ReasonMissingName},
	{name: "logs of kube-system (faas-netes reads the default's)", method: "GET", path: "/system/logs", query: "name=fn&namespace=Kube-System", status: 400, reason: ReasonNamespaceMismatch},
	{name: "logs, no name", method: "GET", path: "/system/logs", query: "namespace=staging", status: 400, reason: ReasonMissingName},
	{name: "logs, bad name", method: "GET", path: "/system/logs", query: "name=a%3Ab", status: 400, reason: ReasonBadName},

	// Unlisted: /system/ endpoints without an IAM action.
	{name: "telemetry", method: "GET", path: "/system/telemetry", want: unlisted},
	{name: "alert", method: "POST", path: "/system/alert", body: `{"receiver":"scale-up"}`, want: unlisted},
	{name: "alert, any method", method: "PATCH", path: "/system/alert", want: unlisted},
	{name: "new endpoint", method: "GET", path: "/system/async-report", want: unlisted},
	{name: "system root", method: "GET", path: "/system/", want: unlisted},
	{name: "plural namespace path of the REST docs", method: "PUT", path: "/system/namespaces/n1", want: unlisted},
	{name: "namespace without a slash", method: "POST", path: "/system/namespace", want: unlisted},

	// Outside the API.
	{name: "system without a slash", method: "GET", path: "/system", status: 403, reason: ReasonNotAPI},
	{name: "healthz", method: "GET", path: "/healthz", status: 403, reason: ReasonNotAPI},
	{name: "root", method: "GET", path: "/", status: 403, reason: ReasonNotAPI},
	{name: "ui", method: "GET", path: "/ui/", status: 403, reason: ReasonNotAPI},
	{name: "token endpoint", method: "POST", path: "/oauth/token", status: 403, reason: ReasonNotAPI},
	{name: "case-variant prefix", method: "GET", path: "/System/functions", status: 403, reason: ReasonNotAPI},

	// Methods the gateway does not route on a path it routes: 405.
	{name: "PATCH functions", method: "PATCH", path: "/system/functions", status: 405, reason: ReasonMethodNotAllowed},
	{name: "HEAD functions (mux does not map HEAD to GET)", method: "HEAD", path: "/system/functions", status: 405, reason: ReasonMethodNotAllowed},
	{name: "lower-case get", method: "get", path: "/system/functions", status: 405, reason: ReasonMethodNotAllowed},
	{name: "empty method", method: "", path: "/system/info", status: 405, reason: ReasonMethodNotAllowed},
	{name: "POST function get", method: "POST", path: "/system/function/fn", status: 405, reason: ReasonMethodNotAllowed},
	{name: "GET scale", method: "GET", path: "/system/scale-function/fn", status: 405, reason: ReasonMethodNotAllowed},
	{name: "DELETE logs", method: "DELETE", path: "/system/logs", status: 405, reason: ReasonMethodNotAllowed},
	{name: "PATCH secrets", method: "PATCH", path: "/system/secrets", status: 405, reason: ReasonMethodNotAllowed},
	{name: "POST namespaces", method: "POST", path: "/system/namespaces", status: 405, reason: ReasonMethodNotAllowed},
	{name: "PATCH namespace", method: "PATCH", path: "/system/namespace/staging", status: 405, reason: ReasonMethodNotAllowed},
	{name: "PUT info", method: "PUT", path: "/system/info", status: 405, reason: ReasonMethodNotAllowed},
	{name: "GET async", method: "GET", path: "/async-function/fn", status: 405, reason: ReasonMethodNotAllowed},
	{name: "PROPFIND function (the provider's proxy refuses it)", method: "PROPFIND", path: "/function/fn", status: 405, reason: ReasonMethodNotAllowed},
	{name: "TRACE function", method: "TRACE", path: "/function/fn", status: 405, reason: ReasonMethodNotAllowed},

	// Invocations: the namespace is after the last dot.
	{name: "no namespace", method: "POST", path: "/function/fn", want: invoke(defNS, "fn", false)},
	{name: "dotted function name", method: "GET", path: "/function/fn.v2.staging/sub/path", want: invoke("staging", "fn.v2", false)},
	{name: "trailing slash", method: "POST", path: "/function/fn.staging/", want: invoke("staging", "fn", false)},
	{name: "every provider method", method: "OPTIONS", path: "/function/fn.staging", want: invoke("staging", "fn", false)},
	{name: "HEAD", method: "HEAD", path: "/function/fn", want: invoke(defNS, "fn", false)},
	{name: "PATCH", method: "PATCH", path: "/function/fn", want: invoke(defNS, "fn", false)},
	{name: "query and body are the function's", method: "POST", path: "/function/fn.staging", query: "namespace=prod;x=%zz", body: `{"namespace":"prod","namespace":"x"}`, want: invoke("staging", "fn", false)},
	{name: "async with a sub-path", method: "POST", path: "/async-function/fn.staging/cb", want: invoke("staging", "fn", true)},
	{name: "encoded data in the sub-path", method: "POST", path: "/function/fn/a%20b/%7Ex", want: invoke(defNS, "fn", false)},
	{name: "empty namespace after the dot", method: "POST", path: "/function/fn.", status: 400, reason: ReasonBadName},
	{name: "empty name before the dot", method: "POST", path: "/function/.staging", status: 400, reason: ReasonBadName},
	{name: "dot name", method: "POST", path: "/function/..staging", status: 400, reason: ReasonBadName},
	{name: "three dots", method: "POST", path: "/function/...", status: 400, reason: ReasonBadName},
	{name: "no name", method: "POST", path: "/function/", status: 400, reason: ReasonMissingName},
	{name: "no name, no slash", method: "POST", path: "/function", status: 400, reason: ReasonMissingName},
	{name: "no name, sub-path", method: "POST", path: "/function//x", status: 400, reason: ReasonMissingName},
	{name: "async, no name", method: "POST", path: "/async-function/", status: 400, reason: ReasonMissingName},
	{name: "encoded dot in the name", method: "POST", path: "/function/fn%2Estaging", status: 400, reason: ReasonBadPath},
	{name: "encoded name", method: "POST", path: "/function/%66n", status: 400, reason: ReasonBadPath},
	{name: "name outside NameExpression", method: "POST", path: "/function/fn~x", status: 400, reason: ReasonBadName},
	{name: "colon in the name", method: "POST", path: "/function/fn:x.staging", status: 400, reason: ReasonBadName},
	{name: "dot segment in the sub-path", method: "POST", path: "/function/fn/../../system/secrets", status: 400, reason: ReasonBadPath},
	{name: "encoded dot segment in the sub-path (the gateway redirects)", method: "POST", path: "/function/fn/%2e%2e/%2E%2E/system/secrets", status: 400, reason: ReasonBadPath},
	{name: "encoded slash and dots", method: "POST", path: "/function/fn/a%2F..%2F..", status: 400, reason: ReasonBadPath},
	{name: "bad escape in the sub-path", method: "POST", path: "/function/fn/%zz", status: 400, reason: ReasonBadPath},
	{name: "encoded newline in the sub-path (mux's .* stops at it)", method: "POST", path: "/function/fn/a%0Ab", status: 400, reason: ReasonBadPath},
	{name: "raw control byte in the sub-path", method: "POST", path: "/function/fn/a\x7f", status: 400, reason: ReasonBadPath},
	{name: "empty segment in the sub-path", method: "POST", path: "/function/fn/a//b", status: 400, reason: ReasonBadPath},
	{name: "254-byte function name", method: "POST", path: "/function/" + strings.Repeat("a", 254), status: 400, reason: ReasonBadName},
	{name: "254-byte namespace", method: "POST", path: "/function/fn." + strings.Repeat("a", 254), status: 400, reason: ReasonBadName},
}

func TestMap(t *testing.T) {
	for _, group := range []struct {
		name  string
		cases []mapCase
	}{{"faas-cli", faasCLICases}, {"attack", attackCases}} {
		for _, tc := range group.cases {
			t.Run(group.name+"/"+tc.name, func(t *testing.T) {
				checkMap(t, tc)
			})
		}
	}
}

func checkMap(t *testing.T, tc mapCase) {
	t.Helper()
	var body []byte
	if tc.body != "" {
		body = []byte(tc.body)
	}
	got, err := Map(tc.method, tc.path, tc.query, body, defNS)
	if tc.status != 0 {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Map = %+v, %v; want an *Error %d %s", got, err, tc.status, tc.reason)
		}
		if e.Status != tc.status || e.Reason != tc.reason {
			t.Fatalf("Map error = %d %s (%v); want %d %s", e.Status, e.Reason, e, tc.status, tc.reason)
		}
		if got != (Call{}) {
			t.Fatalf("Map returned %+v with the error", got)
		}
		if e.Status == http.StatusMethodNotAllowed && e.Allow == "" {
			t.Fatalf("405 without Allow")
		}
		return
	}
	if err != nil {
		t.Fatalf("Map error %v; want %+v", err, tc.want)
	}
	if got != tc.want {
		t.Fatalf("Map =\n %+v\nwant\n %+v", got, tc.want)
	}
	// The handler reads the body exactly when Map does.
	if NeedsBody(tc.method, tc.path) != got.BodyRead {
		t.Fatalf("NeedsBody = %t, but BodyRead = %t", !got.BodyRead, got.BodyRead)
	}
}

// Every row of the gateway's route table, with every method the gateway
// routes on it, has one action; the rest of the methods get 405.
func TestMapEveryRoute(t *testing.T) {
	bodies := map[string]string{
		"/system/functions":         `{"service":"fn","functionName":"fn"}`,
		"/system/scale-function/fn": `{"serviceName":"fn"}`,
		"/system/secrets":           `{"name":"s"}`,
		"/system/namespace/ns":      `{"name":"ns"}`,
	}
	rows := []struct {
		path    string
		query   string
		actions map[string]iam.Action
	}{
		{"/system/functions", "", map[string]iam.Action{"GET": iam.FunctionList, "POST": iam.FunctionCreate, "PUT": iam.FunctionUpdate, "DELETE": iam.FunctionDelete}},
		{"/system/function/fn", "", map[string]iam.Action{"GET": iam.FunctionGet}},
		{"/system/scale-function/fn", "", map[string]iam.Action{"POST": iam.FunctionScale}},
		{"/system/logs", "name=fn", map[string]iam.Action{"GET": iam.FunctionLogs}},
		{"/system/secrets", "", map[string]iam.Action{"GET": iam.SecretList, "POST": iam.SecretCreate, "PUT": iam.SecretUpdate, "DELETE": iam.SecretDelete}},
		{"/system/namespaces", "", map[string]iam.Action{"GET": iam.NamespaceList}},
		{"/system/namespace/ns", "", map[string]iam.Action{"GET": iam.NamespaceGet, "POST": iam.NamespaceCreate, "PUT": iam.NamespaceUpdate, "DELETE": iam.NamespaceDelete}},
		{"/system/info", "", map[string]iam.Action{"GET": iam.SystemInfo}},
		{"/function/fn", "", map[string]iam.Action{"GET": iam.FunctionInvoke, "POST": iam.FunctionInvoke, "PUT": iam.FunctionInvoke, "PATCH": iam.FunctionInvoke, "DELETE": iam.FunctionInvoke, "OPTIONS": iam.FunctionInvoke, "HEAD": iam.FunctionInvoke}},
		{"/async-function/fn", "", map[string]iam.Action{"POST": iam.FunctionInvoke}},
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"}
	for _, row := range rows {
		for _, m := range methods {
			c, err := Map(m, row.path, row.query, []byte(bodies[row.path]), defNS)
			want, routed := row.actions[m]
			var e *Error
			switch {
			case routed && (err != nil || c.Action != want):
				t.Errorf("%s %s = %+v, %v; want %s", m, row.path, c, err, want)
			case !routed && (!errors.As(err, &e) || e.Status != http.StatusMethodNotAllowed):
				t.Errorf("%s %s = %+v, %v; want 405", m, row.path, c, err)
			}
		}
	}
}

func TestMapBadDefaultNamespace(t *testing.T) {
	for _, def := range []string{"", "a:b", "..", "*"} {
		_, err := Map("GET", "/system/functions", "namespace=staging", nil, def)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusInternalServerError || e.Reason != ReasonBadDefault {
			t.Errorf("default %q: %v; want 500 %s", def, err, ReasonBadDefault)
		}
	}
}

func TestUpstreamQuery(t *testing.T) {
	for _, tc := range []struct {
		method, path, query, body string
		want                      string
	}{
		{"DELETE", "/system/functions", "", `{"functionName":"fn","namespace":"staging"}`, "namespace=staging"},
		{"DELETE", "/system/functions", "", `{"functionName":"fn"}`, "namespace=openfaas-fn"},
		{"DELETE", "/system/functions", "x=1", `{"functionName":"fn","namespace":"staging"}`, "x=1&namespace=staging"},
		{"DELETE", "/system/functions", "namespace=staging", `{"functionName":"fn","namespace":"staging"}`, "namespace=staging"},
		{"POST", "/system/scale-function/fn", "", `{"serviceName":"fn","namespace":"staging"}`, "namespace=staging"},
		{"DELETE", "/system/secrets", "", `{"name":"s","namespace":"staging"}`, "namespace=staging"},
		{"POST", "/system/secrets", "", `{"name":"s","namespace":"staging"}`, ""},
		{"PUT", "/system/functions", "", `{"service":"fn","namespace":"staging"}`, ""},
		{"GET", "/system/functions", "namespace=staging", "", "namespace=staging"},
	} {
		c, err := Map(tc.method, tc.path, tc.query, []byte(tc.body), defNS)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if got := c.UpstreamQuery(tc.query); got != tc.want {
			t.Errorf("%s %s?%s: upstream query %q; want %q", tc.method, tc.path, tc.query, got, tc.want)
		}
	}
}

func TestNeedsBody(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/system/functions", true},
		{"PUT", "/system/functions", true},
		{"DELETE", "/system/functions", true},
		{"GET", "/system/functions", false},
		{"POST", "/system/scale-function/fn", true},
		{"POST", "/system/secrets", true},
		{"PUT", "/system/secrets", true},
		{"DELETE", "/system/secrets", true},
		{"GET", "/system/secrets", false},
		{"POST", "/system/namespace/", true},
		{"PUT", "/system/namespace/ns", true},
		{"DELETE", "/system/namespace/ns", true},
		{"GET", "/system/namespace/ns", false},
		{"POST", "/function/fn", false},
		{"POST", "/async-function/fn", false},
		{"POST", "/system/alert", false},
		{"PATCH", "/system/functions", false},
		{"POST", "/system/functions/", false},
		{"POST", "/system/%66unctions", false},
	} {
		if got := NeedsBody(tc.method, tc.path); got != tc.want {
			t.Errorf("NeedsBody(%s %s) = %t; want %t", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"openfaas-fn": true, "a.b": true, "A_1": true, "...": true, strings.Repeat("a", 253): true,
		"": false, ".": false, "..": false, "a:b": false, "a*": false, "a b": false, "é": false, strings.Repeat("a", 254): false,
	} {
		if got := ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %t; want %t", s, got, want)
		}
	}
}

// foldName is encoding/json's matching rule, which must be EqualFold's.
func TestFoldName(t *testing.T) {
	pairs := [][2]string{
		{"namespace", "NAMESPACE"}, {"namespace", "name\u017fpace"}, {"k", "\u212a"},
		{"service", "SERVICE"}, {"ß", "ẞ"}, {"σ", "ς"}, {"namespace", "name_space"}, {"a", "b"},
	}
	for _, p := range pairs {
		if got, want := foldName(p[0]) == foldName(p[1]), strings.EqualFold(p[0], p[1]); got != want {
			t.Errorf("foldName(%q) == foldName(%q) is %t; EqualFold says %t", p[0], p[1], got, want)
		}
	}
}

func TestErrorsCarryNoRequestData(t *testing.T) {
	secret := "s3cr3t-value"
	for _, tc := range []mapCase{
		{method: "POST", path: "/system/functions", body: `{"service":"` + secret + `:x"}`},
		{method: "GET", path: "/system/functions", query: "namespace=" + secret + "&namespace=" + secret},
		{method: "POST", path: "/system/secrets", body: `{"name":"s","namespace":"a","value":"` + secret + `","name":"x"}`},
		{method: "POST", path: "/function/" + secret + "~"},
	} {
		_, err := Map(tc.method, tc.path, tc.query, []byte(tc.body), defNS)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("%s %s: error %v", tc.method, tc.path, err)
		}
	}
}
