package caddyfedauth

import (
	"bufio"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// classifyCase is one path and the verdict without and with allowInvoke.
// For ambiguous paths, reason is the expected reason in both modes.
type classifyCase struct {
	name       string
	path       string
	want       pathVerdict
	wantInvoke pathVerdict
	reason     string
}

// ambiguousCase builds a case: ambiguity never depends on allowInvoke.
func ambiguousCase(name, p, reason string) classifyCase {
	return classifyCase{name: name, path: p, want: pathAmbiguous, wantInvoke: pathAmbiguous, reason: reason}
}

// Each row names the route or the attack class it covers. References:
//
//   - Envoy CVE-2019-9901: "/info/../private" was matched unnormalized and
//     normalized by the backend (envoyproxy/envoy#6435).
//   - Envoy CVE-2021-29492 and Istio CVE-2021-31920: %2F and %5C (and "//")
//     in the path bypassed path-based authorization policies.
//   - Traefik CVE-2025-66490 (GHSA-gm3x-23wp-hc2c, traefik/traefik#12360):
//     encoded '/', '\', NUL, ';', '?', '#' bypassed path matchers; and
//     traefik/traefik#11746: "%2e%2e" after the "/../" fix.
//   - oauth2-proxy GHSA-7rh7-c77v-6434: skip_auth_routes regexps were
//     matched against path and query, so a query could satisfy them.
//   - Caddy v2.4.6 (caddyserver/caddy#4407): path matchers, and so
//     basicauth, were bypassed with doubled slashes or encoded characters.
var classifyCases = []classifyCase{
	// gateway API routes (gateway/main.go), allowed in both modes
	{name: "system list functions", path: "/system/functions", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system info", path: "/system/info", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system function status", path: "/system/function/figlet", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system scale function", path: "/system/scale-function/figlet", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system secrets", path: "/system/secrets", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system logs", path: "/system/logs", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system namespaces", path: "/system/namespaces", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system namespace mutator", path: "/system/namespace/", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system alert", path: "/system/alert", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system shortest", path: "/system/x", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system trailing slash", path: "/system/info/", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system dotted name is no dot segment", path: "/system/function/fn.openfaas-fn", want: pathAllowed, wantInvoke: pathAllowed},
	{name: "system three dots is a name", path: "/system/...", want: pathAllowed, wantInvoke: pathAllowed},

	// invocation routes, allowed only with allowInvoke
	{name: "invoke function", path: "/function/figlet", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function trailing slash", path: "/function/figlet/", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function sub-path", path: "/function/figlet/a/b/c", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function sub-path trailing slash", path: "/function/figlet/a/", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function namespaced", path: "/function/figlet.openfaas-fn", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function encoded space in sub-path", path: "/function/figlet/a%20b", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function encoded ordinary chars in sub-path", path: "/function/figlet/%41%7e%5B0%5D%22", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function sub-delims in sub-path", path: "/function/figlet/a:b@c!$&'()*+,=", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke function three dots in sub-path", path: "/function/figlet/...", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke async function", path: "/async-function/figlet", want: pathDenied, wantInvoke: pathAllowed},
	{name: "invoke async function sub-path", path: "/async-function/figlet/cb/%20", want: pathDenied, wantInvoke: pathAllowed},

	// everything else is denied
	{name: "root redirects to ui", path: "/", want: pathDenied, wantInvoke: pathDenied},
	{name: "ui", path: "/ui/", want: pathDenied, wantInvoke: pathDenied},
	{name: "ui file", path: "/ui/index.html", want: pathDenied, wantInvoke: pathDenied},
	{name: "metrics", path: "/metrics", want: pathDenied, wantInvoke: pathDenied},
	{name: "healthz", path: "/healthz", want: pathDenied, wantInvoke: pathDenied},
	{name: "system without api", path: "/system", want: pathDenied, wantInvoke: pathDenied},
	{name: "system slash without api", path: "/system/", want: pathDenied, wantInvoke: pathDenied},
	{name: "system prefix without separator", path: "/systemx/", want: pathDenied, wantInvoke: pathDenied},
	{name: "system prefix without separator and api", path: "/systemx/info", want: pathDenied, wantInvoke: pathDenied},
	{name: "system dash suffix", path: "/system-info", want: pathDenied, wantInvoke: pathDenied},
	{name: "case: router is case-sensitive", path: "/System/functions", want: pathDenied, wantInvoke: pathDenied},
	{name: "case: upper", path: "/SYSTEM/info", want: pathDenied, wantInvoke: pathDenied},
	{name: "case: function", path: "/Function/figlet", want: pathDenied, wantInvoke: pathDenied},
	{name: "function without name", path: "/function/", want: pathDenied, wantInvoke: pathDenied},
	{name: "function without slash", path: "/function", want: pathDenied, wantInvoke: pathDenied},
	{name: "functions plural", path: "/functions/figlet", want: pathDenied, wantInvoke: pathDenied},
	{name: "async function without name", path: "/async-function/", want: pathDenied, wantInvoke: pathDenied},
	{name: "function prefix without separator", path: "/functionx/figlet", want: pathDenied, wantInvoke: pathDenied},

	// not absolute: asterisk-form, absolute-form, empty
	ambiguousCase("not absolute: empty", "", pathReasonNotAbsolute),
	ambiguousCase("not absolute: asterisk form", "*", pathReasonNotAbsolute),
	ambiguousCase("not absolute: relative", "system/info", pathReasonNotAbsolute),
	ambiguousCase("not absolute: absolute form", "http://gw/system/info", pathReasonNotAbsolute),
	ambiguousCase("not absolute: encoded leading slash", "%2Fsystem/info", pathReasonNotAbsolute),
	ambiguousCase("not absolute: leading space", " /system/info", pathReasonNotAbsolute),

	// dot segments, Envoy CVE-2019-9901, Traefik CVE-2025-32431: the
	// gateway's mux would clean them (301) and other hops resolve them
	ambiguousCase("dot segment: system to ui", "/system/../ui/", pathReasonDotSegment),
	ambiguousCase("dot segment: function to system", "/function/../system/x", pathReasonDotSegment),
	ambiguousCase("dot segment: function sub-path to ui", "/function/fn/../../ui/", pathReasonDotSegment),
	ambiguousCase("dot segment: single dot", "/system/./info", pathReasonDotSegment),
	ambiguousCase("dot segment: trailing dotdot", "/system/info/..", pathReasonDotSegment),
	ambiguousCase("dot segment: trailing dot", "/system/info/.", pathReasonDotSegment),
	ambiguousCase("dot segment: trailing dotdot slash", "/system/info/../", pathReasonDotSegment),
	ambiguousCase("dot segment: root dotdot", "/..", pathReasonDotSegment),
	ambiguousCase("dot segment: root dot", "/./system/info", pathReasonDotSegment),
	ambiguousCase("dot segment: deep in function sub-path", "/function/fn/a/..", pathReasonDotSegment),
	ambiguousCase("dot segment: system dotdot", "/system/..", pathReasonDotSegment),

	// empty segments, Istio CVE-2021-31920, Caddy v2.4.6 (#4407)
	ambiguousCase("empty segment: leading double slash", "//system/info", pathReasonEmptySegment),
	ambiguousCase("empty segment: inner double slash", "/system//info", pathReasonEmptySegment),
	ambiguousCase("empty segment: double trailing slash", "/system/info//", pathReasonEmptySegment),
	ambiguousCase("empty segment: function sub-path", "/function/fn//x", pathReasonEmptySegment),
	ambiguousCase("empty segment: only slashes", "//", pathReasonEmptySegment),
	ambiguousCase("empty segment: many slashes", "///ui", pathReasonEmptySegment),

	// backslash, Traefik CVE-2025-66490, Istio CVE-2021-31920 (%5C)
	ambiguousCase("backslash: raw traversal", `/system\..\ui`, pathReasonBackslash),
	ambiguousCase("backslash: raw trailing", `/system/info\`, pathReasonBackslash),
	ambiguousCase("backslash: raw in function sub-path", `/function/fn/a\b`, pathReasonBackslash),
	ambiguousCase("backslash: encoded lower", "/system%5cinfo", pathReasonBackslash),
	ambiguousCase("backslash: encoded upper traversal", "/system/%5C..%5Cui", pathReasonBackslash),
	ambiguousCase("backslash: encoded in function sub-path", "/function/fn/a%5cb", pathReasonBackslash),

	// path parameters, Tomcat/Envoy "..;/", Traefik CVE-2025-66490 (';')
	ambiguousCase("path param: dotdot semicolon", "/system/..;/ui/", pathReasonPathParam),
	ambiguousCase("path param: after prefix", "/system;/info", pathReasonPathParam),
	ambiguousCase("path param: key value", "/system/info;x=1", pathReasonPathParam),
	ambiguousCase("path param: function name", "/function/fn;v=1", pathReasonPathParam),
	ambiguousCase("path param: encoded lower", "/system/%3b/info", pathReasonPathParam),
	ambiguousCase("path param: encoded upper in sub-path", "/function/fn/a%3Bb", pathReasonPathParam),

	// encoded slash, Envoy CVE-2021-29492, Istio CVE-2021-31920,
	// Traefik CVE-2025-66490: the gateway routes on the decoded path
	ambiguousCase("encoded slash: upper", "/system%2Finfo", pathReasonEncodedSlash),
	ambiguousCase("encoded slash: lower", "/system%2finfo", pathReasonEncodedSlash),
	ambiguousCase("encoded slash: ui to system", "/ui%2F..%2Fsystem/info", pathReasonEncodedSlash),
	ambiguousCase("encoded slash: function traversal", "/function/fn/..%2F..%2Fui", pathReasonEncodedSlash),
	ambiguousCase("encoded slash: function sub-path", "/function/fn/a%2Fb", pathReasonEncodedSlash),

	// encoded dot, traefik/traefik#11746 (%2e%2e after the "/../" fix)
	ambiguousCase("encoded dot: dotdot lower", "/system/%2e%2e/ui/", pathReasonEncodedDot),
	ambiguousCase("encoded dot: dotdot upper", "/system/%2E%2E/ui/", pathReasonEncodedDot),
	ambiguousCase("encoded dot: mixed with raw", "/system/.%2e/ui/", pathReasonEncodedDot),
	ambiguousCase("encoded dot: single", "/system/%2E/info", pathReasonEncodedDot),
	ambiguousCase("encoded dot: function sub-path traversal", "/function/fn/%2e%2e/%2e%2e/ui/", pathReasonEncodedDot),
	ambiguousCase("encoded dot: inside a name", "/function/fn/a%2Eb", pathReasonEncodedDot),

	// double encoding: a second decoder turns %252F into '/'
	ambiguousCase("encoded percent: double encoded slash", "/system%252Finfo", pathReasonEncodedPercent),
	ambiguousCase("encoded percent: double encoded dots", "/function/fn/%252e%252e/", pathReasonEncodedPercent),
	ambiguousCase("encoded percent: lone", "/function/fn/%25", pathReasonEncodedPercent),

	// encoded '#', '?': Traefik CVE-2025-66490, Envoy CVE-2021-32779
	ambiguousCase("encoded delim: fragment", "/system/info%23x", pathReasonEncodedDelim),
	ambiguousCase("encoded delim: query", "/system/info%3Fx=/../ui", pathReasonEncodedDelim),
	ambiguousCase("encoded delim: query lower in sub-path", "/function/fn/a%3fb", pathReasonEncodedDelim),

	// malformed escapes: decoders disagree on them
	ambiguousCase("bad escape: lone percent", "/system/%", pathReasonBadEscape),
	ambiguousCase("bad escape: non-hex", "/system/%G0", pathReasonBadEscape),
	ambiguousCase("bad escape: truncated", "/system/%2", pathReasonBadEscape),
	ambiguousCase("bad escape: double percent", "/function/fn/%%32F", pathReasonBadEscape),
	ambiguousCase("bad escape: sign", "/function/fn/%+1", pathReasonBadEscape),
	ambiguousCase("bad escape: truncated in sub-path", "/function/fn/a%e", pathReasonBadEscape),
	ambiguousCase("bad escape: unicode escape", "/system/%u002e", pathReasonBadEscape),

	// control characters, raw (Envoy CVE-2019-9900, NUL) and encoded
	ambiguousCase("control char: raw nul", "/system/info\x00", pathReasonControlChar),
	ambiguousCase("control char: raw newline", "/system/\ninfo", pathReasonControlChar),
	ambiguousCase("control char: raw tab", "/system/\tinfo", pathReasonControlChar),
	ambiguousCase("control char: raw del", "/system/info\x7f", pathReasonControlChar),
	ambiguousCase("control char: encoded nul", "/system/%00", pathReasonControlChar),
	ambiguousCase("control char: encoded newline", "/function/fn/%0a", pathReasonControlChar),
	ambiguousCase("control char: encoded crlf", "/function/fn/%0D%0A", pathReasonControlChar),
	ambiguousCase("control char: encoded del", "/function/fn/%7F", pathReasonControlChar),
	ambiguousCase("control char: encoded unit separator", "/function/fn/%1f", pathReasonControlChar),

	// non-ASCII: overlong UTF-8 ("%C0%AF" is '/' and "%C0%AE" is '.' to
	// lenient decoders), bidi controls, raw bytes
	ambiguousCase("non-ascii: overlong slash", "/function/fn/%C0%AF..%C0%AFui", pathReasonNonASCII),
	ambiguousCase("non-ascii: overlong dots", "/function/fn/%c0%ae%c0%ae/", pathReasonNonASCII),
	ambiguousCase("non-ascii: overlong slash in routing", "/system%c0%afinfo", pathReasonNonASCII),
	ambiguousCase("non-ascii: bidi override", "/function/fn/%E2%80%AE", pathReasonNonASCII),
	ambiguousCase("non-ascii: ff", "/function/fn/%ff", pathReasonNonASCII),
	ambiguousCase("non-ascii: raw overlong", "/system/\xc0\xafinfo", pathReasonNonASCII),
	ambiguousCase("non-ascii: raw utf-8", "/system/ïnfo", pathReasonNonASCII),

	// raw characters that EscapedPath never yields
	ambiguousCase("bad char: space", "/system/info x", pathReasonBadChar),
	ambiguousCase("bad char: fragment", "/system/info#frag", pathReasonBadChar),
	ambiguousCase("bad char: query", "/ui/?x=/system/info", pathReasonBadChar),
	ambiguousCase("bad char: brackets", "/function/fn/a[0]", pathReasonBadChar),
	ambiguousCase("bad char: quote", `/function/fn/a"b`, pathReasonBadChar),
	ambiguousCase("bad char: angle", "/function/fn/<script>", pathReasonBadChar),
	ambiguousCase("bad char: pipe", "/system/info|x", pathReasonBadChar),

	// escapes of ordinary characters where the route is decided:
	// "/%73ystem/info" is "/system/info" to the gateway; Caddy v2.4.6
	// (#4407), Traefik GHSA-vrch-868g-9jx5
	ambiguousCase("encoded char: system", "/%73ystem/info", pathReasonEncodedChar),
	ambiguousCase("encoded char: upper S", "/%53ystem/info", pathReasonEncodedChar),
	ambiguousCase("encoded char: api name", "/system/%69nfo", pathReasonEncodedChar),
	ambiguousCase("encoded char: function", "/%66unction/fn", pathReasonEncodedChar),
	ambiguousCase("encoded char: function name", "/function/%66n", pathReasonEncodedChar),
	ambiguousCase("encoded char: async function name", "/async-function/f%6E/x", pathReasonEncodedChar),
	ambiguousCase("encoded char: space after api", "/system/info%20", pathReasonEncodedChar),
	ambiguousCase("encoded char: deep under system", "/system/function/%66n", pathReasonEncodedChar),
	ambiguousCase("encoded char: deep under ui", "/ui/x/%41", pathReasonEncodedChar),
}

func TestClassifyPath(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, invoke := range []bool{false, true} {
				want := tc.want
				if invoke {
					want = tc.wantInvoke
				}
				got, reason := pathRules{allowInvoke: invoke}.classify(tc.path)
				if got != want {
					t.Errorf("classify(%q) with allowInvoke=%t: got verdict %d (%s), want %d",
						tc.path, invoke, got, reason, want)
					continue
				}
				wantReason := tc.reason
				switch want {
				case pathAllowed:
					wantReason = pathReasonAllowed
				case pathDenied:
					wantReason = pathReasonNotAllowed
				}
				if reason != wantReason {
					t.Errorf("classify(%q) with allowInvoke=%t: got reason %q, want %q",
						tc.path, invoke, reason, wantReason)
				}
				if got == pathAllowed {
					assertOneReading(t, tc.path, invoke)
				}
			}
		})
	}
}

// The decision is made on the path alone; a query can neither open nor
// close a route (oauth2-proxy GHSA-7rh7-c77v-6434 matched path and query).
func TestClassifyPathIgnoresQuery(t *testing.T) {
	for i, tc := range []struct {
		target string
		want   pathVerdict
	}{
		{target: "/ui/?x=/system/functions", want: pathDenied},
		{target: "/metrics?/system/info", want: pathDenied},
		{target: "/system/info?x=/../ui/", want: pathAllowed},
		{target: "/system/info?%2F..%5C;", want: pathAllowed},
		{target: "/system/info?#/ui/", want: pathAllowed},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatalf("Test %d: parsing %q: %v", i, tc.target, err)
		}
		if got, reason := (pathRules{}).classify(u.EscapedPath()); got != tc.want {
			t.Errorf("Test %d: classify(%q) from %q: got %d (%s), want %d",
				i, u.EscapedPath(), tc.target, got, reason, tc.want)
		}
	}
}

