package caddyfedauth

import "strings"

// The OpenFaaS gateway routes with gorilla/mux built by a plain
// mux.NewRouter(): no UseEncodedPath and no SkipClean (gateway/main.go).
// So it matches its routes against the decoded r.URL.Path, and answers a
// path that path.Clean would change with a 301 to the cleaned path. Its
// proxies then forward r.URL.Path, decoded, to the provider and to the
// function. Whatever we decide on must therefore read the same raw and
// decoded, and already be clean: a path that differs between the two
// readings, or that cleaning would change, is refused, never rewritten.

// pathRules decides which request paths may reach the gateway.
type pathRules struct {
	allowInvoke bool
}

// pathVerdict is the outcome of classifying a request path.
type pathVerdict int

const (
	pathAllowed   pathVerdict = iota // forward it
	pathDenied                       // well-formed but not allowed: 403
	pathAmbiguous                    // could be read two ways: 400
)

// Reasons returned by classify. They are metric label values, so the set
// is fixed and small whatever a client sends.
const (
	pathReasonAllowed        = "allowed"
	pathReasonNotAllowed     = "not_allowed"
	pathReasonNotAbsolute    = "not_absolute"
	pathReasonDotSegment     = "dot_segment"
	pathReasonEmptySegment   = "empty_segment"
	pathReasonBackslash      = "backslash"
	pathReasonPathParam      = "path_param"
	pathReasonEncodedSlash   = "encoded_slash"
	pathReasonEncodedDot     = "encoded_dot"
	pathReasonEncodedPercent = "encoded_percent"
	pathReasonEncodedDelim   = "encoded_delim"
	pathReasonEncodedChar    = "encoded_char"
	pathReasonBadEscape      = "bad_escape"
	pathReasonControlChar    = "control_char"
	pathReasonNonASCII       = "non_ascii"
	pathReasonBadChar        = "bad_char"
)

// byte classes of the raw escaped path.
const (
	pathByteBad       uint8 = iota // not valid raw in a path: space, '"', '#', '?', '[', ...
	pathByteOK                     // unreserved, sub-delims but ';', ':' and '@'
	pathByteSlash                  // '/'
	pathBytePercent                // '%', starts an escape
	pathByteBackslash              // '\'
	pathByteSemicolon              // ';'
	pathByteControl                // < 0x20 and 0x7f
	pathByteNonASCII               // >= 0x80
)

// pathByteClass classifies each byte that may appear raw in the escaped path.
// The allowed set is RFC 3986 pchar minus ';': only characters that every
// parser on the way reads as themselves.
var pathByteClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = pathByteControl
		case c >= 0x80:
			t[c] = pathByteNonASCII
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = pathByteOK
		}
	}
	for _, c := range []byte("-._~!$&'()*+,=:@") {
		t[c] = pathByteOK
	}
	t['/'] = pathByteSlash
	t['%'] = pathBytePercent
	t['\\'] = pathByteBackslash
	t[';'] = pathByteSemicolon
	return t
}()

// classify decides on the request's path as it will be sent upstream.
// escapedPath is r.URL.EscapedPath(); the query string is never looked at.
// The returned reason is a short stable token for logs and metrics labels
// (e.g. "dot_segment", "encoded_slash", "backslash", "empty_segment", "control_char",
// "path_param", "bad_escape", "not_allowed", "not_absolute").
//
// It first refuses, as ambiguous, any path that another component could read
// differently from us (see checkPathForm), and only then makes the allow/deny
// decision on the first two segments. Since neither of them may contain a
// percent-encoding, that decision reads the raw bytes, which are also the
// bytes the gateway routes on. It does not allocate.
func (p pathRules) classify(escapedPath string) (pathVerdict, string) {
	seg0, seg1, reason := checkPathForm(escapedPath)
	if reason != "" {
		return pathAmbiguous, reason
	}
	// A second segment is required: "/system/" alone names no API,
	// and "/function/" no function.
	if seg1 == "" {
		return pathDenied, pathReasonNotAllowed
	}
	switch seg0 {
	case "system":
		return pathAllowed, pathReasonAllowed
	case "function", "async-function":
		if p.allowInvoke {
			return pathAllowed, pathReasonAllowed
		}
	}
	return pathDenied, pathReasonNotAllowed
}

