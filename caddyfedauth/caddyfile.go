package caddyfedauth

import (
	"strconv"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterDirective("fed_oidc", parseCaddyfile)
	// Plugins are not in Caddy's default order; this spares users a
	// global `order` option. After basic_auth, before reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("fed_oidc", httpcaddyfile.After, "basic_auth")
}

// parseCaddyfile is RegisterHandlerDirective's wrapper minus the matcher:
// requests a matcher did not select would skip authentication, so one is
// refused. Route other traffic with handle blocks instead.
func parseCaddyfile(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	if matcherSet != nil {
		// ExtractMatcherSet rewound the dispenser: back on the directive,
		// so that the error names its file and line
		h.Next()
		return nil, h.Errf("fed_oidc takes no request matcher: requests it did not match would skip authentication; use handle blocks to route other traffic")
	}
	var f FedOIDC
	if err := f.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return h.NewRoute(nil, &f), nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	fed_oidc {
//		issuer <url>
//		audience <audience...>
//		accept_azp
//		jwks_url <url>
//		ca_bundle <pem_file>
//		algorithms <alg...>
//		clock_skew <duration>
//		require_typ <typ...>
//		max_token_lifetime <duration>
//		max_token_size <bytes>
//		token_cache_size <entries>
//		jwks_refresh_interval <duration>
//		jwks_min_refresh_interval <duration>
//		jwks_max_stale <duration>
//		allow_invoke
//		gateway_basic_auth <user_file> <password_file> {
//			reload_interval <duration>
//		}
//		realm <realm>
//		iam <file_or_dir>
//		iam_mode enforce|dry_run
//		iam_reload_interval <duration>
//		default_namespace <namespace>
//		max_body_size <size>
//		audit_webhook <url> {
//			secret_file <file>
//			methods <method...>|*
//			batch_size <events>
//			flush_interval <duration>
//			queue_size <events>
//			timeout <duration>
//			max_retries <n>
//		}
//		system_issuer <url> {
//			signing_key_file <pem_file>
//			previous_key_file <pem_file>
//			token_expiry <duration>
//			reload_interval <duration>
//		}
//	}
//
// `audience`, `algorithms` and `require_typ` may be repeated to add more
// values.
func (f *FedOIDC) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		opt := d.Val()
		parse, ok := caddyfileOptions[opt]
		if !ok {
			return d.Errf("unrecognized fed_oidc subdirective '%s'%s", opt, didYouMean(opt, caddyfileOptions))
		}
		if seen[opt] && opt != "audience" && opt != "algorithms" && opt != "require_typ" {
			return d.Errf("cannot re-declare %s", opt)
		}
		seen[opt] = true
		if err := parse(d, f); err != nil {
			return err
		}
	}
	return nil
}

// caddyfileOptions parses each fed_oidc subdirective, with the dispenser
// on its name. Its keys are the one list of the option names.
var caddyfileOptions = map[string]func(d *caddyfile.Dispenser, f *FedOIDC) error{
	"issuer":       func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.Issuer) },
	"jwks_url":     func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.JWKSURL) },
	"ca_bundle":    func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.CABundle) },
	"realm":        func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.Realm) },
	"audience":     func(d *caddyfile.Dispenser, f *FedOIDC) error { return listArg(d, &f.Audiences) },
	"algorithms":   func(d *caddyfile.Dispenser, f *FedOIDC) error { return listArg(d, &f.Algorithms) },
	"accept_azp":   func(d *caddyfile.Dispenser, f *FedOIDC) error { return boolFlag(d, &f.AcceptAZP) },
	"allow_invoke": func(d *caddyfile.Dispenser, f *FedOIDC) error { return boolFlag(d, &f.AllowInvoke) },
	"clock_skew":   func(d *caddyfile.Dispenser, f *FedOIDC) error { return durationArg(d, &f.ClockSkew) },
	"require_typ":  func(d *caddyfile.Dispenser, f *FedOIDC) error { return listArg(d, &f.RequireTyp) },
	"max_token_lifetime": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		return durationArg(d, &f.MaxTokenLifetime)
	},
	"jwks_refresh_interval": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		return durationArg(d, &f.JWKSRefreshInterval)
	},
	"jwks_min_refresh_interval": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		return durationArg(d, &f.JWKSMinRefreshInterval)
	},
	"jwks_max_stale":      func(d *caddyfile.Dispenser, f *FedOIDC) error { return durationArg(d, &f.JWKSMaxStale) },
	"max_token_size":      func(d *caddyfile.Dispenser, f *FedOIDC) error { return intArg(d, &f.MaxTokenSize) },
	"token_cache_size":    func(d *caddyfile.Dispenser, f *FedOIDC) error { return intArg(d, &f.TokenCacheSize) },
	"iam":                 func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.IAM) },
	"iam_mode":            func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.IAMMode) },
	"iam_reload_interval": func(d *caddyfile.Dispenser, f *FedOIDC) error { return durationArg(d, &f.IAMReloadInterval) },
	"default_namespace":   func(d *caddyfile.Dispenser, f *FedOIDC) error { return oneArg(d, &f.DefaultNamespace) },
	"max_body_size":       func(d *caddyfile.Dispenser, f *FedOIDC) error { return sizeArg(d, &f.MaxBodySize) },
	"audit_webhook": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		a := new(AuditWebhook)
		if err := oneArg(d, &a.URL); err != nil {
			return d.Errf("audit_webhook takes one argument, the receiver's URL")
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			parse, ok := auditWebhookOptions[d.Val()]
			if !ok {
				return d.Errf("unrecognized audit_webhook subdirective '%s'%s", d.Val(), didYouMean(d.Val(), auditWebhookOptions))
			}
			if err := parse(d, a); err != nil {
				return err
			}
		}
		f.AuditWebhook = a
		return nil
	},
	"system_issuer": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		si := new(SystemIssuer)
		if err := oneArg(d, &si.URL); err != nil {
			return d.Errf("system_issuer takes one argument, the gateway's public URL")
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			parse, ok := systemIssuerOptions[d.Val()]
			if !ok {
				return d.Errf("unrecognized system_issuer subdirective '%s'%s", d.Val(), didYouMean(d.Val(), systemIssuerOptions))
			}
			if err := parse(d, si); err != nil {
				return err
			}
		}
		f.SystemIssuer = si
		return nil
	},
	"gateway_basic_auth": func(d *caddyfile.Dispenser, f *FedOIDC) error {
		ga := new(GatewayBasicAuth)
		if !d.Args(&ga.UserFile, &ga.PasswordFile) || d.NextArg() {
			return d.Errf("gateway_basic_auth takes two arguments: <user_file> <password_file>")
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			parse, ok := gatewayBasicAuthOptions[d.Val()]
			if !ok {
				return d.Errf("unrecognized gateway_basic_auth subdirective '%s'%s", d.Val(), didYouMean(d.Val(), gatewayBasicAuthOptions))
			}
			if err := parse(d, ga); err != nil {
				return err
			}
		}
		f.GatewayBasicAuth = ga
		return nil
	},
}

