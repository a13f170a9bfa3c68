package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// explanation is what `caddy fed-oidc explain` reports, as text or, with
// --json, as this object. Every part comes from the handler's own code:
// its trusted issuers' verify, its ServeHTTP, the log lines and audit
// event that ServeHTTP writes, and the policy engine. Never the token.
type explanation struct {
	Handler  handlerInfo   `json:"handler"`
	Issuer   *issuerInfo   `json:"issuer,omitempty"`
	Token    *tokenInfo    `json:"token,omitempty"`
	Roles    []roleInfo    `json:"roles,omitempty"`
	Request  *requestInfo  `json:"request,omitempty"`
	Decision *decisionInfo `json:"decision,omitempty"`
	Refused  *refusalInfo  `json:"refused,omitempty"`
	Status   int           `json:"status,omitempty"`
	Upstream *upstreamInfo `json:"upstream,omitempty"`
	Access   *accessInfo   `json:"access,omitempty"`
	Allowed  bool          `json:"allowed"`
}

type handlerInfo struct {
	explainSite
	IAM string `json:"iam"` // enforce, dry_run, or off
}

// issuerInfo is the trusted issuer the token's iss picked.
type issuerInfo struct {
	Iss  string `json:"iss"`
	Name string `json:"name,omitempty"` // its JwtIssuer's; none for the issuer option
}

