// Package sysissuer holds the pure parts of the gateway acting as
// OpenFaaS's own issuer (the "system issuer" of OpenFaaS IAM): its signing
// keys, the discovery and JWKS documents it publishes, the RFC 8693 token
// exchange request it accepts at /oauth/token, the error and success
// answers it gives, and the claims of the two tokens it issues. It imports
// no Caddy: the fed_oidc handler wires it, and tests call it directly.
//
// # Tokens
//
// An OpenFaaS access token is the answer to an exchange of a token from a
// trusted issuer (see [AccessClaims]). Like the commercial gateway's, it
// carries every claim of the token it was exchanged for, with iss and aud
// set to the system issuer, sub prefixed "fed:", the original issuer in
// "fed:iss" and the names of the matched roles' policies in "policy".
//
// A function token is the answer to an exchange with scope=function of an
// access token (see [FunctionClaims]). It lives [FunctionTokenTTL] and
// carries only what a watchdog (faas-middleware's jwt_authenticator)
// reads: iss, sub, aud as an array, and "function" with the permissions
// and the requested audience. It has no "policy", so it is no API token;
// an access token has no "function", so it invokes nothing.
//
// Both are ES256 JWS signed with the signing key of [Keys], header
// {"alg":"ES256","kid":<RFC 7638 thumbprint>,"typ":"JWT"}.
//
// # The exchange request
//
// [ParseExchange] reads the form of RFC 8693 §2.1 as go-sdk and faas-cli
// send it (application/x-www-form-urlencoded body). The commercial
// product's blog also shows a curl that passes every parameter in the
// query string, with no body, so the query is accepted too: [MergeQuery]
// joins the two, and refuses a parameter given in both with different
// values. Pass it r.PostForm and r.URL.Query(), not r.Form, which holds
// both lists end to end, so that a parameter in both would read as
// repeated. Prefer the body: a token in a URL is written to access logs
// (Caddy's included) and shell history.
package sysissuer
