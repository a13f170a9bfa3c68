// Package audit delivers IAM audit events to a webhook in the format of
// the OpenFaaS IAM audit webhook, in signed batches, off the request path.
package audit

import "time"

// Actor is who made the request, as the commercial webhook names it. It
// is empty for an unauthenticated request.
type Actor struct {
	Sub       string `json:"sub,omitempty"`
	Name      string `json:"name,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	FedIssuer string `json:"fed_issuer,omitempty"`
}

// Event is one decision. The first six fields are the commercial format,
// in its order, so receivers written for it accept ours unchanged; ours
// ride alongside and are left out when empty. An Event never carries the
// token.
type Event struct {
	Actor        Actor    `json:"actor"`
	Path         string   `json:"path"`
	Method       string   `json:"method"`
	Actions      []string `json:"actions"` // sent as [] when nil
	ResponseCode int      `json:"response_code"`
	// Time is when the request started; sent in RFC 3339 with
	// nanoseconds, in UTC.
	Time time.Time `json:"time"`

	RequestID string `json:"request_id,omitempty"`
	Resource  string `json:"resource,omitempty"`
	// Decision is allowed, denied_by_statement, denied_no_match,
	// bad_request, ...
	Decision   string `json:"decision,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Role       string `json:"role,omitempty"`
	Policy     string `json:"policy,omitempty"`
	Sid        string `json:"sid,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	AZP        string `json:"azp,omitempty"`
	ClientID   string `json:"client_id,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
}

// The results passed to Config.OnResult.
const (
	// ResultSent: the receiver answered 2xx to the batch.
	ResultSent = "sent"
	// ResultFailed: the receiver refused the batch (a 3xx or 4xx other
	// than 429), or it still failed after MaxRetries retries, or it
	// could not be signed or encoded.
	ResultFailed = "failed"
	// ResultDropped: never delivered because the queue was full, Send
	// came after Close, or Close's context ended first.
	ResultDropped = "dropped"
)
