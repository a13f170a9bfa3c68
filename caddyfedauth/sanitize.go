package caddyfedauth

import "net/http"

// sanitizeForGateway removes from an allowed request what the caller may
// send but the gateway, and the functions it hands headers to, must not
// take from it. fed_oidc is the edge: these values are the caller's word,
// and upstream would read them as this proxy's.
//
//   - Authorization: the caller's token stops here.
//   - Every request trailer. Go's server fills r.Trailer only once the
//     body has been read to its end, long after this decision, and
//     accepts trailers the request never declared; reverse_proxy then
//     forwards whatever is there. Filtering them would mean wrapping the
//     body; the OpenFaaS gateway and functions use no request trailers,
//     so none go on.
//   - Upgrade and HTTP2-Settings. reverse_proxy keeps Upgrade (for
//     websockets) and would tunnel the connection if the gateway switched
//     protocols, so that later requests on it skip fed_oidc. The OpenFaaS
//     CE gateway proxies no upgrades; a server may ignore Upgrade (RFC
//     9110 §7.8), so the request goes on as a plain one.
//   - The caller's claims about the client or the URL (isClientClaim).
func sanitizeForGateway(r *http.Request) {
	h := r.Header
	delete(h, "Authorization")
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
	delete(h, "Trailer")
	r.Trailer = nil
	for k := range h {
		if isClientClaim(k) {
			delete(h, k)
		}
	}
}

// isClientClaim reports whether header k says who the client is, or what
// URL it asked for, on a proxy's behalf: Forwarded, X-Real-IP,
// X-Client-IP, True-Client-IP, and every X-Forwarded-* except For, Proto
// and Host, which reverse_proxy rewrites itself (keeping a received value
// only from its trusted_proxies). Names match case-insensitively with '_'
// as '-', the way a CGI-style function reads them: the watchdog hands
// both X-Real-Ip and X_Real_Ip to a function as Http_X_Real_Ip.
func isClientClaim(k string) bool {
	switch k {
	case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
		return false
	}
	if len(k) == 0 {
		return false
	}
	switch k[0] | 0x20 {
	case 'x':
		return headerNameHasPrefix(k, "x-forwarded-") || headerNameIs(k, "x-real-ip") || headerNameIs(k, "x-client-ip")
	case 'f':
		return headerNameIs(k, "forwarded")
	case 't':
		return headerNameIs(k, "true-client-ip")
	}
	return false
}

// headerNameIs compares a header name with a lower-case name, ignoring
// case and reading '_' as '-'.
func headerNameIs(k, name string) bool {
	return len(k) == len(name) && headerNameHasPrefix(k, name)
}

func headerNameHasPrefix(k, prefix string) bool {
	if len(k) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
