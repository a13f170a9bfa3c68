// Command caddy is Caddy with its standard modules plus fed_oidc, the
// federated gateway handler for OpenFaaS.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy's standard modules, then ours
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-fedauth/caddy-fedauth/caddyfedauth"
)

func main() {
	caddycmd.Main()
}
