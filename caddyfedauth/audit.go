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
	c := f.auditLog.Check(zapcore.InfoLevel, "decision")
	if c == nil && f.webhook == nil {
		return
	}
	if c != nil {
		d := ac.decision
		fields := make([]zap.Field, 0, 18) // one allocation for all of them
		fields = append(fields,
			zap.Time("started", ac.started),
			zap.String("request_id", ac.requestID),
			zap.String("decision", d.Outcome.String()),
			zap.Bool("enforced", f.enforce),
			zap.Int("status", status),
			zap.String("method", ac.r.Method),
			zap.String("path", ac.path),
			zap.String("remote_ip", ac.r.RemoteAddr),
			zap.String("iss", ac.id.Issuer),
			zap.String("sub", ac.id.Subject),
			zap.String("azp", ac.id.AuthorizedParty),
			zap.String("client_id", ac.id.ClientID),
		)
		if ac.refused != nil {
			fields = append(fields, zap.String("reason", ac.refused.Reason))
		} else {
			fields = append(fields,
				zap.String("action", string(ac.call.Action)),
				zap.String("resource", string(ac.call.Resource)),
				zap.String("role", d.Role), zap.String("policy", d.Policy), zap.String("sid", d.Sid),
				zap.String("reason", d.Reason()))
		}
		c.Write(fields...)
	}
	f.sendAudit(ac, status)
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
