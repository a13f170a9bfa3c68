package caddyfedauth

// Version is this module's release, stamped at build time with
// -ldflags "-X github.com/caddy-fedauth/caddy-fedauth/caddyfedauth.Version=v0.1.0"
// (scripts/xcaddy-build.sh does it from $VERSION). `caddy fed-oidc version`
// prints it.
var Version = "devel"