// TestClassifyPathProperty classifies every path made of up to four
// segments from a set of ordinary and hostile ones, and checks that each
// allowed path has only one reading.
func TestClassifyPathProperty(t *testing.T) {
	segs := []string{
		"", "system", "function", "async-function", "ui", "info", "fn",
		".", "..", "...", "%2e", "%2F", "%5c", "%73ystem", "a%20b", "%41",
		"a;b", "%", "%C0%AF", "%252F", "a.b", "x\\y", "SYSTEM",
	}
	var n, nAllowed int
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if depth == 0 {
			return
		}
		for _, s := range segs {
			p := prefix + "/" + s
			n++
			for _, invoke := range []bool{false, true} {
				if v, _ := (pathRules{allowInvoke: invoke}).classify(p); v == pathAllowed {
					nAllowed++
					assertOneReading(t, p, invoke)
				}
			}
			walk(p, depth-1)
		}
	}
	walk("", 4)
	if nAllowed == 0 {
		t.Fatalf("no allowed path among %d", n)
	}
	t.Logf("%d paths, %d allowed verdicts", n, nAllowed)
}

func TestClassifyPathNoAllocs(t *testing.T) {
	p := pathRules{allowInvoke: true}
	for _, tc := range classifyCases {
		if tc.wantInvoke != pathAllowed {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { p.classify(tc.path) }); n != 0 {
			t.Errorf("classify(%q) allocates %.0f times", tc.path, n)
		}
	}
}

