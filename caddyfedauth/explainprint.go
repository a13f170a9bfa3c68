package caddyfedauth

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
)

// textWriter writes labelled lines, continuation lines indented under
// the value, and keeps the first write error.
type textWriter struct {
	w   io.Writer
	err error
}

const labelWidth = 10

func (t *textWriter) line(label, format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, "%-*s %s\n", labelWidth, label, fmt.Sprintf(format, args...))
	}
}

func (t *textWriter) more(format string, args ...any) { t.line("", format, args...) }

// writeText prints the explanation for people; --json prints the same.
func (e *explanation) writeText(w io.Writer) error {
	t := &textWriter{w: w}
	t.line("handler", "%s; iam %s", e.Handler.explainSite, e.Handler.IAM)
	switch {
	case e.Issuer == nil:
		t.line("issuer", "none: the token names no trusted issuer")
	case e.Issuer.Name != "":
		t.line("issuer", "%s (JwtIssuer %s)", e.Issuer.Iss, e.Issuer.Name)
	default:
		t.line("issuer", "%s", e.Issuer.Iss)
	}
	if tok := e.Token; tok != nil {
		claims := fmt.Sprintf("sub %q", tok.Sub)
		if tok.Azp != "" {
			claims += fmt.Sprintf(", azp %q", tok.Azp)
		}
		if tok.ClientID != "" {
			claims += fmt.Sprintf(", client_id %q", tok.ClientID)
		}
		t.line("token", "%s, aud %q, exp %s", claims, tok.Aud, tok.Expires.UTC().Format(time.RFC3339))
	}
	for i, r := range e.Roles {
		label := ""
		if i == 0 {
			label = "roles"
		}
		if r.Matched {
			t.line(label, "%s: matched", r.Role)
			for _, s := range r.Skipped {
				t.more("  not applied: %s", s)
			}
		} else {
			t.line(label, "%s: not matched: %s", r.Role, r.Reason)
		}
	}
	if e.Handler.IAM != "off" && e.Token != nil && len(e.Roles) == 0 {
		t.line("roles", "none in the IAM objects")
	}
	if e.Request != nil {
		e.writeRequest(t)
	}
	if e.Access != nil {
		e.Access.writeText(t)
	}
	if e.Refused != nil && e.Request == nil {
		t.line("refused", "%d %s", e.Status, e.Refused.text())
	}
	if e.Allowed {
		t.line("result", "allowed")
	} else {
		t.line("result", "not allowed")
	}
	return t.err
}

func (e *explanation) writeRequest(t *textWriter) {
	r := e.Request
	target := r.Path
	if r.Query != "" {
		target += "?" + r.Query
	}
	body := ""
	if r.BodyBytes > 0 {
		body = fmt.Sprintf(", body of %d bytes", r.BodyBytes)
	}
	t.line("request", "%s %s%s", r.Method, target, body)
	d := e.Decision
	switch {
	case r.Action != "":
		t.line("action", "%s on %s", r.Action, r.Resource)
	case d != nil:
		t.line("action", "none: the request cannot be decided on (%s)", d.Reason)
	}
	if d != nil && r.Action != "" {
		enforced := ""
		if !d.Enforced {
			enforced = " (dry_run: logged, not enforced)"
		}
		t.line("decision", "%s%s", d.Reason, enforced)
	}
	if e.Handler.IAM == "off" && e.Refused == nil {
		t.line("decision", "no iam: every valid token may use the /system/ API")
	}
	status := strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	if f := e.Refused; f != nil {
		shown := *f
		if d != nil && f.Detail == d.Reason && r.Action != "" {
			shown.Detail = "" // the decision line says it
		}
		status += ": " + shown.text()
	}
	t.line("status", "%s", status)
	if u := e.Upstream; u != nil {
		target := u.Path
		if u.Query != "" {
			target += "?" + u.Query
		}
		query := "query as sent"
		if u.QueryRewritten {
			query = "query rewritten"
		}
		body := "no body"
		switch {
		case u.BodyBytes > 0 && u.BodyUnchanged:
			body = fmt.Sprintf("body of %d bytes, byte for byte", u.BodyBytes)
		case u.BodyBytes > 0:
			body = fmt.Sprintf("body of %d bytes, changed", u.BodyBytes)
		}
		t.line("upstream", "%s %s (%s), %s", u.Method, target, query, body)
		switch u.Credential {
		case credentialAttached:
			t.more("gateway credential attached (by transport fed_oidc)")
		case credentialNoTransport:
			t.more("gateway credential granted, but no reverse_proxy of this server uses transport fed_oidc: the gateway gets none")
		default:
			t.more("no gateway credential")
		}
		if u.CallerAuthorization {
			t.more("the caller's Authorization header goes on")
		} else {
			t.more("the caller's token stops here")
		}
		if n := u.Namespaces; n != nil {
			t.more("namespaces %q are answered as %q", n.Gateway, n.Client)
		}
	} else {
		t.line("upstream", "nothing: the handler answered")
	}
}

func (r *refusalInfo) text() string {
	s := r.Reason
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	if r.Error != "" {
		s += ": " + r.Error
	}
	return s
}

func (a *accessInfo) writeText(t *textWriter) {
	if a.All {
		what := "the whole /system/ API"
		if a.Invoke {
			what += " and every function (allow_invoke)"
		}
		t.line("access", "no iam: %s", what)
		return
	}
	if len(a.Namespaces) == 0 {
		t.line("access", "nothing in the namespaces the statements name")
	}
	for i, ns := range a.Namespaces {
		label := ""
		if i == 0 {
			label = "access"
		}
		t.line(label, "%s: %s", ns.Namespace, actionList(ns.Actions, "nothing on the namespace as a whole"))
		for _, o := range ns.Objects {
			t.more("  %s:%s: %s", ns.Namespace, o.Name, actionList(o.Actions, ""))
		}
	}
	t.line("cluster", "%s", actionList(a.Cluster, "nothing"))
	for i, g := range a.Statements {
		label := ""
		if i == 0 {
			label = "statements"
		}
		by := "policy " + g.Policy + ", statement " + g.Sid
		if g.Role != "" {
			by = "role " + g.Role + ", " + by
		}
		t.line(label, "%s: %s %s on %s", by, g.Effect, strings.Join(g.Action, " "), strings.Join(g.Resource, " "))
	}
}

func actionList(acts []iam.Action, none string) string {
	if len(acts) == 0 {
		return none
	}
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}
