package caddyfedauth

import (
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
)

// audit records one IAM decision, with the status answered, in the log
// http.handlers.fed_oidc.audit and, with audit_webhook, for the webhook.
// Never the token: only what was decided and on whose claims.
func (f *FedOIDC) audit(ac *accessCheck, status int) {
	f.takeRequestID(ac) // a refusal: nothing went upstream
	if lvl := ac.logLevel(); f.auditWrites(lvl) {
		if c := f.auditLog.Check(lvl, "decision"); c != nil {
			ac.status = status
			c.Write(zap.Inline(ac))
		}
	}
	f.sendAudit(ac, status)
}

// logLevel is the level of ac's audit entry: debug for an allowed read
// (GET, HEAD), which the commercial gateway does not audit by default
// and which is most of the traffic; info for every other decision:
// changes, invocations, denials and requests that could not be decided.
func (ac *accessCheck) logLevel() zapcore.Level {
	if ac.decision.Allowed() && (ac.r.Method == http.MethodGet || ac.r.Method == http.MethodHead) {
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel
}

// auditWrites says whether the audit log writes entries at lvl.
func (f *FedOIDC) auditWrites(lvl zapcore.Level) bool {
	if lvl == zapcore.DebugLevel {
		return f.auditDebug
	}
	return f.auditInfo
}

// reason says in words what decided.
func (ac *accessCheck) reason() string {
	if ac.outsideGrant {
		return "denied: outside the function token's audience or permissions"
	}
	return ac.decision.Reason()
}

// MarshalLogObject writes the fields of the audit log entry straight to
// the encoder (zap.Inline): no slice of zap.Field is built for each
// decision.
func (ac *accessCheck) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	d := ac.decision
	enc.AddTime("started", ac.started)
	enc.AddString("request_id", ac.requestID)
	enc.AddString("decision", d.Outcome.String())
	enc.AddBool("enforced", ac.enforced)
	enc.AddInt64("status", int64(ac.status))
	enc.AddString("method", ac.r.Method)
	enc.AddString("path", ac.path)
	enc.AddString("remote_ip", ac.r.RemoteAddr)
	enc.AddString("iss", ac.id.Issuer)
	enc.AddString("sub", ac.id.Subject)
	enc.AddString("azp", ac.id.AuthorizedParty)
	enc.AddString("client_id", ac.id.ClientID)
	if fi := ac.id.fedIssuer(); fi != "" {
		enc.AddString("fed_iss", fi)
	}
	if ac.refused != nil {
		enc.AddString("reason", ac.refused.Reason)
		return nil
	}
	enc.AddString("action", string(ac.call.Action))
	enc.AddString("resource", string(ac.call.Resource))
	enc.AddString("role", d.Role)
	enc.AddString("policy", d.Policy)
	enc.AddString("sid", d.Sid)
	enc.AddString("reason", ac.reason())
	return nil
}

// requestID is the request's {http.request.uuid}, the id Caddy's access
// log carries, made on first use.
func requestID(r *http.Request) string {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	id, _ := repl.GetString("http.request.uuid")
	return id
}

// fedIssuer is the original issuer of a token the system issuer made in
// an exchange: its fed:iss claim.
func (id *identity) fedIssuer() string {
	if !id.verifier.system {
		return ""
	}
	s, _ := id.claims["fed:iss"].(string)
	return s
}
