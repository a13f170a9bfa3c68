package caddyfedauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

var benchAlgs = []struct{ alg, kind string }{
	{"RS256", "rsa2048"}, {"ES256", "p256"}, {"EdDSA", "ed25519"},
}

// BenchmarkVerifyNew verifies a token the cache has not seen (the cache is
// off), signature and claims. Compare with BenchmarkJWTParse: same key,
// same token, jwx's own jwt.Parse.
func BenchmarkVerifyNew(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.alg, func(b *testing.B) {
			ti := newTestIssuer(b)
			k := ti.addKey(b, "k", a.alg, a.kind)
			f := provisionHandler(b, ti, `,"token_cache_size":-1`)
			tok := ti.token(b, k, ti.claims("fed-gw.tenant1"))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuers().verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWTParse is the baseline: a bare jwt.Parse with the same key.
func BenchmarkJWTParse(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(a.alg, func(b *testing.B) {
			ti := newTestIssuer(b)
			k := ti.addKey(b, "k", a.alg, a.kind)
			tok := []byte(ti.token(b, k, ti.claims("fed-gw.tenant1")))
			alg, _ := jwa.LookupSignatureAlgorithm(a.alg)
			pub := k.priv.Public()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwt.Parse(tok, jwt.WithKey(alg, pub)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached verifies a token already in the cache.
func BenchmarkVerifyCached(b *testing.B) {
	ti := newTestIssuer(b)
	k := ti.addKey(b, "k", "RS256", "rsa2048")
	f := provisionHandler(b, ti, "")
	tok := ti.token(b, k, ti.claims("fed-gw.tenant1"))
	ctx := context.Background()
	if _, err := f.issuers().verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuers().verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// reusedBody is a request body the benchmark rewinds each iteration.
type reusedBody struct{ bytes.Reader }

func (*reusedBody) Close() error { return nil }

// benchAuditLoggerTo is a JSON logger to w at DEBUG and up, so that every
// decision is written, allowed reads too: the most the audit log costs.
// Caddy's default log (INFO) writes no entry for an allowed read.
func benchAuditLoggerTo(w io.Writer) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(w), zapcore.DebugLevel))
}

// benchHandler provisions fed_oidc as the handler benchmarks run it, with
// the gateway credential and, withIAM, the objects of iamfixture (the
// token's sub, client-123, is the seed role's principal),
// and the audit logger off.
func benchHandler(t testing.TB, ti *testIssuer, withIAM bool) *FedOIDC {
	t.Helper()
	user, pass := writeGatewaySecret(t, "admin", "gateway-password")
	extra := fmt.Sprintf(`,"gateway_basic_auth":{"user_file":%q,"password_file":%q}`, user, pass)
	if withIAM {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "iam.yaml"), iamfixture.Objects(ti.URL(), "client-123"), 0o600); err != nil {
			t.Fatal(err)
		}
		extra += fmt.Sprintf(`,"iam":%q`, dir)
	}
	f := provisionHandler(t, ti, extra)
	// As in a server whose gateway proxy has transport fed_oidc.
	gatewayTransports.add(f.server, 1)
	t.Cleanup(func() { gatewayTransports.add(f.server, -1) })
	f.useLogger(zap.NewNop())
	return f
}

// benchToken is the Authorization value of the benchmarks' token, which
// holds four roles of iamfixture.Objects.
func benchToken(t testing.TB, ti *testIssuer, k *testKey) string {
	claims := ti.claims("fed-gw.tenant1")
	claims["groups"] = iamfixture.Groups
	return "Bearer " + ti.token(t, k, claims)
}

// benchRequest returns a function that sends f one request as Caddy's
// server would hand it over (caddyhttp.PrepareRequest: the replacer,
// whose {http.request.uuid} the audit event carries), the same each time
// but for a new request id.
func benchRequest(t testing.TB, f *FedOIDC, authz, method, target string, body []byte, next caddyhttp.Handler) func() {
	w := &discardWriter{h: http.Header{}}
	req := caddyhttp.PrepareRequest(httptest.NewRequest(method, target, nil), caddy.NewReplacer(), w, nil)
	rd := new(reusedBody)
	return func() {
		caddyhttp.SetVar(req.Context(), "uuid", nil)
		req.Header.Set("Authorization", authz)
		rd.Reset(body)
		req.Body, req.ContentLength = rd, int64(len(body))
		if err := f.ServeHTTP(w, req, next); err != nil {
			t.Fatal(err)
		}
	}
}

// answerOK stands in for reverse_proxy: it answers 200.
var answerOK = caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

// The requests of the handler benchmarks: a list and a deploy.
var benchRequests = []struct{ name, method, target string }{
	{"GET", "GET", "/system/functions?namespace=staging"},
	{"PUT-4KiB", "PUT", "/system/functions"},
}

// BenchmarkHandlerCached is the whole ServeHTTP for a reused token on an
// allowed path, with the credential swap and placeholders, next a handler
// that only answers 200: a list (GET /system/functions?namespace=staging)
// and a deploy (PUT /system/functions, 4 KiB body), without IAM and with
// it (iamfixture: the seed's staging-rw and 100 team roles and policies). With IAM, the decision's audit line is logged at
// Caddy's default level (audit-log), or the audit logger is off, as a
// log config excluding http.handlers.fed_oidc.audit has it (no-audit-log).
func BenchmarkHandlerCached(b *testing.B) {
	ti := newTestIssuer(b)
	k := ti.addKey(b, "k", "RS256", "rsa2048")
	tok := benchToken(b, ti, k)
	deploy := iamfixture.DeployBody()
	for _, h := range []struct {
		name     string
		iam      bool
		auditLog bool
	}{{"iam-off", false, false}, {"iam-on/no-audit-log", true, false}, {"iam-on/audit-log", true, true}} {
		f := benchHandler(b, ti, h.iam)
		if h.auditLog {
			f.useLogger(benchAuditLoggerTo(io.Discard))
		}
		for _, rq := range benchRequests {
			var body []byte
			if rq.method == "PUT" {
				body = deploy
			}
			b.Run(rq.name+"/"+h.name, func(b *testing.B) {
				serve := benchRequest(b, f, tok, rq.method, rq.target, body, answerOK)
				serve() // verifies the token, and matches its roles
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					serve()
				}
				cpu.report(b)
			})
		}
	}
}

// cpuClock measures the process's CPU time over a benchmark loop. ns/op
// is wall time, which grows while other processes hold the cores of a
// shared machine; CPU time does not, though it counts the GC's work on
// every thread, which is the handler's too.
type cpuClock struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuClock {
	t, ok := processCPU()
	return cpuClock{t, ok}
}

// report gives the CPU time per iteration as cpu-ns/op.
func (c cpuClock) report(b *testing.B) {
	if t, ok := processCPU(); ok && c.ok && b.N > 0 {
		b.ReportMetric(float64(t-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// TestHandlerIAMAllocations holds what BenchmarkHandlerCached reports
// without a timed test: with IAM and the audit log off, a cached token's
// list costs two allocations more than without IAM (the access check and
// the resource string), and the audit line is built only when logged:
// also when the log that is on excludes the audit logger by name, as
// `log default { exclude http.handlers.fed_oidc.audit }` does.
func TestHandlerIAMAllocations(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k", "RS256", "rsa2048")
	tok := benchToken(t, ti, k)
	allocs := func(f *FedOIDC) float64 {
		serve := benchRequest(t, f, tok, "GET", "/system/functions?namespace=staging", nil, answerOK)
		serve()
		return testing.AllocsPerRun(100, serve)
	}
	off := allocs(benchHandler(t, ti, false))
	f := benchHandler(t, ti, true)
	if on := allocs(f); on > off+2 {
		t.Errorf("with IAM %.0f allocations, without %.0f: want at most 2 more", on, off)
	}
	var logged bytes.Buffer
	f.useLogger(zap.New(excludeCore{benchAuditLoggerTo(&logged).Core(), "audit"}))
	if on := allocs(f); on > off+2 || logged.Len() > 0 {
		t.Errorf("audit logger excluded by name: %.0f allocations, without IAM %.0f; logged %q", on, off, logged.String())
	}
	f.useLogger(benchAuditLoggerTo(&logged))
	allocs(f)
	if !strings.Contains(logged.String(), `"request_id":"`) {
		t.Errorf("audit logger on: logged %q", logged.String())
	}
}

// excludeCore drops the entries of one logger, by name, as a Caddy log's
// exclude does (caddy.filteringCore): Enabled still says yes.
type excludeCore struct {
	zapcore.Core
	name string
}

func (c excludeCore) With(f []zapcore.Field) zapcore.Core { return excludeCore{c.Core.With(f), c.name} }

func (c excludeCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.LoggerName == c.name {
		return ce
	}
	return c.Core.Check(e, ce)
}
