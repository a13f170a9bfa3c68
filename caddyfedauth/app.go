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
// their key sources and IAM watchers with it while the config is
// provisioned, and it starts them when Caddy starts the config. `caddy validate`
// provisions a config but never starts it, so validating fetches nothing
// from the issuer and logs no fetch error, however unreachable the
// issuer is from where it runs.
type startApp struct {
	mu      sync.Mutex
	starts  []func()
	started bool
}

// CaddyModule returns the Caddy module information.
func (*startApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "fed_oidc",
		New: func() caddy.Module { return new(startApp) },
	}
}

// startWithConfig calls start (a key source's, or an IAM watcher's) when
// ctx's config starts: at once if that has happened already.
func startWithConfig(ctx caddy.Context, start func()) error {
	v, err := ctx.App("fed_oidc")
	if err != nil {
		return fmt.Errorf("loading the fed_oidc app: %w", err)
	}
	a := v.(*startApp)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		start()
		return nil
	}
	a.starts = append(a.starts, start)
	return nil
}

// Start runs what was registered; a key source a previous config shares
// is running already, and starting it again does nothing.
func (a *startApp) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = true
	for _, start := range a.starts {
		start()
	}
	a.starts = nil
	return nil
}

// Stop does nothing: each handler's Cleanup releases its key source.
func (a *startApp) Stop() error { return nil }

// Interface guard
var _ caddy.App = (*startApp)(nil)
