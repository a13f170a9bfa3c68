package caddyfedauth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

// TestStatusRecorder: the status kept for the audit event is the one the
// client got, and the response reaches the client as if unwrapped, as
// with caddyhttp.NewResponseRecorder, which it replaces on that path.
func TestStatusRecorder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		want   int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0},
		{"body only", func(w http.ResponseWriter) { _, _ = w.Write([]byte("[]")) }, http.StatusOK},
		{"status, body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("not found"))
		}, http.StatusNotFound},
		{"a second status is dropped", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusInternalServerError)
		}, http.StatusAccepted},
		{"1xx, then the final status", func(w http.ResponseWriter) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
		}, http.StatusCreated},
		{"ReadFrom", func(w http.ResponseWriter) {
			_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("streamed"))
		}, http.StatusOK},
		{"status, then Flush", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusTeapot)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
			_, _ = w.Write([]byte("after"))
		}, http.StatusTeapot},
		{"Flush first: the client gets 200", func(w http.ResponseWriter) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
			w.WriteHeader(http.StatusNotFound)
		}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := httptest.NewRecorder()
			rec := &statusRecorder{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: got}}
			tc.handle(rec)
			if rec.status != tc.want {
				t.Errorf("status %d kept, want %d", rec.status, tc.want)
			}
			if tc.name == "Flush first: the client gets 200" {
				// Caddy's recorder drops a flush before the status.
				if got.Code != http.StatusOK || !got.Flushed {
					t.Errorf("client got %d, flushed %v", got.Code, got.Flushed)
				}
				return
			}
			want := httptest.NewRecorder()
			rr := caddyhttp.NewResponseRecorder(want, nil, nil)
			tc.handle(rr)
			if rr.Status() != tc.want {
				t.Errorf("Caddy's recorder kept %d", rr.Status())
			}
			if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Flushed != want.Flushed {
				t.Errorf("client got %d %q flushed %v, through Caddy's recorder %d %q flushed %v",
					got.Code, got.Body, got.Flushed, want.Code, want.Body, want.Flushed)
			}
		})
	}
}

// TestStatusRecorderHijack: an upgrade, as reverse_proxy does it for
// websockets (101, then Hijack), takes the connection over through the
// recorder, and 101 is the status kept.
func TestStatusRecorderHijack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		rec := &statusRecorder{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "test")
		rec.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(rec).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("upgraded")
		_ = brw.Flush()
		if rec.status != http.StatusSwitchingProtocols {
			t.Errorf("status %d kept", rec.status)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusSwitchingProtocols || string(b) != "upgraded" {
		t.Errorf("got %d %q, want 101 and the hijacker's bytes", resp.StatusCode, b)
	}
}

// TestAuditKeepsTheStatusAnswered: through the handler with IAM, the audit
// line has the status next answered, the request's id and what decided.
func TestAuditKeepsTheStatusAnswered(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k", "RS256", "rsa2048")
	f := benchHandler(t, ti, true)
	core, logs := observer.New(zapcore.InfoLevel)
	f.useLogger(zap.New(core))
	created := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	benchRequest(t, f, benchToken(t, ti, k), "PUT", "/system/functions", iamfixture.DeployBody(), created)()
	entries := logs.FilterMessage("decision").All()
	if len(entries) != 1 {
		t.Fatalf("%d audit lines", len(entries))
	}
	got := entries[0].ContextMap()
	for key, want := range map[string]any{
		"status": int64(http.StatusCreated), "decision": "allowed", "action": "Function:Update",
		"resource": "staging:fn", "method": "PUT", "path": "/system/functions", "sub": "client-123",
		"reason": "allowed by role staging-staff-deployers, policy staging-rw, statement 1-rw-staging",
	} {
		if got[key] != want {
			t.Errorf("%s: %#v, want %#v", key, got[key], want)
		}
	}
	if id, _ := got["request_id"].(string); len(id) != 36 {
		t.Errorf("request_id %q is not a UUID", id)
	}
}
