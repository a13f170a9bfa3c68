package caddyfedauth

import "net/http"

// mayBeReplayed reports whether r may be a replay of TLS early data
// (RFC 8470). Early data is sent before the handshake proves the client
// is live, so anyone on the path can capture and resend it, with the
// token inside verifying each time. fed_oidc answers such a request with
// 425 Too Early, and the client retries after the handshake.
func mayBeReplayed(r *http.Request) bool {
	// HTTP/3 0-RTT: Caddy's QUIC listener accepts early data (allow_0rtt
	// defaults to on) and quic-go serves the request before the client's
	// Finished, with the TLS state read mid-handshake. Go's TLS server over
	// TCP never accepts early data, so there this is always complete.
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		return true
	}
	// A proxy in front forwarded early data it received (§5.1). Any value
	// counts: "Multiple or invalid instances of the header field MUST be
	// treated as equivalent to a single instance with a value of 1".
	_, forwarded := r.Header["Early-Data"]
	return forwarded
}
