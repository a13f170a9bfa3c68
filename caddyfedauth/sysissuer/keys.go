package sysissuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Keys are the system issuer's signing key and an optional previous key
// (still published and accepted, for rotation). Immutable; load again to
// rotate.
type Keys struct {
	signing  *ecdsa.PrivateKey
	kid      string
	prevKid  string // "" without a previous key
	jwks     []byte
	header64 string // the encoded protected header of every token
}

// LoadKeys reads PEM EC P-256 private keys as `openssl ecparam -genkey
// -name prime256v1` writes them: an "EC PARAMETERS" block (skipped), then
// an "EC PRIVATE KEY" block (SEC 1). A PKCS#8 "PRIVATE KEY" block is
// accepted too. previousFile may be "". Other curves, RSA, Ed25519,
// encrypted keys and public keys are refused with an error that names the
// file and says what it holds. A previous key equal to the signing key is
// published once: that is a moment of a rotation (the old key copied to
// previous, the new one not yet written), not a mistake.
func LoadKeys(signingFile, previousFile string) (*Keys, error) {
	signing, err := loadKey(signingFile)
	if err != nil {
		return nil, err
	}
	k := &Keys{signing: signing, kid: thumbprint(&signing.PublicKey)}
	set := []jwkJSON{publicJWK(&signing.PublicKey, k.kid)}
	if previousFile != "" {
		prev, err := loadKey(previousFile)
		if err != nil {
			return nil, err
		}
		if kid := thumbprint(&prev.PublicKey); kid != k.kid {
			k.prevKid = kid
			set = append(set, publicJWK(&prev.PublicKey, kid))
		}
	}
	k.jwks, err = json.Marshal(jwksJSON{Keys: set})
	if err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(headerJSON{Alg: "ES256", Kid: k.kid, Typ: "JWT"})
	if err != nil {
		return nil, err
	}
	k.header64 = base64.RawURLEncoding.EncodeToString(hdr)
	return k, nil
}

// KeyID is the signing key's kid: the RFC 7638 JWK thumbprint (SHA-256,
// base64url without padding) of its public JWK.
func (k *Keys) KeyID() string { return k.kid }

// PreviousKeyID is the previous key's kid, or "" when there is none (or
// it is the signing key).
func (k *Keys) PreviousKeyID() string { return k.prevKid }

// JWKS is the JSON Web Key Set to publish: {"keys":[...]} with the public
// parts only, the signing key first, then the previous key. Each has kid,
// kty, crv, x, y, use "sig" and alg "ES256" (jwx's WithKeySet needs alg).
// The caller must not modify the slice.
func (k *Keys) JWKS() []byte { return k.jwks }

// loadKey reads one key file; every error names the file.
func loadKey(file string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("system issuer key: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("system issuer key %s: %w", file, err)
	}
	return key, nil
}

// parseKey finds the one private key among the PEM blocks of data. Text
// outside blocks is skipped, as openssl skips it.
func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	var key *ecdsa.PrivateKey
	var seen []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		seen = append(seen, block.Type)
		if block.Type == "EC PARAMETERS" {
			continue // openssl ecparam writes the curve's OID before the key; the key names it again
		}
		k, err := parseBlock(block)
		if err != nil {
			return nil, err
		}
		if key != nil {
			return nil, errors.New("more than one private key; want one EC P-256 key")
		}
		key = k
	}
	switch {
	case key != nil:
		return key, nil
	case len(seen) == 0:
		return nil, errors.New("not PEM; want an EC P-256 private key as `openssl ecparam -genkey -name prime256v1` writes it")
	default:
		return nil, fmt.Errorf("no private key (PEM blocks: %s); want an EC P-256 private key", strings.Join(seen, ", "))
	}
}

// parseBlock reads a PEM block that should be a P-256 private key.
func parseBlock(block *pem.Block) (*ecdsa.PrivateKey, error) {
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, fmt.Errorf("%s is encrypted; the key file must be unencrypted (openssl ec -in KEY -out PLAIN)", block.Type)
	}
	var parsed any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		return nil, errors.New("an RSA key; want EC P-256 (the system issuer signs ES256)")
	case "PUBLIC KEY", "EC PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, fmt.Errorf("%s: a public key only; the issuer needs the private key", block.Type)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("ENCRYPTED PRIVATE KEY is encrypted; the key file must be unencrypted (openssl pkcs8 -in KEY -out PLAIN)")
	case "CERTIFICATE":
		return nil, errors.New("a certificate, not a private key")
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key; want EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v; want an EC P-256 (prime256v1) private key", block.Type, err)
	}
	switch k := parsed.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an EC key on curve %s; want P-256 (prime256v1)", k.Curve.Params().Name)
		}
		return k, nil
	case *rsa.PrivateKey:
		return nil, errors.New("an RSA key; want EC P-256 (the system issuer signs ES256)")
	case ed25519.PrivateKey:
		return nil, errors.New("an Ed25519 key; want EC P-256 (the system issuer signs ES256)")
	default:
		return nil, fmt.Errorf("a %T; want EC P-256", parsed)
	}
}

// jwkJSON is a public EC JWK in the order RFC 7517 examples use.
type jwkJSON struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

type jwksJSON struct {
	Keys []jwkJSON `json:"keys"`
}

type headerJSON struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// coordinates returns the base64url x and y of a P-256 public key, each
// 32 bytes long as RFC 7518 §6.2.1.2 requires (leading zeros kept).
func coordinates(pub *ecdsa.PublicKey) (x, y string) {
	b, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic("sysissuer: P-256 key without a point: " + err.Error()) // parseBlock checked the curve
	}
	n := (len(b) - 1) / 2
	return base64.RawURLEncoding.EncodeToString(b[1 : 1+n]), base64.RawURLEncoding.EncodeToString(b[1+n:])
}

func publicJWK(pub *ecdsa.PublicKey, kid string) jwkJSON {
	x, y := coordinates(pub)
	return jwkJSON{Kty: "EC", Crv: "P-256", X: x, Y: y, Kid: kid, Use: "sig", Alg: "ES256"}
}

// thumbprint is the RFC 7638 thumbprint: SHA-256 of the required members
// in lexicographic order, no white space (§3.2, §3.3).
func thumbprint(pub *ecdsa.PublicKey) string {
	x, y := coordinates(pub)
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
