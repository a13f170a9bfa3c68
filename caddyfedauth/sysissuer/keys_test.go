package sysissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Thumbprints of the checked-in openssl keys, computed apart from this
// package: the public point from `openssl ec -pubout -outform DER`, the
// RFC 7638 member string and SHA-256 by a Python one-liner.
const (
	kidECParam = "k8uy75H2qQa90OTGM4FfhW98AF9WmvcG87rdTNH8Nq4" // testdata/p256-ecparam.pem
	kidNoOut   = "57JP_Yzi0XBxvu_zdfJU05pCQ59qgO-uj80NMUn8eBI" // testdata/p256-noout.pem and its PKCS#8 form
)

// openSSLPEM writes key the way `openssl ecparam -genkey -name prime256v1`
// does: the curve's OID in an EC PARAMETERS block, then the SEC 1 key.
func openSSLPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	oid := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // prime256v1
	return append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: oid}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKeyFile writes key in openssl's form to a file in dir.
func writeKeyFile(t *testing.T, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	return writeFile(t, dir, name, openSSLPEM(t, key))
}

// jwxThumbprint is jwx's RFC 7638 thumbprint of key's public JWK.
func jwxThumbprint(t *testing.T, key *ecdsa.PublicKey) string {
	t.Helper()
	jk, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := jk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestLoadKeysAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, file, kid string
	}{
		{"openssl ecparam -genkey (EC PARAMETERS, then EC PRIVATE KEY)", "testdata/p256-ecparam.pem", kidECParam},
		{"openssl ecparam -genkey -noout", "testdata/p256-noout.pem", kidNoOut},
		{"PKCS#8 PRIVATE KEY", "testdata/p256-pkcs8.pem", kidNoOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadKeys(tc.file, "")
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyID() != tc.kid {
				t.Errorf("KeyID = %s, want %s", k.KeyID(), tc.kid)
			}
			if got := jwxThumbprint(t, &k.signing.PublicKey); got != tc.kid {
				t.Errorf("jwx thumbprint = %s, want %s", got, tc.kid)
			}
			if k.PreviousKeyID() != "" {
				t.Errorf("PreviousKeyID = %q without a previous key", k.PreviousKeyID())
			}
		})
	}
}

func TestLoadKeysGoWrittenOpenSSLForm(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	// openssl and other tools may put text before a block; it is skipped.
	data := append([]byte("Bag Attributes\n    friendlyName: issuer\n"), openSSLPEM(t, key)...)
	k, err := LoadKeys(writeFile(t, dir, "issuer.key", data), "")
	if err != nil {
		t.Fatal(err)
	}
	if !k.signing.Equal(key) {
		t.Error("loaded a different key")
	}
	if want := jwxThumbprint(t, &key.PublicKey); k.KeyID() != want {
		t.Errorf("KeyID = %s, jwx says %s", k.KeyID(), want)
	}
}

func TestLoadKeysRefuses(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	for _, tc := range []struct {
		name, file, want string
	}{
		{"public key only", "testdata/p256-public.pem", "public key only"},
		{"encrypted SEC 1 key", "testdata/p256-encrypted.pem", "EC PRIVATE KEY is encrypted"},
		{"P-384", "testdata/p384.pem", "curve P-384; want P-256"},
		{"secp256k1", "testdata/secp256k1.pem", "want an EC P-256 (prime256v1) private key"},
		{"RSA, PKCS#8", "testdata/rsa-pkcs8.pem", "an RSA key"},
		{"RSA, PKCS#1", "testdata/rsa-pkcs1.pem", "an RSA key"},
		{"Ed25519", "testdata/ed25519.pem", "an Ed25519 key"},
		{"garbage", writeFile(t, dir, "garbage", []byte("not a key at all\n")), "not PEM"},
		{"empty", writeFile(t, dir, "empty", nil), "not PEM"},
		{"curve parameters only", writeFile(t, dir, "params", openSSLPEM(t, key)[:len("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")]), "no private key (PEM blocks: EC PARAMETERS)"},
		{"two keys", writeFile(t, dir, "two", append(slices.Clip(block), block...)), "more than one private key"},
		{"certificate", writeFile(t, dir, "cert", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), "a certificate"},
		{"corrupt key", writeFile(t, dir, "corrupt", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der[:20]})), "EC PRIVATE KEY: x509"},
		{"missing file", filepath.Join(dir, "absent.key"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range []string{"signing", "previous"} {
				var err error
				if order == "signing" {
					_, err = LoadKeys(tc.file, "")
				} else {
					_, err = LoadKeys("testdata/p256-noout.pem", tc.file)
				}
				if err == nil {
					t.Fatalf("as %s key: loaded", order)
				}
				if !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("as %s key: error %q, want the file %s and %q", order, err, tc.file, tc.want)
				}
			}
		})
	}
}

