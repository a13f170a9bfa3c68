package sysissuer

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// Sign returns claims as a compact JWS with the protected header exactly
// {"alg":"ES256","kid":<KeyID>,"typ":"JWT"}, signed with the signing key.
// The payload is claims as encoding/json writes them (keys sorted, HTML
// characters not escaped, json.Number as written). It fails only when
// claims cannot be encoded.
func (k *Keys) Sign(claims map[string]any) (string, error) {
	p, err := marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}

	b64 := base64.RawURLEncoding
	signingInput := make([]byte, 0, len(k.header64)+1+b64.EncodedLen(len(p))+1+b64.EncodedLen(64))
	signingInput = append(signingInput, k.header64...)
	signingInput = append(signingInput, '.')
	signingInput = b64.AppendEncode(signingInput, p)
	digest := sha256.Sum256(signingInput)

	r, s, err := ecdsa.Sign(rand.Reader, k.signing, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	// RFC 7518 §3.4: R and S as 32-byte big-endian integers, concatenated.
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	signingInput = append(signingInput, '.')
	return string(b64.AppendEncode(signingInput, sig[:])), nil
}
