package routes

import "strings"

// maxNameLen bounds names and namespaces: a Kubernetes DNS subdomain (a
// Secret's name) is at most 253 bytes, a namespace or a function at most 63,
// a containerd namespace (faasd) at most 76.
const maxNameLen = 253

// nameByte marks the bytes of the gateway's NameExpression "-a-zA-Z_0-9."
// (gateway/main.go, faas-provider serve.go), the only ones its routes
// accept in a function or namespace name.
var nameByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

// nameChars reports whether s is made of NameExpression bytes only.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nameByte[s[i]] {
			return false
		}
	}
	return true
}

// ValidName reports whether s may name a function, secret or namespace in
// a Call, or be default_namespace: 1 to 253 NameExpression bytes, and not
// "." or "..". Every name an OpenFaaS provider can create passes. What it keeps out matters: a ':'
// or '*' would let a name reach into the "<namespace>:<name>" resource's
// other half, and ".." in a namespace is a directory traversal in faasd's
// secret store (path.Join(secretMountPath, namespace)).
func ValidName(s string) bool {
	return len(s) > 0 && len(s) <= maxNameLen && s != "." && s != ".." && nameChars(s)
}

var (
	errMissingFunction = badRequest(ReasonMissingName, "no function name")
	errMissingSecret   = badRequest(ReasonMissingName, "no secret name")
	errMissingNS       = badRequest(ReasonMissingName, "no namespace name")
	errBadFunctionName = badRequest(ReasonBadName, "function name outside [-a-zA-Z_0-9.], \".\" or \"..\", or over 253 bytes")
	errBadSecretName   = badRequest(ReasonBadName, "secret name outside [-a-zA-Z_0-9.], \".\" or \"..\", or over 253 bytes")
	errBadNamespace    = badRequest(ReasonBadName, "namespace outside [-a-zA-Z_0-9.], \".\" or \"..\", or over 253 bytes")
	errInvokeSplit     = badRequest(ReasonBadName, "function name or namespace around the last '.' is empty or not a name")
)

// splitInvoke splits the name segment of /function/NAME.NS at the last
// dot, as every reader does: the gateway (pkg/middleware GetNamespace),
// faasd (invoke_resolver.go) and faas-netes (k8s/proxy.go) take the
// namespace after the last '.' and the function before it; without a dot
// the namespace is the default. seg has 1 or more NameExpression bytes
// and is not "." or ".." (match).
func splitInvoke(seg, defaultNamespace string) (name, namespace string, err *Error) {
	i := strings.LastIndexByte(seg, '.')
	if i < 0 {
		if !ValidName(seg) {
			return "", "", errBadFunctionName
		}
		return seg, defaultNamespace, nil
	}
	// "fn." and ".ns" name nothing any provider finds; nor do "." and "..".
	name, namespace = seg[:i], seg[i+1:]
	if !ValidName(name) || !ValidName(namespace) {
		return "", "", errInvokeSplit
	}
	return name, namespace, nil
}
