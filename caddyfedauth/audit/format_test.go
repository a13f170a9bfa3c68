package audit

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"
)

// commercialExample is the body of the commercial IAM audit webhook as its
// docs show it (shared/reference/openfaas-api.md §3.7), compacted.
const commercialExample = `[{"actor":{"sub":"fed:system:serviceaccount:openfaas:cron-connector","issuer":"https://gw.exit.welteki.dev","fed_issuer":"https://kubernetes.default.svc.cluster.local"},` +
	`"path":"/system/namespaces","method":"GET","actions":["Namespace:List"],"response_code":200,"time":"2023-12-04T17:09:28.710118072Z"}]`

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// The docs' event, sent through the sender, arrives byte for byte as the
// docs print it, with the commercial headers and a signature a receiver
// verifies with the secret (and with no other key).
func TestCommercialFormat(t *testing.T) {
	rc := newReceiver(t, nil)
	s, c, _ := testSender(t, rc.URL, Config{})
	started, err := time.Parse(time.RFC3339Nano, "2023-12-04T17:09:28.710118072Z")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Send(Event{
		Actor: Actor{
			Sub:       "fed:system:serviceaccount:openfaas:cron-connector",
			Issuer:    "https://gw.exit.welteki.dev",
			FedIssuer: "https://kubernetes.default.svc.cluster.local",
		},
		Path: "/system/namespaces", Method: http.MethodGet, Actions: []string{"Namespace:List"},
		ResponseCode: http.StatusOK, Time: started.In(time.FixedZone("CET", 3600)),
	}) {
		t.Fatal("Send refused an event on an empty queue")
	}
	mustClose(t, s)
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	if string(d.body) != commercialExample {
		t.Errorf("body:\n got %s\nwant %s", d.body, commercialExample)
	}
	for name, want := range map[string]string{
		"Content-Type":     "application/json",
		"X-Openfaas-Event": "api_access",
	} {
		if v := d.header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("header %s = %q, want [%q]", name, v, want)
		}
	}
	if id := d.header.Get("X-Openfaas-Delivery"); !uuidV4.MatchString(id) {
		t.Errorf("X-Openfaas-Delivery %q is not a lowercase UUID v4", id)
	}
	sig := d.header.Get("X-Openfaas-Signature-256")
	if !Verify(testSecret, d.body, sig) {
		t.Errorf("signature %q does not verify with the secret", sig)
	}
	if Verify([]byte("another-secret"), d.body, sig) {
		t.Errorf("signature %q verifies with another secret", sig)
	}
	c.want(t, 1, 0, 0)
}

