package caddyfedauth

import (
	"strconv"

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
		if seen[opt] && opt != "audience" && opt != "algorithms" && opt != "require_typ" {
			return d.Errf("cannot re-declare %s", opt)
		}
		seen[opt] = true
		switch opt {
		case "issuer":
			if err := oneArg(d, &f.Issuer); err != nil {
				return err
			}
		case "jwks_url":
			if err := oneArg(d, &f.JWKSURL); err != nil {
				return err
			}
		case "ca_bundle":
			if err := oneArg(d, &f.CABundle); err != nil {
				return err
			}
		case "realm":
			if err := oneArg(d, &f.Realm); err != nil {
				return err
			}
		case "audience":
			if err := listArg(d, &f.Audiences); err != nil {
				return err
			}
		case "algorithms":
			if err := listArg(d, &f.Algorithms); err != nil {
				return err
			}
		case "require_typ":
			if err := listArg(d, &f.RequireTyp); err != nil {
				return err
			}
		case "accept_azp":
			if d.NextArg() {
				return d.ArgErr()
			}
			f.AcceptAZP = true
		case "allow_invoke":
			if d.NextArg() {
				return d.ArgErr()
			}
			f.AllowInvoke = true
		case "clock_skew":
			if err := durationArg(d, opt, &f.ClockSkew); err != nil {
				return err
			}
		case "max_token_lifetime":
			if err := durationArg(d, opt, &f.MaxTokenLifetime); err != nil {
				return err
			}
		case "jwks_refresh_interval":
			if err := durationArg(d, opt, &f.JWKSRefreshInterval); err != nil {
				return err
			}
		case "jwks_min_refresh_interval":
			if err := durationArg(d, opt, &f.JWKSMinRefreshInterval); err != nil {
				return err
			}
		case "jwks_max_stale":
			if err := durationArg(d, opt, &f.JWKSMaxStale); err != nil {
				return err
			}
		case "max_token_size":
			if err := intArg(d, opt, &f.MaxTokenSize); err != nil {
				return err
			}
		case "token_cache_size":
			if err := intArg(d, opt, &f.TokenCacheSize); err != nil {
				return err
			}
		case "gateway_basic_auth":
			ga := new(GatewayBasicAuth)
			if !d.Args(&ga.UserFile, &ga.PasswordFile) || d.NextArg() {
				return d.Errf("gateway_basic_auth takes two arguments: <user_file> <password_file>")
			}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "reload_interval":
					if err := durationArg(d, "reload_interval", &ga.ReloadInterval); err != nil {
						return err
					}
				default:
					return d.Errf("unrecognized gateway_basic_auth subdirective '%s'", d.Val())
				}
			}
			f.GatewayBasicAuth = ga
		default:
			return d.Errf("unrecognized fed_oidc subdirective '%s'", opt)
		}
	}
	return nil
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

func durationArg(d *caddyfile.Dispenser, opt string, dst *caddy.Duration) error {
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

func intArg(d *caddyfile.Dispenser, opt string, dst *int) error {
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

// Interface guard
var _ caddyfile.Unmarshaler = (*FedOIDC)(nil)
