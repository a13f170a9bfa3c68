package routes

import "net/http"

// Error is why a request has no Call. The handler answers with Status
// (and, for 405, an Allow header) before any policy is consulted: a
// request that could be read two ways, or that names nothing the gateway
// routes, is never decided on.
type Error struct {
	// Status is the HTTP status to answer with: 400 for a malformed,
	// ambiguous or disagreeing request, 403 for a path outside the
	// gateway's API, 405 for a method the gateway does not route on that
	// path, 413 for a body over the limit.
	Status int

	// Reason is a short stable token, one of the Reason constants, for
	// logs and metrics labels.
	Reason string

	// Allow lists the methods the gateway routes on the path, for the
	// Allow header of a 405.
	Allow string

	msg string
	err error // a read error under ReadBody's
}

func (e *Error) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *Error) Unwrap() error { return e.err }

// Reasons. They are metric label values, so the set is fixed and small
// whatever a client sends; no error text carries a value from the request.
const (
	ReasonNotAPI            = "not_api"            // 403: not /system/, /function/ or /async-function/
	ReasonMethodNotAllowed  = "method_not_allowed" // 405
	ReasonBadPath           = "bad_path"           // 400: unclean or percent-encoded where names are read
	ReasonMissingName       = "missing_name"       // 400: the route needs a name and has none
	ReasonBadName           = "bad_name"           // 400: a name or namespace outside the gateway's NameExpression
	ReasonBadQuery          = "bad_query"          // 400: a query Go's url.ParseQuery refuses or drops
	ReasonRepeatedQueryKey  = "repeated_query_key" // 400: a key a provider reads, given twice
	ReasonNamespaceMismatch = "namespace_mismatch" // 400: two places name different namespaces
	ReasonNameMismatch      = "name_mismatch"      // 400: path and body name different objects
	ReasonBadBody           = "bad_body"           // 400: not one JSON object in UTF-8, or a field not a string
	ReasonAmbiguousBody     = "ambiguous_body"     // 400: duplicate or case-variant member names
	ReasonBodyTooLarge      = "body_too_large"     // 413
	ReasonBodyRead          = "body_read"          // 400: reading the body failed
	ReasonBadDefault        = "bad_default_namespace"
)

func newError(status int, reason, msg string) *Error {
	return &Error{Status: status, Reason: reason, msg: msg}
}

func badRequest(reason, msg string) *Error { return newError(http.StatusBadRequest, reason, msg) }

// methodNotAllowed is the 405 for a path the gateway routes only for allow.
func methodNotAllowed(allow string) *Error {
	return &Error{
		Status: http.StatusMethodNotAllowed, Reason: ReasonMethodNotAllowed, Allow: allow,
		msg: "method not routed by the gateway on this path (allowed: " + allow + ")",
	}
}

// The errors that carry nothing from the request are built once.
var (
	errNotAPI         = newError(http.StatusForbidden, ReasonNotAPI, "path is not on the gateway's API")
	errBodyTooLarge   = newError(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "request body over max_body_size")
	errNotAbsolute    = badRequest(ReasonBadPath, "path is not absolute")
	errUnclean        = badRequest(ReasonBadPath, "path has an empty or dot segment, which the gateway redirects")
	errEncodedAPIPath = badRequest(ReasonBadPath, "percent-encoding in an API path or function name")
	errBadEscape      = badRequest(ReasonBadPath, "invalid percent-encoding in the path")
	errControl        = badRequest(ReasonBadPath, "control character in the path")
	errBadDefault     = newError(http.StatusInternalServerError, ReasonBadDefault, "default namespace is not a valid name")

	errQueryTooLong  = badRequest(ReasonBadQuery, "query has more parameters than any client sends")
	errQuerySemi     = badRequest(ReasonBadQuery, "semicolon in the query, which Go's url.ParseQuery drops")
	errQueryEscape   = badRequest(ReasonBadQuery, "invalid percent-encoding in the query, which Go's url.ParseQuery drops")
	errQueryRepeated = badRequest(ReasonRepeatedQueryKey, "query key repeated: providers differ on which value they read")

	errBodyNotUTF8   = badRequest(ReasonBadBody, "body is not valid UTF-8")
	errBodyNotObject = badRequest(ReasonBadBody, "body is not a JSON object")
	errBodyDepth     = badRequest(ReasonBadBody, "body nested too deep")
	errBodyDuplicate = badRequest(ReasonAmbiguousBody, "body has a member name twice (encoding/json folds case and keeps the last)")
	errBodyLookalike = badRequest(ReasonAmbiguousBody, "body member name differs from a field the provider reads only by '-' or '_'")
)
