package caddyfedauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// explainSite is one fed_oidc handler of a config, as found in its JSON.
type explainSite struct {
	Server string   `json:"server"`          // the HTTP server's name, e.g. srv0
	Hosts  []string `json:"hosts,omitempty"` // the site's host matcher; none: any host

	// A reverse_proxy of the server uses transport fed_oidc, the only one
	// that sends the gateway credential.
	transport bool
	config    map[string]json.RawMessage // the handler's, without "handler"
}

func (s explainSite) String() string {
	if len(s.Hosts) == 0 {
		return "server " + s.Server + ", any host"
	}
	return "server " + s.Server + ", host " + strings.Join(s.Hosts, " ")
}

// findSites returns the fed_oidc handlers of a JSON config, server by
// server in name order, each with the host matcher of the nearest route
// above it that has one.
func findSites(cfg []byte) ([]explainSite, error) {
	var top struct {
		Apps struct {
			HTTP struct {
				Servers map[string]any `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	d := json.NewDecoder(bytes.NewReader(cfg))
	d.UseNumber() // durations in nanoseconds stay exact when written back
	if err := d.Decode(&top); err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	var sites []explainSite
	for _, name := range slices.Sorted(maps.Keys(top.Apps.HTTP.Servers)) {
		w := siteWalker{server: name}
		if err := w.walk(top.Apps.HTTP.Servers[name], nil); err != nil {
			return nil, err
		}
		for i := range w.sites {
			w.sites[i].transport = w.transport
		}
		sites = append(sites, w.sites...)
	}
	return sites, nil
}

type siteWalker struct {
	server    string
	sites     []explainSite
	transport bool
}

// walk visits every object under v: routes, subroutes, error routes and
// named routes alike.
func (w *siteWalker) walk(v any, hosts []string) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := w.walk(e, hosts); err != nil {
				return err
			}
		}
	case map[string]any:
		if v["handler"] == "fed_oidc" {
			return w.add(v, hosts)
		}
		if v["protocol"] == "fed_oidc" {
			w.transport = true // reverse_proxy's transport, by its inline key
		}
		if sets, ok := v["match"].([]any); ok {
			if h := matcherHosts(sets); len(h) > 0 {
				hosts = h
			}
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := w.walk(v[k], hosts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *siteWalker) add(handler map[string]any, hosts []string) error {
	site := explainSite{Server: w.server, Hosts: hosts, config: make(map[string]json.RawMessage, len(handler))}
	for k, v := range handler {
		if k == "handler" {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		site.config[k] = b
	}
	w.sites = append(w.sites, site)
	return nil
}

// matcherHosts are the hosts of a route's matcher sets (any one of which
// selects the route).
func matcherHosts(sets []any) []string {
	var hosts []string
	for _, set := range sets {
		m, _ := set.(map[string]any)
		list, _ := m["host"].([]any)
		for _, h := range list {
			if s, ok := h.(string); ok {
				hosts = append(hosts, s)
			}
		}
	}
	return hosts
}

// pickSite chooses the handler that serves host: the one whose site's
// host matcher (Caddy's own) matches it, else the one of a site for any
// host. Without host, the config must have exactly one handler.
func pickSite(sites []explainSite, host string) (explainSite, error) {
	if len(sites) == 0 {
		return explainSite{}, errors.New("the config has no fed_oidc handler")
	}
	if host == "" {
		if len(sites) == 1 {
			return sites[0], nil
		}
		return explainSite{}, fmt.Errorf("the config has %d fed_oidc handlers; choose one with --host: %s", len(sites), listSites(sites))
	}
	var byHost, anyHost []explainSite
	for _, s := range sites {
		if len(s.Hosts) == 0 {
			anyHost = append(anyHost, s)
			continue
		}
		ok, err := matchesHost(s.Hosts, host)
		if err != nil {
			return explainSite{}, err
		}
		if ok {
			byHost = append(byHost, s)
		}
	}
	found := byHost
	if len(found) == 0 {
		found = anyHost
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return explainSite{}, fmt.Errorf("no fed_oidc handler serves host %q: %s", host, listSites(sites))
	}
	return explainSite{}, fmt.Errorf("%d fed_oidc handlers serve host %q: %s", len(found), host, listSites(found))
}

func listSites(sites []explainSite) string {
	names := make([]string, len(sites))
	for i, s := range sites {
		names[i] = s.String()
	}
	return strings.Join(names, "; ")
}

func matchesHost(hosts []string, host string) (bool, error) {
	m := caddyhttp.MatchHost(hosts)
	if err := m.Provision(caddy.Context{}); err != nil {
		return false, err
	}
	r, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return false, err
	}
	r.Host = host
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	return m.MatchWithError(r)
}

// explainHandler is a fed_oidc handler provisioned as Caddy runs it, its
// logs kept in memory for explain to read.
type explainHandler struct {
	*FedOIDC
	site  explainSite
	logs  *observer.ObservedLogs
	close func()
}

// provisionSite provisions the site's handler with a real Caddy context
// and starts the fed_oidc app, so that its key sources fetch. Two parts
// of the config are left out: the audit webhook (explain's requests are
// no real decisions, and must not reach the security team's receiver),
// and the gateway's secret: gateway_basic_auth reads a stand-in
// credential from dir instead, so explain needs no secret, and the
// handler still grants it as it would the real one.
func provisionSite(site explainSite, dir string) (*explainHandler, error) {
	cfg := maps.Clone(site.config)
	delete(cfg, "audit_webhook")
	if ga, ok := cfg["gateway_basic_auth"]; ok {
		var g GatewayBasicAuth
		if err := json.Unmarshal(ga, &g); err != nil {
			return nil, fmt.Errorf("gateway_basic_auth: %w", err)
		}
		g.UserFile, g.PasswordFile = filepath.Join(dir, "user"), filepath.Join(dir, "password")
		for _, f := range []string{g.UserFile, g.PasswordFile} {
			if err := os.WriteFile(f, []byte("explain"), 0o600); err != nil {
				return nil, err
			}
		}
		b, err := json.Marshal(g)
		if err != nil {
			return nil, err
		}
		cfg["gateway_basic_auth"] = b
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}

	// Warnings (IAM's, failed key fetches) only: the output is explain's.
	quiet := &caddy.Logging{Logs: map[string]*caddy.CustomLog{"default": {BaseLog: caddy.BaseLog{Level: "WARN"}}}}
	pctx, err := caddy.ProvisionContext(&caddy.Config{Logging: quiet})
	if err != nil {
		return nil, err
	}
	ctx, cancel := caddy.NewContext(pctx)
	mod, err := ctx.LoadModuleByID("http.handlers.fed_oidc", raw)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("loading the fed_oidc handler (%s): %w", site, err)
	}
	app, err := ctx.App("fed_oidc")
	if err == nil {
		err = app.(caddy.App).Start()
	}
	if err != nil {
		cancel()
		return nil, err
	}
	f := mod.(*FedOIDC)
	core, logs := observer.New(zapcore.DebugLevel)
	f.useLogger(zap.New(core).Named(string(f.CaddyModule().ID)))
	return &explainHandler{FedOIDC: f, site: site, logs: logs, close: cancel}, nil
}
