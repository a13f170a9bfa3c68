package iam

import (
	"fmt"
	"strings"
)

// resourcePattern is a compiled statement resource: "*", or a namespace
// pattern and a name pattern, each a glob.
type resourcePattern struct {
	text    string
	all     bool   // "*": every resource, the cluster too
	names   string // the name pattern, as written
	ns      glob
	name    glob
	wholeNS bool // the name pattern matches every name: it also grants the namespace as a whole
}

// parseResourcePattern reads a statement's resource: "*", or
// <namespace>:<name> where each part is a non-empty glob of the
// characters of OpenFaaS names (letters, digits, '-', '_', '.') and '*'
// and '?'. staging:* is the staging namespace, staging:fn-* its functions
// named fn-..., *:* every namespace (but not the cluster, System:Info).
func parseResourcePattern(s string) (resourcePattern, error) {
	if s == "*" {
		return resourcePattern{text: s, all: true}, nil
	}
	ns, name, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return resourcePattern{}, fmt.Errorf("malformed resource %q: want *, <namespace>:* or <namespace>:<name>", s)
	case strings.Contains(name, ":"):
		return resourcePattern{}, fmt.Errorf("malformed resource %q: more than one ':'", s)
	case ns == "":
		return resourcePattern{}, fmt.Errorf("malformed resource %q: empty namespace", s)
	case name == "":
		return resourcePattern{}, fmt.Errorf("malformed resource %q: empty name (want %s:* for the whole namespace)", s, ns)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !isNameRune(r) && r != ':' && r != '*' && r != '?' }); i >= 0 {
		return resourcePattern{}, fmt.Errorf("malformed resource %q: character %q not allowed", s, s[i])
	}
	p := resourcePattern{text: s, names: name, ns: compileGlob(ns), name: compileGlob(name)}
	p.wholeNS = p.name.kind == globAny
	return p, nil
}

// isNameRune says whether r may be in an OpenFaaS namespace or function
// name (the gateway's NameExpression, "-a-zA-Z_0-9.").
func isNameRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// resourceRef is a Resource being decided on.
type resourceRef struct {
	cluster  bool   // ClusterResource
	ns, name string // name "*": the namespace as a whole
}

// splitResource reads a Resource: "*", "<ns>:*" or "<ns>:<name>", with
// no wildcard in ns or name and one ':'. Anything else is malformed and
// decided as denied.
func splitResource(r Resource) (resourceRef, bool) {
	if r == ClusterResource {
		return resourceRef{cluster: true}, true
	}
	ns, name, ok := strings.Cut(string(r), ":")
	if !ok || ns == "" || name == "" || strings.ContainsAny(ns, "*?:") || name != "*" && strings.ContainsAny(name, "*?:") {
		return resourceRef{}, false
	}
	return resourceRef{ns: ns, name: name}, true
}

// match says whether the pattern covers r. The namespace as a whole
// (ns:*) is covered only by a pattern matching every name in it, so
// staging:fn-* grants staging:fn-a but not a listing of staging.
func (p *resourcePattern) match(r resourceRef) bool {
	switch {
	case p.all:
		return true
	case r.cluster, !p.ns.match(r.ns):
		return false
	case r.name == "*":
		return p.wholeNS
	}
	return p.name.match(r.name)
}

// ResourceMatches says whether a statement resource pattern (as a
// function token's permissions carry them) covers r, by the rules of
// statements: anchored, '*' and '?' only. A malformed pattern or resource
// matches nothing.
func ResourceMatches(pattern string, r Resource) bool {
	p, err := parseResourcePattern(pattern)
	if err != nil {
		return false
	}
	ref, ok := splitResource(r)
	return ok && p.match(ref)
}
