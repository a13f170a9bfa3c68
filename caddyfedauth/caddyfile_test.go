package caddyfedauth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestCaddyfileAdapt runs testdata/caddyfile_adapt/*.caddyfiletest: a
// Caddyfile, a line of dashes, then the JSON it adapts to or a substring
// of the error it must fail with.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no adapt tests found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			caddyfile, expected = strings.TrimSpace(caddyfile)+"\n", strings.TrimSpace(expected)
			if strings.HasPrefix(expected, "{") {
				if !caddytest.CompareAdapt(t, file, caddyfile, "caddyfile", expected) {
					t.Error("adapted JSON differs")
				}
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil || !strings.Contains(err.Error(), expected) {
				t.Errorf("got error %v, want one containing %q", err, expected)
			}
		})
	}
}

// TestValidate is what `caddy validate` does: adapt, then provision and
// validate every module. A bad config fails with the field named.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	user, pass := filepath.Join(dir, "user"), filepath.Join(dir, "pass")
	_ = os.WriteFile(user, []byte("admin\n"), 0o600)
	_ = os.WriteFile(pass, []byte("secret\n"), 0o600)
	for _, tc := range []struct {
		name, body, errHas string
	}{
		{"valid", `issuer https://idp.example.com
			audience a
			gateway_basic_auth ` + user + ` ` + pass, ""},
		{"valid loopback http issuer", "issuer http://127.0.0.1:9999\naudience a", ""},
		{"missing issuer", "audience a", "issuer: required"},
		{"missing audience", "issuer https://idp.example.com", "audience: at least one is required"},
		{"unparsable issuer", "issuer https://idp.example.com/%zz\naudience a", "issuer: parsing"},
		{"relative issuer", "issuer idp.example.com\naudience a", "issuer: \"idp.example.com\" is not an absolute http(s) URL"},
		{"plain http issuer", "issuer http://idp.example.com\naudience a", "issuer: \"http://idp.example.com\": plain http is allowed only to a loopback address"},
		{"issuer with query", "issuer https://idp.example.com/?x=1\naudience a", "issuer: \"https://idp.example.com/?x=1\" must not have a query"},
		{"bad jwks_url", "issuer https://idp.example.com\naudience a\njwks_url ftp://x", "jwks_url:"},
		{"HMAC algorithm", "issuer https://idp.example.com\naudience a\nalgorithms RS256 HS256", `algorithms: "HS256" is not an accepted signature algorithm`},
		{"alg none", "issuer https://idp.example.com\naudience a\nalgorithms none", `algorithms: "none" is not an accepted`},
		{"clock skew too large", "issuer https://idp.example.com\naudience a\nclock_skew 1h", "clock_skew:"},
		{"token size too small", "issuer https://idp.example.com\naudience a\nmax_token_size 10", "max_token_size:"},
		{"unreadable user file", "issuer https://idp.example.com\naudience a\ngateway_basic_auth " + filepath.Join(dir, "nope") + " " + pass, "gateway_basic_auth user_file: open " + filepath.Join(dir, "nope")},
		{"unreadable password file", "issuer https://idp.example.com\naudience a\ngateway_basic_auth " + user + " " + filepath.Join(dir, "nope"), "gateway_basic_auth password_file: open"},
		{"unreadable CA bundle", "issuer https://idp.example.com\naudience a\nca_bundle " + filepath.Join(dir, "ca.pem"), "ca_bundle:"},
		{"keys trusted for less than two refreshes", "issuer https://idp.example.com\naudience a\njwks_refresh_interval 1h\njwks_max_stale 90m", "jwks_max_stale: 1h30m0s is below twice jwks_refresh_interval (1h0m0s)"},
		{"long refresh interval stretches the default staleness bound", "issuer https://idp.example.com\naudience a\njwks_refresh_interval 20h", ""},
		{"realm with a quote", "issuer https://idp.example.com\naudience a\nrealm a\"b", "realm:"},
		{"valid require_typ and max_token_lifetime", "issuer https://idp.example.com\naudience a\nrequire_typ at+jwt JWT\nmax_token_lifetime 1h", ""},
		{"empty require_typ", "issuer https://idp.example.com\naudience a\nrequire_typ at+jwt \"\"", `require_typ: entry 1: "" must be printable ASCII without spaces`},
		{"require_typ with a space", "issuer https://idp.example.com\naudience a\nrequire_typ \"at+jwt JWT\"", `require_typ: entry 0: "at+jwt JWT" must be printable ASCII`},
		{"require_typ not ASCII", "issuer https://idp.example.com\naudience a\nrequire_typ at+jwté", `require_typ: entry 0: "at+jwté" must be printable ASCII`},
		{"negative max_token_lifetime", "issuer https://idp.example.com\naudience a\nmax_token_lifetime -1m", "max_token_lifetime: -1m0s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caddyfile := ":8443 {\n\tfed_oidc {\n" + tc.body + "\n\t}\n\treverse_proxy 127.0.0.1:1\n}\n"
			adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(adapted, &cfg); err != nil {
				t.Fatal(err)
			}
			err = caddy.Validate(&cfg)
			if tc.errHas == "" {
				if err != nil {
					t.Errorf("valid config refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("got %v, want an error containing %q", err, tc.errHas)
			}
		})
	}
}

// The shipped example must keep adapting as the module changes.
func TestCaddyfileExampleAdapts(t *testing.T) {
	data, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, nil)
	if err != nil {
		t.Fatalf("Caddyfile.example: %v", err)
	}
	if !strings.Contains(string(out), `"handler":"fed_oidc"`) {
		t.Error("Caddyfile.example has no fed_oidc handler")
	}
}

// Environment placeholders are expanded before the config is checked.
func TestEnvPlaceholders(t *testing.T) {
	t.Setenv("FEDAUTH_TEST_ISSUER", "https://idp.example.com/realms/x")
	t.Setenv("FEDAUTH_TEST_AUD", "fed-gw.tenant7")
	f := FedOIDC{Issuer: "{env.FEDAUTH_TEST_ISSUER}", Audiences: []string{"{env.FEDAUTH_TEST_AUD}"}}
	startedContext(t, func(ctx caddy.Context) error { return f.Provision(ctx) })
	defer f.Cleanup()
	if f.Issuer != "https://idp.example.com/realms/x" || f.Audiences[0] != "fed-gw.tenant7" {
		t.Errorf("placeholders not expanded: issuer %q, audience %q", f.Issuer, f.Audiences)
	}
	if _, ok := f.issuers().only().audiences["fed-gw.tenant7"]; !ok {
		t.Error("the verifier does not use the expanded audience")
	}
}

// `caddy validate` provisions the config but never starts it: it must not
// fetch from the issuer (which may be unreachable from where it runs, and
// whose failure would be logged as an error of a valid config).
func TestValidateFetchesNothing(t *testing.T) {
	ti := newTestIssuer(t)
	ti.addKey(t, "k1", "ES256", "p256")
	caddyfile := ":8443 {\n\tfed_oidc {\n\t\tissuer " + ti.URL() + "\n\t\taudience a\n\t}\n\treverse_proxy 127.0.0.1:1\n}\n"
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	// A fetch would have been started during provisioning; give one
	// every chance to arrive.
	time.Sleep(300 * time.Millisecond)
	if n := ti.discHits.Load() + ti.jwksHits.Load(); n != 0 {
		t.Errorf("validation made %d requests to the issuer", n)
	}
}

// Every option of the parser's table is in the syntax comment, in
// all_options.caddyfiletest and in the README's option table, so that a
// new one cannot skip them.
func TestCaddyfileOptionsDocumented(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	source, allOptions, readme := read("caddyfile.go"), read("testdata/caddyfile_adapt/all_options.caddyfiletest"), read("../README.md")
	check := func(opt, indent string) {
		if !strings.Contains(source, "//"+indent+opt) {
			t.Errorf("%s is not in UnmarshalCaddyfile's syntax comment", opt)
		}
		if !strings.Contains(allOptions, "\n"+indent+opt) {
			t.Errorf("%s is not in all_options.caddyfiletest", opt)
		}
		if !strings.Contains(readme, "`"+opt) {
			t.Errorf("%s is not in README.md", opt)
		}
	}
	for opt := range caddyfileOptions {
		check(opt, "\t\t")
		if !strings.Contains(readme, "\n| `"+opt) {
			t.Errorf("%s has no row in README.md's option table", opt)
		}
	}
	for opt := range gatewayBasicAuthOptions {
		check(opt, "\t\t\t")
	}
	for opt := range auditWebhookOptions {
		check(opt, "\t\t\t")
	}
	for opt := range systemIssuerOptions {
		check(opt, "\t\t\t")
	}
}