// checkPathForm returns the first two segments of p, or the reason why p is
// ambiguous. The rules, in the raw escaped path:
//
//   - p starts with '/';
//   - no segment is empty ("//"), except a single trailing slash;
//   - no segment is "." or "..";
//   - raw bytes are RFC 3986 pchar without ';': no '\', ';', control,
//     space, non-ASCII, '#', '?', '[' or ']';
//   - every '%' starts a valid escape, and no escape encodes '/', '\',
//     '.', ';', '#', '?', '%', a control byte or a byte >= 0x80 (which
//     covers overlong UTF-8 such as %C0%AF for '/');
//   - the first two segments, which decide the route, have no escape at
//     all, so "/%73ystem/info" is refused rather than read as
//     "/system/info". Other escapes of ordinary characters, such as %20,
//     are allowed only from the third segment of "/function/..." and
//     "/async-function/...", where they are data for the function.
func checkPathForm(p string) (seg0, seg1, reason string) {
	if len(p) == 0 || p[0] != '/' {
		return "", "", pathReasonNotAbsolute
	}
	var (
		segStart = 1
		segIndex = 0 // index of the segment being scanned
		escapeOK = false
	)
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			switch {
			case len(seg) == 0 && i < len(p):
				return "", "", pathReasonEmptySegment
			case seg == "." || seg == "..":
				return "", "", pathReasonDotSegment
			}
			switch segIndex {
			case 0:
				seg0 = seg
				escapeOK = seg == "function" || seg == "async-function"
			case 1:
				seg1 = seg
			}
			segIndex++
			segStart = i + 1
			continue
		}
		switch pathByteClass[p[i]] {
		case pathByteOK:
		case pathBytePercent:
			if i+2 >= len(p) || !isPathHex(p[i+1]) || !isPathHex(p[i+2]) {
				return "", "", pathReasonBadEscape
			}
			if r := pathEscapeReason(pathUnhex(p[i+1])<<4 | pathUnhex(p[i+2])); r != "" {
				return "", "", r
			}
			if segIndex < 2 || !escapeOK {
				return "", "", pathReasonEncodedChar
			}
			i += 2
		case pathByteBackslash:
			return "", "", pathReasonBackslash
		case pathByteSemicolon:
			return "", "", pathReasonPathParam
		case pathByteControl:
			return "", "", pathReasonControlChar
		case pathByteNonASCII:
			return "", "", pathReasonNonASCII
		default:
			return "", "", pathReasonBadChar
		}
	}
	return seg0, seg1, ""
}

// pathEscapeReason says why the percent-encoded byte c is refused anywhere in
// a path, or "" if it is an ordinary character.
func pathEscapeReason(c byte) string {
	switch {
	case c == '/':
		return pathReasonEncodedSlash // Envoy CVE-2021-29492, Istio CVE-2021-31920
	case c == '\\':
		return pathReasonBackslash // Windows separator; Traefik CVE-2025-66490
	case c == '.':
		return pathReasonEncodedDot // %2e%2e is ".." once decoded
	case c == ';':
		return pathReasonPathParam // "..;/" path parameters
	case c == '%':
		return pathReasonEncodedPercent // double encoding: %252F
	case c == '#' || c == '?':
		return pathReasonEncodedDelim // ends the path once decoded and re-parsed
	case c < 0x20 || c == 0x7f:
		return pathReasonControlChar
	case c >= 0x80:
		return pathReasonNonASCII // overlong UTF-8: %C0%AF is '/' to some decoders
	}
	return ""
}

func isPathHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func pathUnhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// isSystemAPI reports whether an allowed path is on the gateway's /system/
// API, the only part that needs the gateway's credential.
func isSystemAPI(allowedPath string) bool {
	return strings.HasPrefix(allowedPath, "/system/")
}
