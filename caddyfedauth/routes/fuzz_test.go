package routes

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

var (
	knownReasons = map[string]bool{
		ReasonNotAPI: true, ReasonMethodNotAllowed: true, ReasonBadPath: true, ReasonMissingName: true,
		ReasonBadName: true, ReasonBadQuery: true, ReasonRepeatedQueryKey: true, ReasonNamespaceMismatch: true,
		ReasonNameMismatch: true, ReasonBadBody: true, ReasonAmbiguousBody: true,
	}
	knownStatus = map[int]bool{http.StatusBadRequest: true, http.StatusForbidden: true, http.StatusMethodNotAllowed: true}
)

// checkRequest holds Map to its contract for one request: no panic, the
// same answer twice, an *Error with a known status and reason or a Call
// the oracle agrees with, and a body that matters only when NeedsBody.
func checkRequest(t *testing.T, method, p, q string, body []byte) {
	t.Helper()
	c, err := Map(method, p, q, body, defNS)
	if c2, err2 := Map(method, p, q, body, defNS); c2 != c || (err == nil) != (err2 == nil) {
		t.Fatalf("Map not deterministic: %+v, %v then %+v, %v", c, err, c2, err2)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !knownStatus[e.Status] || !knownReasons[e.Reason] || c != (Call{}) {
			t.Fatalf("Map(%q, %q, %q, %q) = %+v, %#v", method, p, q, body, c, err)
		}
		return
	}
	if NeedsBody(method, p) {
		if !c.BodyRead {
			t.Fatalf("Map(%q, %q, %q, %q): NeedsBody, but the body was not read", method, p, q, body)
		}
	} else if c2, err2 := Map(method, p, q, nil, defNS); c.BodyRead || c2 != c || err2 != nil {
		t.Fatalf("Map(%q, %q, %q, %q): the body matters though NeedsBody is false", method, p, q, body)
	}
	if msg := checkOracle(method, p, q, body, defNS, c); msg != "" {
		t.Fatalf("Map(%q, %q, %q, %q) = %+v: %s", method, p, q, body, c, msg)
	}
}

// FuzzMap: any request, never a panic, never a Call the gateway's route
// table and the providers' readings do not give (see oracle_test.go).
func FuzzMap(f *testing.F) {
	for _, tc := range append(append([]mapCase{}, faasCLICases...), attackCases...) {
		f.Add(tc.method, tc.path, tc.query, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, method, p, q string, body []byte) {
		checkRequest(t, method, p, q, body)
	})
}

// TestMapAgainstOracle runs the fuzz properties over every combination of
// the methods, paths and queries that matter, with bodies made of the
// members the providers read, in every spelling.
func TestMapAgainstOracle(t *testing.T) {
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}
	paths := []string{
		"/system/functions", "/system/function/fn", "/system/function/fn.staging", "/system/scale-function/fn",
		"/system/scale-function/other", "/system/logs", "/system/secrets", "/system/namespaces",
		"/system/namespace/", "/system/namespace/staging", "/system/namespace/prod", "/system/info",
		"/system/alert", "/system/telemetry", "/system/functions/", "/system/x",
		"/function/fn", "/function/fn.staging", "/function/fn.v1.prod/x", "/function/fn./", "/function/.x",
		"/async-function/fn.staging", "/function/fn/%2e%2e/x", "/system/%66unctions", "/healthz",
	}
	queries := []string{
		"", "namespace=staging", "namespace=prod", "namespace=", "namespace=openfaas-fn",
		"namespace=staging&namespace=prod", "name=fn", "name=fn&namespace=staging", "name=other&namespace=prod",
		"name=fn&namespace=kube-system", "usage=1&namespace=staging", "namespace=staging;x", "NAMESPACE=prod",
	}
	members := []string{"service", "functionName", "serviceName", "name", "namespace", "Namespace", "NAMESPACE",
		"name\u017fpace", "Service", "FUNCTIONNAME", "servicename", "Name", "name_space", "labels"}
	values := []string{`"fn"`, `"other"`, `"staging"`, `"prod"`, `"openfaas-fn"`, `""`, `null`, `5`, `{"namespace":"prod"}`}
	rng := rand.New(rand.NewPCG(8, 3))
	bodies := []string{"", "{}", "null", "[]", `{"service":"fn"}{}`}
	for range 60 {
		var b strings.Builder
		b.WriteString("{")
		for i := range rng.IntN(4) + 1 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + members[rng.IntN(len(members))] + `":` + values[rng.IntN(len(values))])
		}
		b.WriteString("}")
		bodies = append(bodies, b.String())
	}
	n := 0
	for _, m := range methods {
		for _, p := range paths {
			for _, q := range queries {
				for _, body := range bodies {
					checkRequest(t, m, p, q, []byte(body))
					n++
				}
			}
		}
	}
	t.Logf("%d requests", n)
}
