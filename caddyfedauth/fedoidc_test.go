package caddyfedauth

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestLogsNeverHoldSecrets sends tokens every way a client might (header,
// query string, on refused and allowed requests) and checks that neither
// a token nor the gateway credential reaches the log, while the reason
// and the token's subject do.
func TestLogsNeverHoldSecrets(t *testing.T) {
	ti := newTestIssuer(t)
	k := ti.addKey(t, "k1", "RS256", "rsa2048")
	dir := t.TempDir()
	user, pass := filepath.Join(dir, "user"), filepath.Join(dir, "pass")
	_ = os.WriteFile(user, []byte("admin"), 0o600)
	_ = os.WriteFile(pass, []byte("gateway-password-42"), 0o600)
	f := provisionHandler(t, ti, fmt.Sprintf(`,"gateway_basic_auth":{"user_file":%q,"password_file":%q}`, user, pass))

	var logs bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	f.logger = zap.New(zapcore.NewCore(enc, zapcore.AddSync(&logs), zapcore.DebugLevel))

	good := ti.token(t, k, ti.claims("fed-gw.tenant1"))
	expiredClaims := ti.claims("fed-gw.tenant1")
	expiredClaims["exp"] = time.Now().Add(-time.Hour).Unix()
	expired := ti.token(t, k, expiredClaims)
	otherAud := ti.token(t, k, ti.claims("fed-gw.tenant2"))
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })

	for _, tc := range []struct{ path, auth string }{
		{"/ui/", "Bearer " + good},                  // valid token, refused path
		{"/system/functions", "Bearer " + expired},  // refused token
		{"/system/functions", "Bearer " + otherAud}, // verified signature, wrong audience
		{"/system/functions?access_token=" + good, ""},
		{"/system/../ui/?access_token=" + good, "Bearer " + good},
		{"/system/functions", "Bearer " + good}, // allowed
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		if err := f.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	for _, secret := range []string{good, expired, otherAud, strings.Split(good, ".")[2], "gateway-password-42", basicValue("admin", "gateway-password-42")} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret %.20q...:\n%s", secret, out)
		}
	}
	for _, want := range []string{`"reason":"path_denied"`, `"reason":"expired"`, `"reason":"wrong_audience"`, `"sub":"client-123"`, `"reason":"ambiguous_path"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
