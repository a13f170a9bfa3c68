package caddyfedauth

import (
	"context"
	"net/http"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(GatewayTransport{})
}

// GatewayTransport is reverse_proxy's http transport that also carries
// the gateway credential of fed_oidc's gateway_basic_auth. Use it in the
// reverse_proxy to the OpenFaaS gateway, and there only:
//
//	reverse_proxy gateway.openfaas:8080 {
//		transport fed_oidc
//	}
//
// It takes every option of `transport http` (it is that transport). On a
// request that fed_oidc allowed on the /system/ API, it sets
// `Authorization: Basic <gateway credential>` on the outgoing request,
// and only when that request still goes to the path fed_oidc decided on.
// fed_oidc hands the credential over in the request's context under a
// key only this package can read: no header, placeholder or variable
// holds it, so no other handler (forward_auth, a second reverse_proxy,
// header_up with {http.request.header.*}, the access log) can see it.
//
// Without this transport in the site, the gateway gets no credential
// (fail closed), and fed_oidc logs an error naming the fix.
type GatewayTransport struct {
	reverseproxy.HTTPTransport

	server     any
	registered bool
}

// CaddyModule returns the Caddy module information.
func (GatewayTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.fed_oidc",
		New: func() caddy.Module { return new(GatewayTransport) },
	}
}

// Provision sets up the underlying http transport and records that this
// server has a transport that can carry the credential.
func (t *GatewayTransport) Provision(ctx caddy.Context) error {
	if err := t.HTTPTransport.Provision(ctx); err != nil {
		return err
	}
	t.server = ctx.Value(caddyhttp.ServerCtxKey)
	gatewayTransports.add(t.server, 1)
	t.registered = true
	return nil
}

// Cleanup closes the idle connections and forgets the registration.
func (t *GatewayTransport) Cleanup() error {
	if t.registered {
		gatewayTransports.add(t.server, -1)
		t.registered = false
	}
	return t.HTTPTransport.Cleanup()
}

// RoundTrip adds the gateway credential that fed_oidc granted this
// request, then sends it with the http transport.
func (t *GatewayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	g, _ := req.Context().Value(credentialGrantKey{}).(*credentialGrant)
	// The grant is for the path fed_oidc decided on: a rewrite, or this
	// transport on another proxy (forward_auth's), gets nothing.
	if g == nil || req.URL.EscapedPath() != g.path {
		return t.HTTPTransport.RoundTrip(req)
	}
	// A copy with its own header map: reverse_proxy logs its request
	// (with log_credentials, unredacted), and that one stays without it.
	out := req.WithContext(req.Context())
	out.Header = req.Header.Clone()
	out.Header.Set("Authorization", g.credential.value())
	return t.HTTPTransport.RoundTrip(out)
}

// credentialGrantKey is the context key of a *credentialGrant. It is
// unexported, so only this package reads or sets the value.
type credentialGrantKey struct{}

// credentialGrant is fed_oidc's decision that this request, on this
// path, may carry the gateway credential.
type credentialGrant struct {
	credential *upstreamCredential
	path       string
}

// grantCredential returns r with the gateway credential granted for
// path. The first time, it also checks that the credential can reach the
// gateway at all: if no reverse_proxy in this server uses the transport,
// it never can, and fed_oidc says so, once, at error level.
func (f *FedOIDC) grantCredential(r *http.Request, path string) *http.Request {
	f.transportCheck.Do(func() {
		if gatewayTransports.has(f.server) {
			return
		}
		if c := f.logger.Check(zapcore.ErrorLevel, "gateway_basic_auth is set, but no reverse_proxy in this server uses transport fed_oidc: the gateway receives no credential"); c != nil {
			c.Write(zap.String("fix", "reverse_proxy <gateway> { transport fed_oidc }"))
		}
	})
	g := &credentialGrant{credential: f.credential, path: path}
	return r.WithContext(context.WithValue(r.Context(), credentialGrantKey{}, g))
}

// gatewayTransports counts the provisioned GatewayTransports of each
// Caddy HTTP server. A site's handlers all run in one server, so a server
// without one cannot send the credential anywhere. Keyed by the server,
// so an old config's transports, until cleaned up, do not count for the
// new config's servers.
var gatewayTransports = transportRegistry{perServer: make(map[any]int)}

type transportRegistry struct {
	mu        sync.Mutex
	perServer map[any]int
}

func (tr *transportRegistry) add(server any, n int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.perServer[server] += n
	if tr.perServer[server] <= 0 {
		delete(tr.perServer, server)
	}
}

func (tr *transportRegistry) has(server any) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.perServer[server] > 0
}

// Interface guards: the transport is still everything reverse_proxy
// looks for in its http transport.
var (
	_ caddy.Provisioner                                = (*GatewayTransport)(nil)
	_ caddy.CleanerUpper                               = (*GatewayTransport)(nil)
	_ caddyfile.Unmarshaler                            = (*GatewayTransport)(nil)
	_ http.RoundTripper                                = (*GatewayTransport)(nil)
	_ reverseproxy.TLSTransport                        = (*GatewayTransport)(nil)
	_ reverseproxy.H2CTransport                        = (*GatewayTransport)(nil)
	_ reverseproxy.ProxyProtocolTransport              = (*GatewayTransport)(nil)
	_ reverseproxy.HealthCheckSchemeOverriderTransport = (*GatewayTransport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport           = (*GatewayTransport)(nil)
)
