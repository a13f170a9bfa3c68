package caddyfedauth

import (
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/routes"
)

// The collectors are process-wide, like reverse_proxy's, and registered
// again on each config's registry: Caddy makes a new registry per config
// load, and counters must not restart from zero on every reload.
var fedMetrics = struct {
	once         sync.Once
	decisions    *prometheus.CounterVec
	jwksFetches  *prometheus.CounterVec
	tokenCache   *prometheus.CounterVec
	verifyTiming *prometheus.HistogramVec
	iamDecisions *prometheus.CounterVec
	iamReloads   *prometheus.CounterVec
	auditEvents  *prometheus.CounterVec
	exchanges    *prometheus.CounterVec
}{}

// outcome labels of caddy_fed_oidc_decisions_total. A fixed set, so the
// metric's cardinality is bounded whatever a client sends.
const (
	outcomeAllowed      = "allowed"
	outcomeMissingToken = "missing_token"
	// an invocation without a token, with system_issuer: the challenge
	// makes faas-cli fetch a function token
	outcomeMissingFunctionToken = "missing_function_token"
	outcomeBadRequest           = "bad_request"
	outcomeAmbiguousPath        = "ambiguous_path"
	outcomePathDenied           = "path_denied"
	outcomeKeysUnavailable      = "keys_unavailable"
	outcomeKeysStale            = "keys_stale"
	outcomeEarlyData            = "early_data"
	outcomeIAMDenied            = "iam_denied"  // IAM refused it (403)
	outcomeIAMRefused           = "iam_refused" // the request could not be decided: 400, 405, 413
)

func initMetrics(registry *prometheus.Registry) error {
	const ns, sub = "caddy", "fed_oidc"
	fedMetrics.once.Do(func() {
		fedMetrics.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "decisions_total",
			Help: "Requests decided by fed_oidc, by issuer and outcome (allowed, or the reason for a refusal).",
		}, []string{"issuer", "outcome"})
		fedMetrics.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "jwks_fetches_total",
			Help: "Discovery and JWKS fetches from the issuer, by result.",
		}, []string{"issuer", "result"})
		fedMetrics.tokenCache = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "token_cache_total",
			Help: "Verified-token cache lookups, by result (hit or miss).",
		}, []string{"issuer", "result"})
		fedMetrics.verifyTiming = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "verify_duration_seconds",
			Help:    "Time to verify a token not found in the cache (signature and claims).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01},
		}, []string{"issuer"})
		fedMetrics.iamDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "iam_decisions_total",
			Help: "IAM decisions, by action, outcome (allowed, denied_by_statement, denied_no_match, bad_request) and mode (enforce, dry_run).",
		}, []string{"action", "outcome", "mode"})
		fedMetrics.iamReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "iam_reloads_total",
			Help: "Reloads of the IAM objects after a change, by result (ok, error).",
		}, []string{"result"})
		fedMetrics.exchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "exchanges_total",
			Help: "Token exchanges at the system issuer, by kind (access, function) and result (ok, invalid_request, invalid_token, no_policies, invalid_target, unavailable, error).",
		}, []string{"kind", "result"})
		fedMetrics.auditEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "audit_events_total",
			Help: "Audit events for the webhook, by result (sent, failed, dropped).",
		}, []string{"result"})
	})
	if registry == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		fedMetrics.decisions, fedMetrics.jwksFetches, fedMetrics.tokenCache, fedMetrics.verifyTiming,
		fedMetrics.iamDecisions, fedMetrics.iamReloads, fedMetrics.auditEvents, fedMetrics.exchanges,
	} {
		// Several fed_oidc handlers in one config share the collectors.
		if err := registry.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// issuerMetrics holds the per-issuer children, resolved once at provision
// so the request path does no label lookups.
type issuerMetrics struct {
	issuer      string
	allowed     prometheus.Counter
	cacheHit    prometheus.Counter
	cacheMiss   prometheus.Counter
	verifyTimer prometheus.Observer
}

func newIssuerMetrics(issuer string) *issuerMetrics {
	return &issuerMetrics{
		issuer:      issuer,
		allowed:     fedMetrics.decisions.WithLabelValues(issuer, outcomeAllowed),
		cacheHit:    fedMetrics.tokenCache.WithLabelValues(issuer, "hit"),
		cacheMiss:   fedMetrics.tokenCache.WithLabelValues(issuer, "miss"),
		verifyTimer: fedMetrics.verifyTiming.WithLabelValues(issuer),
	}
}

func (m *issuerMetrics) decision(outcome string) {
	if outcome == outcomeAllowed {
		m.allowed.Inc()
		return
	}
	fedMetrics.decisions.WithLabelValues(m.issuer, outcome).Inc()
}

func (m *issuerMetrics) fetch(result string) {
	fedMetrics.jwksFetches.WithLabelValues(m.issuer, result).Inc()
}

// iamMetrics holds a handler's IAM decision counters, resolved at
// provision for every action and outcome, so a decision does no label
// lookup. Calls that could not be mapped count under action "none".
type iamMetrics struct {
	byAction map[iam.Action]*[iam.DeniedMalformed + 1]prometheus.Counter
}

// unmappedAction labels the decisions of requests with no action.
const unmappedAction iam.Action = "none"

func newIAMMetrics(mode string) *iamMetrics {
	m := &iamMetrics{byAction: make(map[iam.Action]*[iam.DeniedMalformed + 1]prometheus.Counter)}
	for _, a := range append(slices.Clone(iam.Actions), routes.Unlisted, unmappedAction) {
		var c [iam.DeniedMalformed + 1]prometheus.Counter
		for o := range c {
			c[o] = fedMetrics.iamDecisions.WithLabelValues(string(a), iam.Outcome(o).String(), mode)
		}
		m.byAction[a] = &c
	}
	return m
}

func (m *iamMetrics) decision(a iam.Action, o iam.Outcome) {
	if c := m.byAction[a]; c != nil {
		c[o].Inc()
	}
}
