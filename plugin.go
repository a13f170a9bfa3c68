// Package fedauth lets xcaddy build fed_oidc into Caddy from the module's
// root path: xcaddy build --with github.com/caddy-fedauth/caddy-fedauth
package fedauth

import (
	// the module itself
	_ "github.com/caddy-fedauth/caddy-fedauth/caddyfedauth"
)