// auditWebhookOptions parses the subdirectives of audit_webhook.
var auditWebhookOptions = map[string]func(d *caddyfile.Dispenser, a *AuditWebhook) error{
	"secret_file":    func(d *caddyfile.Dispenser, a *AuditWebhook) error { return oneArg(d, &a.SecretFile) },
	"methods":        func(d *caddyfile.Dispenser, a *AuditWebhook) error { return listArg(d, &a.Methods) },
	"batch_size":     func(d *caddyfile.Dispenser, a *AuditWebhook) error { return intArg(d, &a.BatchSize) },
	"queue_size":     func(d *caddyfile.Dispenser, a *AuditWebhook) error { return intArg(d, &a.QueueSize) },
	"max_retries":    func(d *caddyfile.Dispenser, a *AuditWebhook) error { return intArg(d, &a.MaxRetries) },
	"flush_interval": func(d *caddyfile.Dispenser, a *AuditWebhook) error { return durationArg(d, &a.FlushInterval) },
	"timeout":        func(d *caddyfile.Dispenser, a *AuditWebhook) error { return durationArg(d, &a.Timeout) },
}

// systemIssuerOptions parses the subdirectives of system_issuer.
var systemIssuerOptions = map[string]func(d *caddyfile.Dispenser, si *SystemIssuer) error{
	"signing_key_file":  func(d *caddyfile.Dispenser, si *SystemIssuer) error { return oneArg(d, &si.SigningKeyFile) },
	"previous_key_file": func(d *caddyfile.Dispenser, si *SystemIssuer) error { return oneArg(d, &si.PreviousKeyFile) },
	"token_expiry":      func(d *caddyfile.Dispenser, si *SystemIssuer) error { return durationArg(d, &si.TokenExpiry) },
	"reload_interval":   func(d *caddyfile.Dispenser, si *SystemIssuer) error { return durationArg(d, &si.ReloadInterval) },
}

// gatewayBasicAuthOptions parses the subdirectives of gateway_basic_auth.
var gatewayBasicAuthOptions = map[string]func(d *caddyfile.Dispenser, ga *GatewayBasicAuth) error{
	"reload_interval": func(d *caddyfile.Dispenser, ga *GatewayBasicAuth) error {
		return durationArg(d, &ga.ReloadInterval)
	},
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.Args(dst) || d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// listArg appends the remaining arguments, at least one, to dst.
func listArg(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

// boolFlag sets an option that takes no argument.
func boolFlag(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("bad %s value %s: %v", opt, s, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("bad %s value %s: not an integer", opt, s)
	}
	*dst = n
	return nil
}

// sizeArg reads a byte size: 1048576, 1MiB, 512KB.
func sizeArg(d *caddyfile.Dispenser, dst *int64) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<40 {
		return d.Errf("bad %s value %s: not a size such as 1048576 or 1MiB", opt, s)
	}
	*dst = int64(n)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*FedOIDC)(nil)
