package caddyfedauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/routes"
)

// accessCheck is one request's IAM decision, from the mapping to the
// audit event.
type accessCheck struct {
	started  time.Time
	r        *http.Request
	path     string // as received, before a rewrite of the query
	id       *identity
	call     routes.Call
	roles    *iam.Roles
	decision iam.Decision
	refused  *routes.Error // the request could not be decided on

	outsideGrant bool // a function token used beyond its audience or permissions
	rec          statusRecorder

	// requestID is taken before the request goes on: Caddy makes it on
	// first use, in the request's variables, which reverse_proxy's dialer
	// may still read after the answer.
	requestID string

	// For the audit log entry (MarshalLogObject): iam_mode enforce, and
	// the status answered.
	enforced bool
	status   int
}

// newAccessCheck starts the check of r, whose escaped path is path.
func (f *FedOIDC) newAccessCheck(r *http.Request, id *identity, path string) *accessCheck {
	return &accessCheck{started: time.Now(), r: r, path: path, id: id, enforced: f.enforce}
}

// takeRequestID takes the request's id for its audit entry or webhook
// event, if either will be written. Call it before the request goes on:
// Caddy makes the id on first use, in the request's variables, which
// reverse_proxy's dialer may still read after the answer.
func (f *FedOIDC) takeRequestID(ac *accessCheck) {
	if ac.requestID == "" && (f.webhook != nil || f.auditWrites(ac.logLevel())) {
		ac.requestID = requestID(ac.r)
	}
}

// mapRequest reads what the request asks for (routes.Map), the body only
// on the routes that name things in it, up to max_body_size. The body is
// then put back byte for byte, and the query completed where a provider
// would otherwise read another namespace than the one decided on.
func (f *FedOIDC) mapRequest(r *http.Request, escapedPath string) (routes.Call, error) {
	var body []byte
	if routes.NeedsBody(r.Method, escapedPath) {
		b, err := routes.ReadBody(r.Body, r.ContentLength, f.MaxBodySize)
		if err != nil {
			return routes.Call{}, err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.TransferEncoding = nil
	}
	call, err := routes.Map(r.Method, escapedPath, r.URL.RawQuery, body, f.DefaultNamespace)
	if err != nil {
		return call, err
	}
	r.URL.RawQuery = call.UpstreamQuery(r.URL.RawQuery)
	return call, nil
}

// decide decides the call on the roles the token holds, and counts it.
func (ac *accessCheck) decide(f *FedOIDC, call routes.Call, roles *iam.Roles) {
	ac.call, ac.roles = call, roles
	switch {
	case ac.id.function != nil && !ac.id.function.grants(call):
		// A function token invokes what it names, and nothing else.
		ac.decision = iam.Decision{}
		ac.outsideGrant = true
	case call.FilterNamespaces:
		// The answer is filtered to what the caller may see.
		ac.decision = roles.DecideSomewhere(call.Action)
	default:
		ac.decision = roles.Decide(call.Action, call.Resource)
	}
	f.iamMetrics.decision(call.Action, ac.decision.Outcome)
}

// grants says whether a function token may make call: an invocation of a
// function its permissions match and, when it names an audience, one of
// those. The policies it carries decide too, Deny statements included.
func (g *functionClaim) grants(call routes.Call) bool {
	if !call.Invoke {
		return false
	}
	target := call.Namespace + ":" + call.Name
	if len(g.Audience) > 0 && !slices.Contains(g.Audience, target) {
		return false
	}
	return slices.ContainsFunc(g.Permissions, func(p string) bool { return iam.ResourceMatches(p, call.Resource) })
}

// refuseCall answers a request that cannot be decided on (a
// *routes.Error): 400, 403 outside the gateway's API, 405 with Allow,
// 413. In dry_run too: these are about the request, not the policies.
func (f *FedOIDC) refuseCall(w http.ResponseWriter, r *http.Request, ac *accessCheck, err error) error {
	var re *routes.Error
	if !errors.As(err, &re) {
		re = &routes.Error{Status: http.StatusBadRequest, Reason: routes.ReasonBadPath}
	}
	ac.refused = re
	ac.decision = iam.Decision{Outcome: iam.DeniedMalformed}
	f.iamMetrics.decision(unmappedAction, iam.DeniedMalformed)
	f.audit(ac, re.Status)
	if re.Allow != "" {
		w.Header().Set("Allow", re.Allow)
	}
	return f.deny(w, r, re.Status, outcomeIAMRefused, re.Reason, ac.id, err)
}

// forward passes the request on and returns the status answered, for
// the audit event. With IAM enforced, a namespace list is filtered to the
// namespaces the caller holds an action in.
func (f *FedOIDC) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, ac *accessCheck) (int, error) {
	if ac.call.FilterNamespaces && f.enforce {
		return f.serveNamespaces(w, r, next, ac.roles)
	}
	ac.rec.ResponseWriter = w
	if err := next.ServeHTTP(&ac.rec, r); err != nil {
		return errorStatus(err), err
	}
	return ac.rec.status, nil
}

// maxNamespaceList bounds the namespace list read for filtering; the
// gateway's is a few bytes per namespace.
const maxNamespaceList = 1 << 20

// serveNamespaces answers GET /system/namespaces with only the namespaces
// the caller may see. A 200 whose body is not a JSON array of names is not
// passed on (502): it cannot be filtered.
func (f *FedOIDC) serveNamespaces(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, roles *iam.Roles) (int, error) {
	r.Header.Del("Accept-Encoding") // the list must arrive readable
	buf := new(bytes.Buffer)
	rec := caddyhttp.NewResponseRecorder(w, buf, func(status int, _ http.Header) bool {
		return status == http.StatusOK
	})
	if err := next.ServeHTTP(rec, r); err != nil {
		return errorStatus(err), err
	}
	if !rec.Buffered() {
		return rec.Status(), nil
	}
	var all []string
	err := json.Unmarshal(buf.Bytes(), &all)
	if err == nil && buf.Len() > maxNamespaceList {
		err = errors.New("too large")
	}
	if err != nil {
		f.logger.Error("the gateway's namespace list is not a JSON array of names, so it cannot be filtered", zap.Error(err))
		return http.StatusBadGateway, caddyhttp.Error(http.StatusBadGateway, err)
	}
	visible := roles.VisibleNamespaces(all)
	if visible == nil {
		visible = []string{}
	}
	out, err := json.Marshal(visible)
	if err != nil {
		return http.StatusInternalServerError, caddyhttp.Error(http.StatusInternalServerError, err)
	}
	h := w.Header()
	h.Del("Content-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return http.StatusOK, nil
}

// errorStatus is the status Caddy answers a handler error with.
func errorStatus(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}
