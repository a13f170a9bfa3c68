package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/caddy-fedauth/caddy-fedauth/internal/uuid"
)

const signaturePrefix = "sha256="

// Sign returns the X-Openfaas-Signature-256 value of body:
// "sha256=" and the hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is body's X-Openfaas-Signature-256 under
// secret. The comparison is constant time; receivers verify the raw body
// before decoding it.
func Verify(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// newDeliveryID returns a random (version 4) UUID for
// X-Openfaas-Delivery.
func newDeliveryID() string { return uuid.NewV4() }
