package caddyfedauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// pkce is a Proof Key for Code Exchange (RFC 7636) pair: the verifier
// stays with us until the code is redeemed, the challenge goes out in the
// authorization request.
type pkce struct {
	verifier  string
	challenge string // S256: base64url(SHA-256(verifier)), §4.2
}

// pkceMethod is the only challenge method we send; "plain" would hand the
// verifier itself to whoever sees the authorization request.
const pkceMethod = "S256"

// newPKCE makes a verifier of 32 random bytes, the 43 base64url
// characters §4.1 recommends (256 bits of entropy).
func newPKCE() pkce {
	v := randomURLToken()
	return pkce{verifier: v, challenge: pkceChallenge(v)}
}

// pkceChallenge is the S256 challenge of verifier.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomURLToken returns 32 random bytes in base64url, for a PKCE
// verifier, a state or a nonce: values an attacker must not guess.
func randomURLToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