// A receiver's Go type written for the commercial webhook decodes our
// events unchanged; our fields are there for receivers that want them.
// An unauthenticated request's actor is {}, and actions are [] not null.
func TestEventFieldsAlongside(t *testing.T) {
	type commercialActor struct {
		Sub       string `json:"sub"`
		Name      string `json:"name"`
		Issuer    string `json:"issuer"`
		FedIssuer string `json:"fed_issuer"`
	}
	type commercialEvent struct {
		Actor        *commercialActor `json:"actor"`
		Path         string           `json:"path"`
		Method       string           `json:"method"`
		Actions      []string         `json:"actions"`
		ResponseCode int              `json:"response_code"`
		Time         time.Time        `json:"time"`
	}
	rc := newReceiver(t, nil)
	s, _, _ := testSender(t, rc.URL, Config{})
	full := Event{
		Actor:        Actor{Sub: "alice", Name: "Alice", Issuer: "https://idp.example", FedIssuer: "https://fed.example"},
		Path:         "/system/functions",
		Method:       http.MethodDelete,
		Actions:      []string{"Function:Delete"},
		ResponseCode: http.StatusForbidden,
		Time:         time.Date(2026, 12, 1, 11, 0, 0, 5, time.FixedZone("X", -7*3600)),
		RequestID:    "req-1", Resource: "prod:fn", Decision: "denied_no_match", Reason: "no role matched",
		Role: "r", Policy: "p", Sid: "s", DryRun: true, AZP: "ci", ClientID: "ci-client", RemoteAddr: "192.0.2.1:5555",
	}
	s.Send(full)
	s.Send(Event{Path: "/system/info", Method: http.MethodGet, ResponseCode: http.StatusUnauthorized, Decision: "unauthenticated"})
	mustClose(t, s)
	d := rc.next(t)

	var theirs []commercialEvent
	if err := json.Unmarshal(d.body, &theirs); err != nil || len(theirs) != 2 {
		t.Fatalf("commercial receiver type: %v, %d events: %s", err, len(theirs), d.body)
	}
	want := commercialEvent{
		Actor: &commercialActor{"alice", "Alice", "https://idp.example", "https://fed.example"},
		Path:  full.Path, Method: full.Method, Actions: full.Actions, ResponseCode: 403, Time: full.Time,
	}
	if e := theirs[0]; *e.Actor != *want.Actor || e.Path != want.Path || e.Method != want.Method ||
		!slices.Equal(e.Actions, want.Actions) || e.ResponseCode != want.ResponseCode || !e.Time.Equal(want.Time) {
		t.Errorf("commercial view = %+v (actor %+v), want %+v", e, *e.Actor, want)
	}

	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(d.body, &raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"time": `"2026-12-01T18:00:00.000000005Z"`, "request_id": `"req-1"`, "resource": `"prod:fn"`,
		"decision": `"denied_no_match"`, "reason": `"no role matched"`, "role": `"r"`, "policy": `"p"`, "sid": `"s"`,
		"dry_run": `true`, "azp": `"ci"`, "client_id": `"ci-client"`, "remote_addr": `"192.0.2.1:5555"`,
	} {
		if got := string(raw[0][key]); got != want {
			t.Errorf("full event %q = %s, want %s", key, got, want)
		}
	}
	if got := len(raw[0]); got != 17 {
		t.Errorf("full event has %d keys, want 17: %s", got, d.body)
	}
	for key, want := range map[string]string{"actor": `{}`, "actions": `[]`, "response_code": `401`} {
		if got := string(raw[1][key]); got != want {
			t.Errorf("unauthenticated event %q = %s, want %s", key, got, want)
		}
	}
	for _, key := range []string{"dry_run", "role", "request_id"} {
		if _, ok := raw[1][key]; ok {
			t.Errorf("unauthenticated event has empty field %q: %s", key, d.body)
		}
	}
}

// Every batch has its own delivery ID, a UUID v4; a retry resends the
// batch with the same ID, body and signature, so a receiver can
// deduplicate.
func TestDeliveryIDs(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	s, c, _ := testSender(t, rc.URL, Config{BatchSize: 1, MinBackoff: time.Millisecond})
	const batches = 50
	for i := range batches {
		s.Send(event(i))
	}
	mustClose(t, s)
	got := rc.deliveries()
	if len(got) != batches+1 {
		t.Fatalf("%d deliveries, want %d (one retry)", len(got), batches+1)
	}
	first, retry := got[0], got[1]
	for _, h := range []string{"X-Openfaas-Delivery", "X-Openfaas-Signature-256"} {
		if first.header.Get(h) != retry.header.Get(h) {
			t.Errorf("retry changed %s: %q, then %q", h, first.header.Get(h), retry.header.Get(h))
		}
	}
	if string(first.body) != string(retry.body) {
		t.Errorf("retry changed the body")
	}
	seen := map[string]bool{}
	for _, d := range got[1:] {
		id := d.header.Get("X-Openfaas-Delivery")
		if !uuidV4.MatchString(id) {
			t.Errorf("delivery ID %q is not a lowercase UUID v4", id)
		}
		if seen[id] {
			t.Errorf("delivery ID %q used for two batches", id)
		}
		seen[id] = true
	}
	c.want(t, batches, 0, 0)
}

func TestNewDeliveryIDFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := newDeliveryID()
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("newDeliveryID() = %q: malformed or repeated", id)
		}
		seen[id] = true
	}
}
