package routes

import (
	"net/http"
	"net/url"
	"strings"
)

// route is one row of the gateway's route table (faas gateway/main.go,
// 0.27.14) with its method.
type route uint8

const (
	routeUnlisted route = iota // a /system/ path the gateway has no IAM action for, or none at all
	routeListFunctions
	routeDeploy
	routeUpdate
	routeDelete
	routeGetFunction
	routeScale
	routeLogs
	routeListSecrets
	routeCreateSecret
	routeUpdateSecret
	routeDeleteSecret
	routeListNamespaces
	routeGetNamespace
	routeCreateNamespace
	routeUpdateNamespace
	routeDeleteNamespace
	routeInfo
	routeInvoke
	routeInvokeAsync
)

// readsBody reports whether Map reads the body for rt.
func (rt route) readsBody() bool {
	switch rt {
	case routeDeploy, routeUpdate, routeDelete, routeScale,
		routeCreateSecret, routeUpdateSecret, routeDeleteSecret,
		routeCreateNamespace, routeUpdateNamespace, routeDeleteNamespace:
		return true
	}
	return false
}

// The methods the gateway routes on each path, for 405's Allow header.
// /function/ has no .Methods() in the gateway; the provider's proxy
// (faas-provider proxy/proxy.go) answers 405 to any other method.
const (
	allowGet         = "GET"
	allowPost        = "POST"
	allowCollection  = "GET, POST, PUT, DELETE"
	allowInvoke      = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
	allowAsyncInvoke = "POST"
)

// match finds the gateway route for method and the escaped path, and the
// name the path carries (the whole "NAME.NS" segment for invocations).
//
// The gateway (gorilla/mux, default settings) routes on the decoded
// r.URL.Path and answers a path that path.Clean would change with a 301,
// acting on nothing. Names are only read where neither can make a
// difference: an API path, and the function name segment of an
// invocation, must have no percent-encoding at all, and the whole path,
// decoded, must be clean. rules.go already refuses more than that; this
// holds on its own.
func match(method, p string) (route, string, *Error) {
	if len(p) == 0 || p[0] != '/' {
		return 0, "", errNotAbsolute
	}
	seg0, rest, more := strings.Cut(p[1:], "/")
	switch seg0 {
	case "system":
		if !more {
			return 0, "", errNotAPI
		}
		if strings.IndexByte(p, '%') >= 0 {
			return 0, "", errEncodedAPIPath
		}
		if !isClean(p) {
			return 0, "", errUnclean
		}
		return matchSystem(method, rest)
	case "function", "async-function":
		nameSeg, tail, _ := strings.Cut(rest, "/")
		if nameSeg == "" {
			return 0, "", errMissingFunction
		}
		if strings.IndexByte(nameSeg, '%') >= 0 {
			return 0, "", errEncodedAPIPath
		}
		if !nameChars(nameSeg) {
			return 0, "", errBadFunctionName
		}
		if strings.IndexByte(tail, '%') >= 0 {
			// Only the function's own sub-path may be encoded; the
			// gateway cleans it decoded.
			d, err := url.PathUnescape(p)
			if err != nil {
				return 0, "", errBadEscape
			}
			p = d
		}
		if !isClean(p) {
			return 0, "", errUnclean
		}
		// mux's {params:.*} matches no newline: the gateway would route
		// such a path nowhere.
		if hasControl(p) {
			return 0, "", errControl
		}
		if seg0 == "async-function" {
			if method != http.MethodPost {
				return 0, "", methodNotAllowed(allowAsyncInvoke)
			}
			return routeInvokeAsync, nameSeg, nil
		}
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodHead:
			return routeInvoke, nameSeg, nil
		}
		return 0, "", methodNotAllowed(allowInvoke)
	}
	return 0, "", errNotAPI
}

// matchSystem matches the path after "/system/". Names are checked
// before methods, as mux does: a name its pattern refuses matches no
// route at all.
func matchSystem(method, rest string) (route, string, *Error) {
	first, name, named := strings.Cut(rest, "/")
	if !named {
		switch first {
		case "functions":
			return pick(method, allowCollection, routeListFunctions, routeDeploy, routeUpdate, routeDelete)
		case "secrets":
			return pick(method, allowCollection, routeListSecrets, routeCreateSecret, routeUpdateSecret, routeDeleteSecret)
		case "logs":
			return pickGet(method, routeLogs)
		case "namespaces":
			return pickGet(method, routeListNamespaces)
		case "info":
			return pickGet(method, routeInfo)
		}
		return routeUnlisted, "", nil
	}
	if strings.IndexByte(name, '/') >= 0 {
		return routeUnlisted, "", nil
	}
	switch first {
	case "function", "scale-function":
		// {name:[-a-zA-Z_0-9.]+}
		if name == "" {
			return 0, "", errMissingFunction
		}
		if !ValidName(name) {
			return 0, "", errBadFunctionName
		}
		if first == "function" {
			rt, _, err := pickGet(method, routeGetFunction)
			return rt, name, err
		}
		if method != http.MethodPost {
			return 0, "", methodNotAllowed(allowPost)
		}
		return routeScale, name, nil
	case "namespace":
		// {namespace:[-a-zA-Z_0-9.]*}: empty is a match (POST /system/namespace/).
		if name != "" && !ValidName(name) {
			return 0, "", errBadNamespace
		}
		rt, _, err := pick(method, allowCollection, routeGetNamespace, routeCreateNamespace, routeUpdateNamespace, routeDeleteNamespace)
		return rt, name, err
	}
	return routeUnlisted, "", nil
}

func pick(method, allow string, get, post, put, del route) (route, string, *Error) {
	switch method {
	case http.MethodGet:
		return get, "", nil
	case http.MethodPost:
		return post, "", nil
	case http.MethodPut:
		return put, "", nil
	case http.MethodDelete:
		return del, "", nil
	}
	return 0, "", methodNotAllowed(allow)
}

func pickGet(method string, get route) (route, string, *Error) {
	if method != http.MethodGet {
		return 0, "", methodNotAllowed(allowGet)
	}
	return get, "", nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// isClean reports whether path.Clean leaves the absolute path p as it is,
// but for a trailing slash, which mux keeps: no empty segment but the
// last, and no "." or ".." segment.
func isClean(p string) bool {
	for rest := p[1:]; ; {
		seg, next, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || seg == "" && more {
			return false
		}
		if !more {
			return true
		}
		rest = next
	}
}
