package caddyfedauth

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// redactedMark stands in for every spelling of the secret.
const redactedMark = "[REDACTED]"

// secretRedactor removes a client secret, or the codes and tokens a
// request carried, from text that a token endpoint may have echoed back.
// Matching the plain secret is not enough: the request carried it
// form-encoded (client_secret_post) or base64-encoded in a Basic
// Authorization header, and a server may echo either, decoded or
// re-encoded. The base64 spellings are matched at every alignment, as
// GitHub Actions masks secrets, because the secret's characters in
// base64(id ":" secret) depend on the ID's length. A secret of a few
// bytes matches often, so more is redacted than needed: never less.
type secretRedactor struct {
	spellings []string
}

func newSecretRedactor(secrets ...string) *secretRedactor {
	var spellings []string
	for _, secret := range secrets {
		if secret != "" {
			spellings = append(spellings, secretSpellings(secret)...)
		}
	}
	// an empty spelling would match everywhere
	spellings = slices.DeleteFunc(spellings, func(s string) bool { return s == "" })
	slices.Sort(spellings)
	return &secretRedactor{spellings: slices.Compact(spellings)}
}

// secretSpellings are the ways the secret may come back.
func secretSpellings(secret string) []string {
	formEncoded := url.QueryEscape(secret) // as in the body, and in the Basic header (RFC 6749 §2.3.1)
	pathEscaped := url.PathEscape(secret)
	quoted := strconv.Quote(secret)
	jsonQuoted, _ := json.Marshal(secret)
	spellings := []string{
		secret,
		formEncoded,
		lowerPercentHex(formEncoded),
		pathEscaped,
		lowerPercentHex(pathEscaped),
		quoted[1 : len(quoted)-1], // as %q prints it
		string(jsonQuoted[1 : len(jsonQuoted)-1]), // as a JSON string holds it
		hex.EncodeToString([]byte(secret)),
		strings.ToUpper(hex.EncodeToString([]byte(secret))),
	}
	for _, sent := range []string{secret, formEncoded} {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for offset := range 3 {
				spellings = append(spellings, base64Infix(enc, sent, offset))
			}
		}
	}
	return spellings
}

// base64Infix returns the characters of enc's encoding of s that do not
// depend on what surrounds s, when s starts offset bytes into a 3-byte
// group of the encoded data.
func base64Infix(enc *base64.Encoding, s string, offset int) string {
	encoded := enc.EncodeToString(append(make([]byte, offset), s...))
	first := (8*offset + 5) / 6       // the first character with no bit of the prefix
	last := 8 * (offset + len(s)) / 6 // characters before this one hold no bit of what follows
	if first >= last {
		return ""
	}
	return encoded[first:last]
}

// lowerPercentHex spells the percent-escapes of s with lowercase hex
// digits, as some servers re-encode them.
func lowerPercentHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerASCII(b[i+1])
			b[i+2] = lowerASCII(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// redact replaces each run of text covered by a spelling of the secret
// with one redactedMark. Matches are found in the original text, so
// overlapping spellings cannot leave a part of one behind.
func (r *secretRedactor) redact(s string) string {
	if len(r.spellings) == 0 || s == "" {
		return s
	}
	covered := make([]bool, len(s))
	found := false
	for _, sp := range r.spellings {
		for start := 0; ; start++ {
			i := strings.Index(s[start:], sp)
			if i < 0 {
				break
			}
			start += i
			for j := start; j < start+len(sp); j++ {
				covered[j] = true
			}
			found = true
		}
	}
	if !found {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !covered[i] {
			b.WriteByte(s[i])
			continue
		}
		b.WriteString(redactedMark)
		for i+1 < len(s) && covered[i+1] {
			i++
		}
	}
	return b.String()
}

// redactErr returns err with the secret removed from its text. The result
// does not unwrap: the unredacted cause must not be printed by accident.
func (r *secretRedactor) redactErr(err error) error {
	if err == nil {
		return nil
	}
	// only an error redacted as a whole: one wrapping it may add text
	if done, ok := err.(*redactedError); ok {
		return done
	}
	return &redactedError{msg: r.redact(err.Error())}
}

// redactedError is an error whose text holds no spelling of the secret.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }
