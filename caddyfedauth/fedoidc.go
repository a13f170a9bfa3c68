// Package caddyfedauth implements fed_oidc, a Caddy HTTP handler that
// lets OIDC access tokens, instead of a shared admin password, reach an
// OpenFaaS gateway.
package caddyfedauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/routes"
)

func init() {
	caddy.RegisterModule(FedOIDC{})
}

// FedOIDC is the federated gateway handler. It accepts a request only
// with a valid short-lived OIDC access token from the configured issuer
// for one of the configured audiences, and only on the OpenFaaS gateway
// paths it allows: the /system/ API, and with allow_invoke also
// /function/ and /async-function/. It then removes the caller's token
// and what else the caller must not pass on (request trailers, Upgrade,
// and forwarding headers such as Forwarded and X-Real-IP) and, on the
// /system/ API, hands the gateway's own basic-auth credential to the
// reverse_proxy transport fed_oidc (GatewayTransport), which alone sends
// it, so that credential never leaves the cluster. Place it before
// `reverse_proxy <gateway> { transport fed_oidc }`. CONNECT is refused.
//
// Refusals follow RFC 6750: 401 with `WWW-Authenticate: Bearer ...` for
// a missing or invalid token, 403 (error="insufficient_scope") for a
// valid token on a path that is not allowed, 400 for a malformed request
// or an ambiguous path, 503 with Retry-After while the issuer's keys
// have never been fetched or the issuer has not answered for
// jwks_max_stale, and 425 Too Early (RFC 8470) for a request sent in TLS
// early data, which can be replayed. The reason goes to the log at debug
// level and to the metric caddy_fed_oidc_decisions_total.
//
// After a successful check these placeholders are set:
//
// - `{http.auth.user.id}`: the token's `sub`
// - `{http.auth.user.iss}`: its `iss`
// - `{http.auth.user.azp}`: its `azp`
// - `{http.auth.user.client_id}`: its `client_id`
// - `{http.auth.user.aud}`: its `aud`, comma-separated
// - `{http.auth.user.scope}`: its `scope`
//
// Global placeholders such as `{env.ISSUER}` are expanded once, at
// provisioning, in issuer, audience, jwks_url, ca_bundle and the
// gateway_basic_auth file names.
type FedOIDC struct {
	// The issuer URL, exactly as in the tokens' `iss` claim and the
	// issuer's discovery document. Must be https, or http on a loopback
	// address. Required.
	Issuer string `json:"issuer,omitempty"`

	// Accepted audiences: a token's `aud` must contain one of them.
	// Required.
	Audiences []string `json:"audience,omitempty"`

	// Also accept a token whose `azp` (authorized party, the client id)
	// is one of the audiences, for issuers such as Keycloak that put the
	// client id there rather than in `aud`. Default: false.
	AcceptAZP bool `json:"accept_azp,omitempty"`

	// The issuer's JWKS URL. Default: the `jwks_uri` of the issuer's
	// discovery document, {issuer}/.well-known/openid-configuration.
	JWKSURL string `json:"jwks_url,omitempty"`

	// A PEM file of CA certificates trusted, in addition to the system
	// roots, for the issuer's discovery and JWKS endpoints.
	CABundle string `json:"ca_bundle,omitempty"`

	// Signature algorithms accepted. Only asymmetric algorithms may be
	// listed. Default: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384
	// ES512 EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`

	// Tolerance for clock differences when checking exp, nbf and iat.
	// At most 5m. Default: 30s.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// Accepted token types: the JOSE header `typ` must be one of them,
	// compared as RFC 7515 §4.1.9 says (case-insensitive, "application/"
	// implied), so at+jwt (RFC 9068) matches application/at+jwt. When
	// set, a token without typ is refused. Default: not checked, since
	// some IdPs (Keycloak) send JWT on every token.
	RequireTyp []string `json:"require_typ,omitempty"`

	// The longest token lifetime accepted: a token whose exp - iat
	// exceeds it, or whose exp is further than it (plus clock_skew) from
	// now, is refused. Default: 0, not checked.
	MaxTokenLifetime caddy.Duration `json:"max_token_lifetime,omitempty"`

	// The largest token accepted, in bytes, checked before any parsing.
	// Default: 16384.
	MaxTokenSize int `json:"max_token_size,omitempty"`

	// How many verified tokens to remember, so a reused token is not
	// verified again until it expires. 0 means the default, a negative
	// value disables the cache. Default: 10000.
	TokenCacheSize int `json:"token_cache_size,omitempty"`

	// How often the issuer's keys are fetched again. Default: 5m.
	JWKSRefreshInterval caddy.Duration `json:"jwks_refresh_interval,omitempty"`

	// The least time between two fetches of the keys prompted by tokens
	// with an unknown `kid`: a key the issuer rotates in is picked up
	// this fast, while tokens with random kids cannot make more fetches.
	// Default: 30s.
	JWKSMinRefreshInterval caddy.Duration `json:"jwks_min_refresh_interval,omitempty"`

	// How long cached keys are trusted after the issuer last answered.
	// While the issuer is unreachable (network, HTTP or parse errors)
	// the cached keys keep working for this long; after that requests
	// get 503 rather than trusting keys the issuer may have withdrawn. At
	// least twice jwks_refresh_interval. Default: 24h, or twice
	// jwks_refresh_interval if that is longer.
	JWKSMaxStale caddy.Duration `json:"jwks_max_stale,omitempty"`

	// Also allow function invocations: /function/ and /async-function/.
	// Default: false, only the /system/ API.
	AllowInvoke bool `json:"allow_invoke,omitempty"`

	// The gateway's basic-auth credential, sent upstream on /system/ API
	// requests in place of the caller's token. Never on function
	// invocations: the gateway passes their headers on to the function.
	// Only the reverse_proxy transport fed_oidc sends it; no header or
	// placeholder holds it for other handlers. The caller's Authorization
	// header is always removed. Default: none.
	GatewayBasicAuth *GatewayBasicAuth `json:"gateway_basic_auth,omitempty"`

	// The realm named in WWW-Authenticate challenges. Default: openfaas.
	Realm string `json:"realm,omitempty"`

	// IAM for OpenFaaS: a file, or a directory of *.yaml, *.yml and
	// *.json files, of JwtIssuer, Policy and Role objects, as the
	// commercial product defines them (multi-document YAML and `kind:
	// List` too). With it, every request, function invocations included,
	// is decided by the roles the token matches and their policies'
	// statements: an explicit Deny wins, then an Allow, else it is
	// refused (403). Each JwtIssuer is one more trusted issuer; the flat
	// issuer options, when set, are one too. The files are checked for
	// changes every iam_reload_interval; a changed set that is invalid is
	// logged and the last good one kept. Default: none, and every valid
	// token may use every path allowed.
	IAM string `json:"iam,omitempty"`

	// IAM objects given in the config, in addition to those read from
	// iam: the JSON form of the same objects.
	IAMObjects iam.Objects `json:"iam_objects,omitempty"`

	// enforce refuses what IAM does not allow; dry_run only logs, audits
	// and counts it (outcome and mode labels of
	// caddy_fed_oidc_iam_decisions_total), and lets it through. Requests
	// that cannot be decided (ambiguous, oversized) are refused in both.
	// Default: enforce.
	IAMMode string `json:"iam_mode,omitempty"`

	// How often the files of iam are checked for changes. Default: 2s.
	IAMReloadInterval caddy.Duration `json:"iam_reload_interval,omitempty"`

	// The namespace a request that names none acts in: the provider's
	// default function namespace. Default: openfaas-fn.
	DefaultNamespace string `json:"default_namespace,omitempty"`

	// The largest request body IAM reads to find the names it decides
	// on (deploys, secrets, scaling), in bytes; a larger one gets 413.
	// Invocation bodies are never read. Default: 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// Audit events of IAM decisions, POSTed to a webhook in the format of
	// the commercial gateway's. Every decision is logged under the logger
	// http.handlers.fed_oidc.audit whether or not this is set.
	AuditWebhook *AuditWebhook `json:"audit_webhook,omitempty"`

	// The gateway as OpenFaaS's own issuer: its discovery document, keys
	// and the token exchange, for clients written for the commercial
	// gateway (go-sdk, faas-cli invoke) and for `caddy fed-oidc login`.
	// Needs iam.
	SystemIssuer *SystemIssuer `json:"system_issuer,omitempty"`

	snap       *atomic.Pointer[snapshot]
	rules      pathRules
	credential *upstreamCredential
	challenge  challenges
	iamMetrics *iamMetrics
	enforce    bool
	auditLog   *zap.Logger
	auditInfo  bool // auditLog writes entries at info: changes, invocations, denials
	auditDebug bool // and at debug: allowed reads
	webhook    *auditSink
	system     *systemIssuer
	ctx        caddy.Context
	cancel     context.CancelFunc
	watchers   *sync.WaitGroup
	// unwatch gives back the IAM watcher's place in watchers if the
	// config never started it (`caddy validate`), so Cleanup returns.
	unwatch func()
	logger  *zap.Logger

	// The Caddy server this handler runs in, checked once for a
	// GatewayTransport (transport.go).
	server         any
	transportCheck *sync.Once
}

// Defaults, applied in Provision.
const (
	defaultClockSkew          = 30 * time.Second
	maxClockSkew              = 5 * time.Minute
	defaultMaxTokenSize       = 16 << 10
	defaultTokenCacheSize     = 10000
	defaultJWKSRefresh        = 5 * time.Minute
	defaultJWKSMinRefresh     = 30 * time.Second
	defaultJWKSMaxStale       = 24 * time.Hour
	defaultCredentialReload   = 10 * time.Second
	defaultRealm              = "openfaas"
	defaultNamespace          = "openfaas-fn"
	defaultMaxBodySize        = 1 << 20
	defaultIAMReload          = 2 * time.Second
	minIAMReload              = 100 * time.Millisecond
	minMaxTokenSize           = 256
	maxMaxTokenSize           = 1 << 20
	minJWKSMinRefreshInterval = time.Second
)

// CaddyModule returns the Caddy module information.
func (FedOIDC) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.fed_oidc",
		New: func() caddy.Module { return new(FedOIDC) },
	}
}

// Provision applies defaults, checks the config, reads the gateway
// credential and starts fetching the issuer's keys in the background.
func (f *FedOIDC) Provision(ctx caddy.Context) error {
	f.useLogger(ctx.Logger())
	f.server = ctx.Value(caddyhttp.ServerCtxKey)
	f.transportCheck = new(sync.Once)
	repl := caddy.NewReplacer()
	f.Issuer = repl.ReplaceAll(f.Issuer, "")
	f.JWKSURL = repl.ReplaceAll(f.JWKSURL, "")
	f.CABundle = repl.ReplaceAll(f.CABundle, "")
	for i, a := range f.Audiences {
		f.Audiences[i] = repl.ReplaceAll(a, "")
	}
	if f.Algorithms == nil {
		f.Algorithms = slices.Clone(defaultAlgorithms)
	}
	if f.ClockSkew == 0 {
		f.ClockSkew = caddy.Duration(defaultClockSkew)
	}
	if f.MaxTokenSize == 0 {
		f.MaxTokenSize = defaultMaxTokenSize
	}
	if f.TokenCacheSize == 0 {
		f.TokenCacheSize = defaultTokenCacheSize
	}
	if f.JWKSRefreshInterval == 0 {
		f.JWKSRefreshInterval = caddy.Duration(defaultJWKSRefresh)
	}
	if f.JWKSMinRefreshInterval == 0 {
		f.JWKSMinRefreshInterval = caddy.Duration(defaultJWKSMinRefresh)
	}
	if f.JWKSMaxStale == 0 {
		f.JWKSMaxStale = caddy.Duration(max(defaultJWKSMaxStale, 2*time.Duration(f.JWKSRefreshInterval)))
	}
	if f.Realm == "" {
		f.Realm = defaultRealm
	}
	if ga := f.GatewayBasicAuth; ga != nil {
		ga.UserFile = repl.ReplaceAll(ga.UserFile, "")
		ga.PasswordFile = repl.ReplaceAll(ga.PasswordFile, "")
		if ga.ReloadInterval == 0 {
			ga.ReloadInterval = caddy.Duration(defaultCredentialReload)
		}
	}
	f.IAM = repl.ReplaceAll(f.IAM, "")
	if f.IAMMode == "" {
		f.IAMMode = iamEnforce
	}
	if f.IAMReloadInterval == 0 {
		f.IAMReloadInterval = caddy.Duration(defaultIAMReload)
	}
	if f.DefaultNamespace == "" {
		f.DefaultNamespace = defaultNamespace
	}
	if f.MaxBodySize == 0 {
		f.MaxBodySize = defaultMaxBodySize
	}
	if si := f.SystemIssuer; si != nil {
		si.URL = repl.ReplaceAll(si.URL, "")
		si.SigningKeyFile = repl.ReplaceAll(si.SigningKeyFile, "")
		si.PreviousKeyFile = repl.ReplaceAll(si.PreviousKeyFile, "")
		if si.TokenExpiry == 0 {
			si.TokenExpiry = caddy.Duration(defaultSystemTokenExpiry)
		}
		if si.ReloadInterval == 0 {
			si.ReloadInterval = caddy.Duration(defaultSystemKeyReload)
		}
	}
	// Check before starting anything, so a bad config starts nothing.
	if err := f.Validate(); err != nil {
		return err
	}

	if err := initMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	f.ctx = ctx
	f.enforce = f.IAMMode == iamEnforce
	// With IAM, invocations are decided by Function:Invoke.
	f.rules = pathRules{allowInvoke: f.AllowInvoke || f.iamEnabled()}
	f.challenge = newChallenges(f.Realm)
	f.watchers = new(sync.WaitGroup)
	f.snap = new(atomic.Pointer[snapshot])

	if ga := f.GatewayBasicAuth; ga != nil {
		f.credential = &upstreamCredential{userFile: ga.UserFile, passwordFile: ga.PasswordFile, logger: f.logger}
		if err := f.credential.load(); err != nil {
			return err
		}
	}

	if f.SystemIssuer != nil {
		var err error
		if f.system, err = newSystemIssuer(f.SystemIssuer, f.ClockSkew, f.logger); err != nil {
			return err
		}
	}
	files, digest, err := f.readIAM()
	if err != nil {
		f.closeSystem()
		return fmt.Errorf("iam: %w", err)
	}
	snap, err := f.buildSnapshot(files, digest, nil)
	if err != nil {
		f.closeSystem()
		if f.iamEnabled() {
			return fmt.Errorf("iam: %w", err)
		}
		return err
	}
	f.snap.Store(snap)
	life, cancel := context.WithCancel(ctx)
	f.cancel = cancel // from here on, Cleanup gives back what was taken
	if err := f.startBackground(ctx, life); err != nil {
		_ = f.Cleanup()
		return err
	}
	if snap.set != nil {
		f.iamMetrics = newIAMMetrics(f.IAMMode)
		f.logIAMLoaded("IAM objects loaded", snap.set)
	}
	return nil
}

// startBackground opens the audit webhook and starts the credential
// reload and, once the config runs, the IAM watcher.
func (f *FedOIDC) startBackground(ctx caddy.Context, life context.Context) error {
	if f.AuditWebhook != nil {
		var err error
		if f.webhook, err = openAuditSink(f.AuditWebhook, f.logger.Named("audit_webhook")); err != nil {
			return err
		}
	}
	if f.IAM != "" {
		f.watchers.Add(1)
		var once sync.Once
		f.unwatch = func() { once.Do(f.watchers.Done) }
		err := startWithConfig(ctx, func() {
			once.Do(func() { go f.watchIAM(life, time.Duration(f.IAMReloadInterval), f.watchers) })
		})
		if err != nil {
			f.unwatch()
			return err
		}
	}
	if f.credential != nil {
		go f.credential.watch(life, time.Duration(f.GatewayBasicAuth.ReloadInterval))
	}
	return nil
}

// useLogger logs refusals to logger and decisions to its audit child,
// http.handlers.fed_oidc.audit under Caddy.
func (f *FedOIDC) useLogger(logger *zap.Logger) {
	f.logger = logger
	f.auditLog = logger.Named("audit")
	// Caddy's log config is fixed for as long as the handler is
	// provisioned. A log that excludes the audit logger by name still
	// says its level is enabled; only Check tells.
	f.auditInfo = f.auditLog.Check(zapcore.InfoLevel, "decision") != nil
	f.auditDebug = f.auditLog.Check(zapcore.DebugLevel, "decision") != nil
}

// flatIssuerConfig is the verifier config of the flat issuer options.
func (f *FedOIDC) flatIssuerConfig() (issuerConfig, error) {
	c := issuerConfig{
		Issuer:           f.Issuer,
		Audiences:        f.Audiences,
		AcceptAZP:        f.AcceptAZP,
		Algorithms:       f.Algorithms,
		RequireTyp:       f.RequireTyp,
		ClockSkew:        f.ClockSkew,
		MaxTokenLifetime: f.MaxTokenLifetime,
	}
	var err error
	c.Source, err = f.sourceSettings(f.Issuer, "", f.JWKSURL, f.CABundle)
	if err != nil {
		return c, fmt.Errorf("ca_bundle: %w", err)
	}
	return c, nil
}

// Validate checks the configuration; it does no I/O.
func (f *FedOIDC) Validate() error {
	switch {
	case f.Issuer == "" && !f.iamEnabled():
		return errors.New("issuer: required")
	case f.Issuer != "":
		c := issuerConfig{Issuer: f.Issuer, Audiences: f.Audiences, Algorithms: f.Algorithms,
			RequireTyp: f.RequireTyp, Source: keySourceSettings{JWKSURL: f.JWKSURL}}
		if field, err := c.check(); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	case len(f.Audiences) > 0 || f.JWKSURL != "" || f.CABundle != "" || f.AcceptAZP || len(f.RequireTyp) > 0:
		return errors.New("audience, jwks_url, ca_bundle, accept_azp and require_typ are settings of the flat issuer: set issuer too, or put them in a JwtIssuer")
	}
	if f.AllowInvoke && f.iamEnabled() {
		return errors.New("allow_invoke: meaningless with iam, which decides invocations: grant Function:Invoke on the functions instead")
	}
	if f.IAMMode != iamEnforce && f.IAMMode != iamDryRun {
		return fmt.Errorf("iam_mode: %q is neither %s nor %s", f.IAMMode, iamEnforce, iamDryRun)
	}
	if d := time.Duration(f.IAMReloadInterval); d < minIAMReload {
		return fmt.Errorf("iam_reload_interval: %v is below %v", d, minIAMReload)
	}
	if !routes.ValidName(f.DefaultNamespace) {
		return fmt.Errorf("default_namespace: %q is not a valid namespace name", f.DefaultNamespace)
	}
	if f.MaxBodySize < 1024 {
		return fmt.Errorf("max_body_size: %d is below 1024 bytes", f.MaxBodySize)
	}
	if err := f.AuditWebhook.validate(); err != nil {
		return fmt.Errorf("audit_webhook: %w", err)
	}
	if f.AuditWebhook != nil && !f.iamEnabled() {
		return errors.New("audit_webhook: it sends the decisions of IAM: set iam too")
	}
	if err := f.SystemIssuer.validate(); err != nil {
		return fmt.Errorf("system_issuer: %w", err)
	}
	if f.SystemIssuer != nil && !f.iamEnabled() {
		return errors.New("system_issuer: its tokens carry the policies of IAM roles: set iam too")
	}
	if d := time.Duration(f.ClockSkew); d < 0 || d > maxClockSkew {
		return fmt.Errorf("clock_skew: %v is outside 0 to %v", d, maxClockSkew)
	}
	if f.MaxTokenLifetime < 0 {
		return fmt.Errorf("max_token_lifetime: %v is negative", time.Duration(f.MaxTokenLifetime))
	}
	if f.MaxTokenSize < minMaxTokenSize || f.MaxTokenSize > maxMaxTokenSize {
		return fmt.Errorf("max_token_size: %d is outside %d to %d", f.MaxTokenSize, minMaxTokenSize, maxMaxTokenSize)
	}
	if d := time.Duration(f.JWKSMinRefreshInterval); d < minJWKSMinRefreshInterval {
		return fmt.Errorf("jwks_min_refresh_interval: %v is below %v", d, minJWKSMinRefreshInterval)
	}
	if f.JWKSRefreshInterval < f.JWKSMinRefreshInterval {
		return errors.New("jwks_refresh_interval: must not be below jwks_min_refresh_interval")
	}
	if f.JWKSMaxStale < 2*f.JWKSRefreshInterval {
		// One failed refresh must not stop service.
		return fmt.Errorf("jwks_max_stale: %v is below twice jwks_refresh_interval (%v)",
			time.Duration(f.JWKSMaxStale), time.Duration(f.JWKSRefreshInterval))
	}
	if strings.ContainsAny(f.Realm, "\"\\") || strings.IndexFunc(f.Realm, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return fmt.Errorf("realm: %q must be printable ASCII without quotes or backslashes", f.Realm)
	}
	if ga := f.GatewayBasicAuth; ga != nil {
		if ga.UserFile == "" || ga.PasswordFile == "" {
			return errors.New("gateway_basic_auth: user_file and password_file are required")
		}
		if ga.ReloadInterval < 0 {
			return errors.New("gateway_basic_auth: reload_interval must be positive")
		}
	}
	return nil
}

// Cleanup stops the credential and IAM reloads and releases the key
// sources and token cache, which stop when no config uses them any more.
func (f *FedOIDC) Cleanup() error {
	if f.cancel == nil {
		return nil // not provisioned, or cleaned up already
	}
	f.cancel()
	f.cancel = nil
	if f.unwatch != nil {
		f.unwatch()
	}
	f.watchers.Wait() // no reload swaps in a snapshot after this
	// Requests still in flight on this config (Caddy's grace period)
	// keep using the verifiers; a stopped source keeps its last keys.
	f.snap.Load().issuers.release()
	f.closeAudit()
	f.closeSystem()
	return nil
}

// ServeHTTP refuses early data, checks the path's form, then the token,
// then, with IAM, maps the request to an action and resource and decides
// on it, and forwards the request with the gateway credential; with IAM
// it then audits the decision with the answer's status.
func (f *FedOIDC) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Before the path too: no rule, token or credential work is done on
	// a request that may be replayed, whatever it asks for.
	if mayBeReplayed(r) {
		return f.deny(w, r, http.StatusTooEarly, outcomeEarlyData, "", nil, nil)
	}
	// The path decision is made on the path as it will go upstream; an
	// ambiguous one is refused before any token work.
	upstreamPath := r.URL.EscapedPath()
	// Tunnels are no part of the gateway's API: CONNECT, including the
	// extended CONNECT of websockets over HTTP/2 and HTTP/3, which
	// reverse_proxy would turn into an Upgrade.
	if r.Method == http.MethodConnect {
		return f.deny(w, r, http.StatusBadRequest, outcomeBadRequest, "", nil, nil)
	}
	// The system issuer's own endpoints need no token.
	if f.system != nil {
		if served, err := f.serveSystemIssuer(w, r, upstreamPath); served {
			return err
		}
	}
	verdict, pathReason := f.rules.classify(upstreamPath)
	if verdict == pathAmbiguous {
		return f.deny(w, r, http.StatusBadRequest, outcomeAmbiguousPath, pathReason, nil, nil)
	}

	// Extract and verify.
	snap := f.snap.Load()
	token, status, reason := bearerToken(r)
	if status != 0 {
		if reason == outcomeMissingToken && f.system != nil && verdict == pathAllowed && !isSystemAPI(upstreamPath) {
			// An invocation: the realm faas-cli answers with a function token.
			reason = outcomeMissingFunctionToken
		}
		return f.deny(w, r, status, reason, "", nil, nil)
	}
	id, err := snap.issuers.verify(r.Context(), token)
	if err != nil {
		return f.refuseToken(w, r, err)
	}
	if verdict != pathAllowed {
		return f.deny(w, r, http.StatusForbidden, outcomePathDenied, pathReason, id, nil)
	}

	// Map and decide.
	var ac *accessCheck
	if snap.set != nil {
		ac = f.newAccessCheck(r, id, upstreamPath)
		call, err := f.mapRequest(r, upstreamPath)
		if err != nil {
			return f.refuseCall(w, r, ac, err)
		}
		ac.decide(f, call, id.rolesIn(snap.set))
		if !ac.decision.Allowed() && f.enforce {
			f.audit(ac, http.StatusForbidden)
			return f.deny(w, r, http.StatusForbidden, outcomeIAMDenied, ac.reason(), id, nil)
		}
	}

	// Forward.
	snap.issuers.metricsFor(id).decision(outcomeAllowed)
	setIdentityPlaceholders(r, id)
	// The caller's token stops here. The gateway's credential goes only
	// to its /system/ API: on /function/ the gateway passes headers on
	// to the function, which must never see the admin credential.
	sanitizeForGateway(r)
	if f.credential != nil && isSystemAPI(upstreamPath) {
		r = f.grantCredential(r, upstreamPath)
	}
	if ac == nil {
		return next.ServeHTTP(w, r)
	}
	f.takeRequestID(ac)
	status, err = f.forward(w, r, next, ac)
	f.audit(ac, status)
	return err
}

// refuseToken answers a token verify refused: 400 for a value that is
// not a bearer token at all, 401 for an invalid token, 503 while the
// issuer's keys are unavailable.
func (f *FedOIDC) refuseToken(w http.ResponseWriter, r *http.Request, err error) error {
	status, outcome, id, detail := tokenRefusal(err)
	return f.deny(w, r, status, outcome, "", id, detail)
}

// tokenRefusal is the answer to a token verify refused: its status and
// outcome label, the identity of a token whose signature held, and the
// error to log.
func tokenRefusal(err error) (status int, outcome string, id *identity, detail error) {
	if errors.Is(err, errNotB64Token) {
		return http.StatusBadRequest, outcomeBadRequest, nil, nil
	}
	var te *tokenError
	if errors.As(err, &te) {
		return http.StatusUnauthorized, te.reason, te.id, te.err
	}
	if errors.Is(err, errKeysStale) {
		return http.StatusServiceUnavailable, outcomeKeysStale, nil, err
	}
	return http.StatusServiceUnavailable, outcomeKeysUnavailable, nil, err
}

// deny answers a refused request and logs why. The client gets the
// status and a challenge; the detail, never the token, goes to the log.
func (f *FedOIDC) deny(w http.ResponseWriter, r *http.Request, status int, outcome, detail string, id *identity, err error) error {
	f.snap.Load().issuers.metricsFor(id).decision(outcome)
	level := zapcore.DebugLevel
	if status == http.StatusServiceUnavailable {
		level = zapcore.WarnLevel
	}
	if c := f.logger.Check(level, "request refused"); c != nil {
		fields := []zap.Field{
			zap.Int("status", status),
			zap.String("reason", outcome),
			zap.String("method", r.Method),
			// The path only: a client may wrongly put its token in the query.
			zap.String("path", r.URL.EscapedPath()),
			zap.String("remote_ip", r.RemoteAddr),
		}
		if detail != "" {
			fields = append(fields, zap.String("detail", detail))
		}
		if id != nil {
			fields = append(fields, zap.String("sub", id.Subject), zap.String("azp", id.AuthorizedParty),
				zap.String("client_id", id.ClientID), zap.String("iss", id.Issuer))
		}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		c.Write(fields...)
	}
	f.challenge.write(w, status, outcome)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*FedOIDC)(nil)
	_ caddy.Validator             = (*FedOIDC)(nil)
	_ caddy.CleanerUpper          = (*FedOIDC)(nil)
	_ caddyhttp.MiddlewareHandler = (*FedOIDC)(nil)
)