func BenchmarkClassifyPath(b *testing.B) {
	p := pathRules{allowInvoke: true}
	for _, bc := range []struct{ name, path string }{
		{"system", "/system/functions"},
		{"function", "/function/figlet.openfaas-fn/api/v1/items/%20x/"},
		{"ambiguous", "/function/fn/..%2F..%2Fsystem/info"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.classify(bc.path)
			}
		})
	}
}

// assertOneReading checks that an allowed path reads the same raw, decoded,
// cleaned and as parsed by net/http, and that it is under an allowed prefix
// in every reading.
func assertOneReading(t *testing.T, p string, invoke bool) {
	t.Helper()
	if err := otherReading(p, invoke); err != "" {
		t.Errorf("allowed %q (allowInvoke=%t): %s", p, invoke, err)
	}
}

// otherReading returns why the allowed path p could be read another way, or "".
func otherReading(p string, invoke bool) string {
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "does not decode: " + err.Error()
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c >= 0x7f {
			return "control or non-ASCII byte once decoded"
		}
	}
	if strings.ContainsAny(dec, `\;#?%`) {
		return `'\', ';', '#', '?' or '%' once decoded`
	}
	if strings.Contains(dec, "//") {
		return "empty segment once decoded"
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == "." || seg == ".." {
			return "dot segment once decoded"
		}
	}
	// gorilla/mux would redirect to path.Clean's result
	if path.Clean(dec) != strings.TrimSuffix(dec, "/") {
		return "cleaning changes it to " + path.Clean(dec)
	}
	if !hasAllowedPathPrefix(dec, invoke) {
		return "decoded path " + dec + " is not under an allowed prefix"
	}
	// the route is decided by the first two segments: they must be the
	// same raw and decoded
	if rawSegs, decSegs := firstTwoSegments(p), firstTwoSegments(dec); rawSegs != decSegs {
		return "routing segments differ: raw " + rawSegs + ", decoded " + decSegs
	}
	// what the gateway's net/http server makes of it
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
		"GET " + p + " HTTP/1.1\r\nHost: gateway\r\n\r\n")))
	if err != nil {
		return "net/http rejects it: " + err.Error()
	}
	if req.URL.Path != dec || req.URL.RawQuery != "" || req.URL.Fragment != "" {
		return "net/http reads path " + req.URL.Path + ", query " + req.URL.RawQuery
	}
	return ""
}

func hasAllowedPathPrefix(dec string, invoke bool) bool {
	prefixes := []string{"/system/"}
	if invoke {
		prefixes = append(prefixes, "/function/", "/async-function/")
	}
	for _, pre := range prefixes {
		if rest, ok := strings.CutPrefix(dec, pre); ok && rest != "" && rest[0] != '/' {
			return true
		}
	}
	return false
}

// firstTwoSegments returns the first two segments of p with their slashes.
func firstTwoSegments(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			if n++; n == 3 {
				return p[:i]
			}
		}
	}
	return p
}
