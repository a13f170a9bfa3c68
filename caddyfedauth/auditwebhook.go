package caddyfedauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/audit"
)

// AuditWebhook POSTs audit events of IAM decisions to a webhook, in the
// format of the commercial OpenFaaS gateway's (a JSON array of events,
// headers X-Openfaas-Event: api_access, X-Openfaas-Delivery and
// X-Openfaas-Signature-256), in batches, off the request path: a slow or
// dead receiver never delays a request. When the queue is full, events
// are dropped and counted (caddy_fed_oidc_audit_events_total).
type AuditWebhook struct {
	// The receiver: https, or http to a loopback address. Required.
	URL string `json:"url,omitempty"`

	// A file holding the HMAC-SHA256 key the body is signed with, as
	// X-Openfaas-Signature-256: sha256=<hex>. Read at provision (an
	// unreadable or empty file is a config error) and again for each
	// batch, so a rotated Kubernetes Secret applies without a reload.
	// Required.
	SecretFile string `json:"secret_file,omitempty"`

	// The request methods whose decisions are sent; denials are always
	// sent. "*" sends every decision. Default: PUT POST DELETE, as the
	// commercial gateway's auditing.httpVerbs.
	Methods []string `json:"methods,omitempty"`

	// The most events in one POST. Default: 100.
	BatchSize int `json:"batch_size,omitempty"`

	// The longest an event waits for its batch to fill. Default: 1s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	// How many events may wait for delivery. Default: 10000.
	QueueSize int `json:"queue_size,omitempty"`

	// The time limit of one POST. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// How often a batch is resent after a network error, 5xx or 429,
	// with exponential backoff capped at 30s. Default: 5.
	MaxRetries int `json:"max_retries,omitempty"`
}

var defaultAuditMethods = []string{http.MethodPut, http.MethodPost, http.MethodDelete}

func (a *AuditWebhook) validate() error {
	if a == nil {
		return nil
	}
	if a.URL == "" {
		return errors.New("url: required")
	}
	if err := audit.ValidateURL(a.URL); err != nil {
		return err
	}
	if a.SecretFile == "" {
		return errors.New("secret_file: required: receivers check each batch's signature")
	}
	for _, m := range a.Methods {
		if m != "*" && (m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t")) {
			return fmt.Errorf("methods: %q is not an upper-case HTTP method or *", m)
		}
	}
	if a.BatchSize < 0 || a.QueueSize < 0 || a.FlushInterval < 0 || a.Timeout < 0 {
		return errors.New("batch_size, queue_size, flush_interval and timeout must not be negative")
	}
	return nil
}

// auditSink is a handler's webhook: the pooled sender and what to send.
type auditSink struct {
	sender  *audit.Sender
	all     bool
	methods []string
	release func()
}

// auditSenders outlive a config reload, queue and all, like key sources.
var auditSenders = caddy.NewUsagePool()

type pooledSender struct{ *audit.Sender }

// Destruct flushes what is queued, for a while, when the last config
// using the sender is gone.
func (p pooledSender) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Close(ctx)
}

// openAuditSink acquires the sender for a's settings.
func openAuditSink(a *AuditWebhook, logger *zap.Logger) (*auditSink, error) {
	secret, err := readSecretFile(a.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("audit_webhook: secret_file: %w", err)
	}
	key, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	v, _, err := auditSenders.LoadOrNew(string(key), func() (caddy.Destructor, error) {
		var last atomic.Pointer[[]byte]
		last.Store(&secret)
		s, err := audit.New(audit.Config{
			URL: a.URL,
			Secret: func() []byte {
				// A secret mid-rotation (missing, empty) keeps the last one.
				if b, err := readSecretFile(a.SecretFile); err == nil {
					last.Store(&b)
				}
				return *last.Load()
			},
			QueueSize:     a.QueueSize,
			BatchSize:     a.BatchSize,
			FlushInterval: time.Duration(a.FlushInterval),
			Timeout:       time.Duration(a.Timeout),
			MaxRetries:    a.MaxRetries,
			Logger:        logger,
			OnResult: func(result string, n int) {
				fedMetrics.auditEvents.WithLabelValues(result).Add(float64(n))
			},
		})
		if err != nil {
			return nil, err
		}
		return pooledSender{s}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit_webhook: %w", err)
	}
	methods := a.Methods
	if methods == nil {
		methods = defaultAuditMethods
	}
	return &auditSink{
		sender:  v.(pooledSender).Sender,
		all:     slices.Contains(methods, "*"),
		methods: methods,
		release: func() { _, _ = auditSenders.Delete(string(key)) },
	}, nil
}

// sendAudit queues the event of ac for the webhook, if it wants it.
func (f *FedOIDC) sendAudit(ac *accessCheck, status int) {
	w := f.webhook
	if w == nil {
		return
	}
	d := ac.decision
	if d.Allowed() && !w.all && !slices.Contains(w.methods, ac.r.Method) {
		return
	}
	ev := audit.Event{
		Actor:        audit.Actor{Sub: ac.id.Subject, Issuer: ac.id.Issuer},
		Path:         ac.path,
		Method:       ac.r.Method,
		ResponseCode: status,
		Time:         ac.started,
		RequestID:    ac.requestID,
		Decision:     d.Outcome.String(),
		DryRun:       !f.enforce,
		AZP:          ac.id.AuthorizedParty,
		ClientID:     ac.id.ClientID,
		RemoteAddr:   ac.r.RemoteAddr,
	}
	if name, ok := ac.id.claims["name"].(string); ok {
		ev.Actor.Name = name
	}
	ev.Actor.FedIssuer = ac.id.fedIssuer()
	if ac.refused != nil {
		ev.Reason = ac.refused.Reason
	} else {
		ev.Actions = []string{string(ac.call.Action)}
		ev.Resource = string(ac.call.Resource)
		ev.Role, ev.Policy, ev.Sid = d.Role, d.Policy, d.Sid
		ev.Reason = ac.reason()
	}
	w.sender.Send(ev)
}

// closeAudit gives the sender back; the last user's release flushes it.
func (f *FedOIDC) closeAudit() {
	if f.webhook != nil {
		f.webhook.release()
	}
}
