package caddyfedauth

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(new(startApp))
}

// startApp is a Caddy app with nothing to configure. Handlers register
// their key sources with it while the config is provisioned, and it
// starts their fetches when Caddy starts the config. `caddy validate`
// provisions a config but never starts it, so validating fetches nothing
// from the issuer and logs no fetch error, however unreachable the
// issuer is from where it runs.
type startApp struct {
	mu      sync.Mutex
	sources []*keySource
	started bool
}

// CaddyModule returns the Caddy module information.
func (*startApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "fed_oidc",
		New: func() caddy.Module { return new(startApp) },
	}
}

// startWithConfig has s start fetching when ctx's config starts: at once
// if that has happened already.
func startWithConfig(ctx caddy.Context, s *keySource) error {
	v, err := ctx.App("fed_oidc")
	if err != nil {
		return fmt.Errorf("loading the fed_oidc app: %w", err)
	}
	a := v.(*startApp)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		s.start()
		return nil
	}
	a.sources = append(a.sources, s)
	return nil
}

// Start starts the registered key sources; one a previous config shares
// is running already.
func (a *startApp) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = true
	for _, s := range a.sources {
		s.start()
	}
	a.sources = nil
	return nil
}

// Stop does nothing: each handler's Cleanup releases its key source.
func (a *startApp) Stop() error { return nil }

// Interface guard
var _ caddy.App = (*startApp)(nil)