// tokenInfo holds claims of a token whose signature held.
type tokenInfo struct {
	Sub      string    `json:"sub"`
	Azp      string    `json:"azp,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	Aud      []string  `json:"aud,omitempty"`
	Expires  time.Time `json:"exp,omitzero"`
}

type roleInfo struct {
	Role    string   `json:"role"`
	Matched bool     `json:"matched"`
	Reason  string   `json:"reason,omitempty"`
	Skipped []string `json:"skipped_statements,omitempty"`
}

type requestInfo struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Query     string `json:"query,omitempty"`
	BodyBytes int    `json:"body_bytes,omitempty"`
	Action    string `json:"action,omitempty"`
	Resource  string `json:"resource,omitempty"`
}

// decisionInfo is IAM's decision, from the audit event.
type decisionInfo struct {
	Outcome  string `json:"outcome"` // allowed, denied_by_statement, denied_no_match, bad_request
	Role     string `json:"role,omitempty"`
	Policy   string `json:"policy,omitempty"`
	Sid      string `json:"sid,omitempty"`
	Reason   string `json:"reason"`
	Enforced bool   `json:"enforced"`
}

// refusalInfo is why the handler refused, as it logs it.
type refusalInfo struct {
	Reason string `json:"reason"` // the outcome label of logs and metrics
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// upstreamInfo is what the handler passed on to the next handler.
type upstreamInfo struct {
	Method         string `json:"method"`
	Path           string `json:"path"`
	Query          string `json:"query,omitempty"`
	QueryRewritten bool   `json:"query_rewritten"`
	BodyBytes      int    `json:"body_bytes"`
	BodyUnchanged  bool   `json:"body_unchanged"`

	// attached (granted, and transport fed_oidc in the server sends it),
	// no_transport (granted, but no reverse_proxy of the server could
	// send it), or none.
	Credential string `json:"credential"`

	// The caller's own Authorization header went on; never.
	CallerAuthorization bool `json:"caller_authorization"`

	// For GET /system/namespaces: the stand-in gateway's list, and the
	// part of it the client gets.
	Namespaces *namespacesInfo `json:"namespaces,omitempty"`
}

type namespacesInfo struct {
	Gateway []string `json:"gateway"`
	Client  []string `json:"client"`
}

// accessInfo is what a token may do, with --token alone.
type accessInfo struct {
	All        bool            `json:"all,omitempty"` // no IAM: the whole /system/ API
	Invoke     bool            `json:"invoke,omitempty"`
	Namespaces []namespaceInfo `json:"namespaces,omitempty"`
	Cluster    []iam.Action    `json:"cluster,omitempty"`
	Statements []grantInfo     `json:"statements,omitempty"`
}

type namespaceInfo struct {
	Namespace string       `json:"namespace"`
	Actions   []iam.Action `json:"actions,omitempty"`
	Objects   []objectInfo `json:"objects,omitempty"`
}

type objectInfo struct {
	Name    string       `json:"name"`
	Actions []iam.Action `json:"actions"`
}

type grantInfo struct {
	Role     string   `json:"role,omitempty"`
	Policy   string   `json:"policy"`
	Sid      string   `json:"sid"`
	Effect   string   `json:"effect"`
	Action   []string `json:"action"`
	Resource []string `json:"resource"`
}

// Credential states of upstreamInfo.
const (
	credentialAttached    = "attached"
	credentialNoTransport = "no_transport"
	credentialNone        = "none"
)

// explainInput is what to explain: a token, and a request unless target
// is empty.
type explainInput struct {
	token        string
	method       string
	target       string // path and query
	body         []byte
	host         string
	keysDeadline time.Duration
}

// explain verifies the token with the handler's trusted issuers and, for
// a request, runs it through the handler's ServeHTTP; else it lists what
// the token may do.
func (h *explainHandler) explain(ctx context.Context, in explainInput) (*explanation, error) {
	snap := h.snap.Load()
	e := &explanation{Handler: handlerInfo{explainSite: h.site, IAM: "off"}}
	if snap.set != nil {
		e.Handler.IAM = h.IAMMode
	}
	// The issuer the token's iss picks, as verify picks it; an unknown
	// one is refused below, at no fetch.
	if v, err := snap.issuers.pick(in.token); err == nil {
		e.Issuer = &issuerInfo{Iss: v.issuer, Name: issuerName(snap.set, v.issuer)}
		if err := waitForKeys(ctx, v.keys, in.keysDeadline); err != nil {
			return nil, err
		}
	}
	id, verr := snap.issuers.verify(ctx, in.token)
	status, outcome, signed, detail := 0, "", id, error(nil)
	if verr != nil {
		status, outcome, signed, detail = tokenRefusal(verr)
	}
	if signed != nil {
		e.Token = &tokenInfo{Sub: signed.Subject, Azp: signed.AuthorizedParty, ClientID: signed.ClientID,
			Aud: signed.Audience, Expires: signed.Expiry}
	}
	var roles *iam.Roles
	if id != nil && snap.set != nil {
		roles = id.rolesIn(snap.set)
		for _, m := range snap.set.ExplainRoles(id.claims) {
			e.Roles = append(e.Roles, roleInfo{Role: m.Role, Matched: m.Matched, Reason: m.Reason, Skipped: m.Skipped})
		}
	}
	if in.target != "" {
		return e, h.serve(e, in, roles)
	}
	if verr != nil {
		e.Status = status
		e.Refused = &refusalInfo{Reason: outcome}
		if detail != nil {
			e.Refused.Error = detail.Error()
		}
		return e, nil
	}
	e.Access = h.access(roles)
	e.Allowed = e.Access.All || e.Access.Invoke || len(e.Access.Namespaces) > 0 || len(e.Access.Cluster) > 0
	return e, nil
}

// issuerName is the name of the JwtIssuer for iss; none for the issuer
// option.
func issuerName(set *iam.Set, iss string) string {
	if set == nil {
		return ""
	}
	for _, o := range set.Issuers() {
		if o.Spec.Iss == iss && o.Metadata.Name != flatIssuerName {
			return o.Metadata.Name
		}
	}
	return ""
}

// waitForKeys waits, at most d, for the source's first keys: the fetch
// the fed_oidc app started, or a new one if that failed.
func waitForKeys(ctx context.Context, ks *keySource, d time.Duration) error {
	if _, err := ks.current(time.Now()); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := ks.refresh(ctx, false); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", d)
		}
		return fmt.Errorf("fetching the keys of issuer %s: %w", ks.issuer, err)
	}
	_, err := ks.current(time.Now())
	return err
}

// explainRemoteAddr is the synthetic request's client address.
const explainRemoteAddr = "127.0.0.1:0"

// serve runs the request through the handler's ServeHTTP, as Caddy would
// call it, with a next handler that stands in for the gateway, and reads
// what the handler decided from its log and audit event.
func (h *explainHandler) serve(e *explanation, in explainInput, roles *iam.Roles) error {
	req, err := http.NewRequest(in.method, "http://"+in.host+in.target, bytes.NewReader(in.body))
	if err != nil {
		return fmt.Errorf("--method, --path: %w", err)
	}
	req.RequestURI = in.target
	req.RemoteAddr = explainRemoteAddr
	req.Header.Set("Authorization", "Bearer "+in.token)
	if in.body == nil {
		req.Body = http.NoBody
	} else {
		req.Header.Set("Content-Type", "application/json") // as faas-cli sends it
	}
	e.Request = &requestInfo{Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery, BodyBytes: len(in.body)}

	gw := &explainGateway{answer: visibleCandidates(roles, h.DefaultNamespace)}
	w := httptest.NewRecorder()
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), w, nil)
	h.logs.TakeAll() // this request's lines only
	err = h.ServeHTTP(w, req, gw)
	e.Status = w.Code
	if err != nil {
		e.Status = errorStatus(err)
		e.Refused = &refusalInfo{Reason: "handler_error", Error: err.Error()}
	}
	e.readLogs(h.logs.TakeAll())

	if gw.forwarded {
		u := &upstreamInfo{Method: gw.method, Path: gw.path, Query: gw.query,
			QueryRewritten: gw.query != e.Request.Query, BodyBytes: len(gw.body),
			BodyUnchanged: bytes.Equal(gw.body, in.body), Credential: credentialNone,
			CallerAuthorization: gw.callerAuthorization}
		if gw.granted {
			u.Credential = credentialNoTransport
			if h.site.transport {
				u.Credential = credentialAttached
			}
		}
		if e.Request.Action == string(iam.NamespaceList) {
			u.Namespaces = &namespacesInfo{Gateway: gw.names}
			if err := json.Unmarshal(w.Body.Bytes(), &u.Namespaces.Client); err != nil {
				return fmt.Errorf("reading the filtered namespace list: %w", err)
			}
		}
		e.Upstream = u
	}
	e.Allowed = gw.forwarded && (e.Decision == nil || e.Decision.Outcome == iam.Allowed.String())
	return nil
}

// readLogs takes the refusal and the decision from what ServeHTTP logged.
func (e *explanation) readLogs(entries []observer.LoggedEntry) {
	for _, entry := range entries {
		f := entry.ContextMap()
		str := func(k string) string { s, _ := f[k].(string); return s }
		switch entry.Message {
		case "request refused":
			e.Refused = &refusalInfo{Reason: str("reason"), Detail: str("detail"), Error: str("error")}
		case "decision":
			enforced, _ := f["enforced"].(bool)
			e.Decision = &decisionInfo{Outcome: str("decision"), Role: str("role"), Policy: str("policy"),
				Sid: str("sid"), Reason: str("reason"), Enforced: enforced}
			e.Request.Action, e.Request.Resource = str("action"), str("resource")
		}
	}
}

// visibleCandidates is the stand-in gateway's namespace list: the default
// namespace and those the token's statements name (Allow or Deny), so
// that a filtered list shows what is cut.
func visibleCandidates(roles *iam.Roles, defaultNS string) []string {
	names := []string{defaultNS}
	for _, g := range roles.Statements() {
		for _, r := range g.Resource {
			ns, _, ok := strings.Cut(r, ":")
			if ok && !strings.ContainsAny(ns, "*?") && !slices.Contains(names, ns) {
				names = append(names, ns)
			}
		}
	}
	slices.Sort(names)
	return names
}

// explainGateway is the next handler: it records what the handler passed
// on, and answers with a namespace list (which only GET
// /system/namespaces reads).
type explainGateway struct {
	answer []string

	forwarded           bool
	method, path, query string
	body                []byte
	granted             bool
	callerAuthorization bool
	names               []string
}

func (g *explainGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	g.forwarded = true
	g.method, g.path, g.query = r.Method, r.URL.EscapedPath(), r.URL.RawQuery
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	g.body = b
	_, g.granted = r.Context().Value(credentialGrantKey{}).(*credentialGrant)
	g.callerAuthorization = r.Header.Get("Authorization") != ""
	g.names = g.answer
	out, err := json.Marshal(g.answer)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(out)
	return err
}

// access lists what the token may do: with IAM, per namespace its
// statements name (and the default namespace) where it may do anything,
// cluster-wide, and the
// statements that apply to it as written, for patterns such as team-*:*.
func (h *explainHandler) access(roles *iam.Roles) *accessInfo {
	if h.snap.Load().set == nil {
		return &accessInfo{All: true, Invoke: h.AllowInvoke}
	}
	a := &accessInfo{Cluster: roles.ClusterActions()}
	for _, ns := range visibleCandidates(roles, h.DefaultNamespace) {
		na := roles.Access(ns)
		if na.Empty() {
			continue
		}
		ni := namespaceInfo{Namespace: ns, Actions: na.Actions}
		for _, o := range na.Objects {
			ni.Objects = append(ni.Objects, objectInfo{Name: o.Name, Actions: o.Actions})
		}
		a.Namespaces = append(a.Namespaces, ni)
	}
	for _, g := range roles.Statements() {
		a.Statements = append(a.Statements, grantInfo{Role: g.Role, Policy: g.Policy, Sid: g.Sid,
			Effect: g.Effect, Action: g.Action, Resource: g.Resource})
	}
	return a
}