// RFC 7638 §3.2: the required members only, in lexicographic order, no
// white space; x and y each 32 bytes (RFC 7518 §6.2.1.2), so a
// coordinate with a leading zero byte keeps it.
func TestKeyIDCanonicalMembers(t *testing.T) {
	dir := t.TempDir()
	var key *ecdsa.PrivateKey
	for key == nil { // about 128 tries: a key whose x or y starts with a zero byte
		k := newKey(t)
		if b, _ := k.PublicKey.Bytes(); b[1] == 0 || b[33] == 0 {
			key = k
		}
	}
	k, err := LoadKeys(writeKeyFile(t, dir, "issuer.key", key), "")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]string }
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	jk := set.Keys[0]
	for _, c := range []string{"x", "y"} {
		if b, err := base64.RawURLEncoding.DecodeString(jk[c]); err != nil || len(b) != 32 {
			t.Errorf("%s = %q: %d bytes (%v), want 32", c, jk[c], len(b), err)
		}
	}
	canonical := `{"crv":"P-256","kty":"EC","x":"` + jk["x"] + `","y":"` + jk["y"] + `"}`
	sum := sha256.Sum256([]byte(canonical))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k.KeyID() != want {
		t.Errorf("KeyID = %s, SHA-256 of %s is %s", k.KeyID(), canonical, want)
	}
	if want := jwxThumbprint(t, &key.PublicKey); k.KeyID() != want {
		t.Errorf("KeyID = %s, jwx says %s", k.KeyID(), want)
	}
}

func TestJWKS(t *testing.T) {
	dir := t.TempDir()
	signing, previous := newKey(t), newKey(t)
	signingFile := writeKeyFile(t, dir, "issuer.key", signing)
	previousFile := writeKeyFile(t, dir, "previous.key", previous)

	k, err := LoadKeys(signingFile, previousFile)
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys, want the signing and the previous key: %s", len(set.Keys), k.JWKS())
	}
	for i, want := range []struct {
		kid string
		pub *ecdsa.PublicKey
	}{{k.KeyID(), &signing.PublicKey}, {k.PreviousKeyID(), &previous.PublicKey}} {
		got := set.Keys[i]
		members := make([]string, 0, len(got))
		for m := range got {
			members = append(members, m)
		}
		slices.Sort(members)
		// no "d": the private scalar is never published
		if want := []string{"alg", "crv", "kid", "kty", "use", "x", "y"}; !slices.Equal(members, want) {
			t.Errorf("key %d has members %v, want %v", i, members, want)
		}
		if got["kid"] != want.kid || got["kid"] != jwxThumbprint(t, want.pub) {
			t.Errorf("key %d: kid %v, want %s", i, got["kid"], want.kid)
		}
		if got["kty"] != "EC" || got["crv"] != "P-256" || got["alg"] != "ES256" || got["use"] != "sig" {
			t.Errorf("key %d: %v", i, got)
		}
	}
	if k.PreviousKeyID() == k.KeyID() || k.PreviousKeyID() != jwxThumbprint(t, &previous.PublicKey) {
		t.Errorf("PreviousKeyID = %s", k.PreviousKeyID())
	}

	parsed, err := jwk.Parse(k.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	for i := range parsed.Len() {
		jk, _ := parsed.Key(i)
		if private, err := jwk.IsPrivateKey(jk); err != nil || private {
			t.Errorf("jwx reads key %d as private (%v)", i, err)
		}
	}
}

// Mid-rotation the previous key may equal the signing key (the old key
// copied to previous.key, the new one not yet written): published once.
func TestJWKSPreviousSameAsSigning(t *testing.T) {
	k, err := LoadKeys("testdata/p256-noout.pem", "testdata/p256-pkcs8.pem")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != kidNoOut || k.PreviousKeyID() != "" {
		t.Errorf("JWKS %s, previous kid %q: want the one key once", k.JWKS(), k.PreviousKeyID())
	}
}
