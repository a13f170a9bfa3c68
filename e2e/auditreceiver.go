package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AuditReceiver is an audit webhook receiver written as one for the
// commercial OpenFaaS gateway would be: it checks X-Openfaas-Signature-256
// (sha256=<hex HMAC-SHA256 of the raw body>) before it decodes the body, a
// JSON array of events, and answers 401 to a bad signature. It records
// every batch, good or bad.
type AuditReceiver struct {
	URL    string
	secret []byte
	srv    *http.Server

	mu      sync.Mutex
	batches []AuditBatch
}

// AuditBatch is one POST the receiver got.
type AuditBatch struct {
	Header      http.Header
	Body        []byte
	SignatureOK bool
	Events      []AuditEvent // decoded only when the signature is good
	DecodeErr   error
}

// AuditEvent is an event as the commercial format defines it (actor,
// path, method, actions, response_code, time), with the fields fed_oidc
// adds alongside.
type AuditEvent struct {
	Actor struct {
		Sub       string `json:"sub"`
		Name      string `json:"name"`
		Issuer    string `json:"issuer"`
		FedIssuer string `json:"fed_issuer"`
	} `json:"actor"`
	Path         string    `json:"path"`
	Method       string    `json:"method"`
	Actions      []string  `json:"actions"`
	ResponseCode int       `json:"response_code"`
	Time         time.Time `json:"time"`

	Decision string `json:"decision"`
	Resource string `json:"resource"`
	Role     string `json:"role"`
	Policy   string `json:"policy"`
	Sid      string `json:"sid"`
	DryRun   bool   `json:"dry_run"`
}

// StartAuditReceiver listens on a free loopback port.
func StartAuditReceiver(secret string) (*AuditReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &AuditReceiver{URL: "http://" + ln.Addr().String() + "/audit", secret: []byte(secret)}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *AuditReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/audit" {
		http.Error(w, "POST /audit only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b := AuditBatch{Header: r.Header.Clone(), Body: body, SignatureOK: a.signed(body, r.Header.Get("X-Openfaas-Signature-256"))}
	if b.SignatureOK {
		b.DecodeErr = json.Unmarshal(body, &b.Events)
	}
	a.mu.Lock()
	a.batches = append(a.batches, b)
	a.mu.Unlock()
	switch {
	case !b.SignatureOK:
		http.Error(w, "bad signature", http.StatusUnauthorized)
	case b.DecodeErr != nil:
		http.Error(w, "not a JSON array of events", http.StatusBadRequest)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *AuditReceiver) signed(body []byte, header string) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(header, "sha256="))
	if err != nil || !strings.HasPrefix(header, "sha256=") {
		return false
	}
	m := hmac.New(sha256.New, a.secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Batches returns every batch received so far.
func (a *AuditReceiver) Batches() []AuditBatch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditBatch(nil), a.batches...)
}

// Events returns the events of the correctly signed batches so far.
func (a *AuditReceiver) Events() []AuditEvent {
	var out []AuditEvent
	for _, b := range a.Batches() {
		out = append(out, b.Events...)
	}
	return out
}

// Close stops the receiver.
func (a *AuditReceiver) Close() error {
	if err := a.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
