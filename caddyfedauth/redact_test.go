package caddyfedauth

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// revealsSecret reports whether text holds secret in a form a reader can
// decode: as is, percent-decoded (either hex case, '+' as space), inside
// a Go-quoted string, or hex or base64 (standard or URL alphabet, any
// alignment) decoded from any run of text. It shares no code with
// secretRedactor, which it checks.
func revealsSecret(text, secret string) bool {
	texts := []string{text}
	for i := range len(text) {
		if text[i] != '"' {
			continue
		}
		if q, err := strconv.QuotedPrefix(text[i:]); err == nil {
			if s, err := strconv.Unquote(q); err == nil {
				texts = append(texts, s)
			}
		}
	}
	var decoded []string
	for _, t := range texts {
		decoded = append(decoded, t, percentDecode(t), percentDecode(strings.ReplaceAll(t, "+", " ")))
		decoded = append(decoded, decodeRuns(t)...)
	}
	for _, d := range decoded {
		if strings.Contains(d, secret) || strings.Contains(d, url.QueryEscape(secret)) {
			return true
		}
	}
	return false
}

// percentDecode decodes every valid %XX and keeps everything else.
func percentDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.Write(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeRuns hex- and base64-decodes each maximal run of characters of
// those alphabets, from every starting offset.
func decodeRuns(s string) []string {
	isB64 := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+/-_", c) >= 0
	}
	var out []string
	for i := 0; i < len(s); {
		if !isB64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB64(s[j]) {
			j++
		}
		run := strings.NewReplacer("-", "+", "_", "/").Replace(s[i:j])
		for off := 0; off < 4 && off < len(run); off++ {
			r := run[off:]
			if len(r)%4 == 1 { // no base64 text has this length
				r = r[:len(r)-1]
			}
			if b, err := base64.RawStdEncoding.DecodeString(r); err == nil {
				out = append(out, string(b))
			}
			if h := r[:len(r)/2*2]; h != "" {
				if b, err := hex.DecodeString(h); err == nil {
					out = append(out, string(b))
				}
			}
		}
		i = j
	}
	return out
}

// echoes is every way a server could hand a secret back: the spellings
// it was sent in and common re-encodings, embedded in other text.
func echoes(clientID, secret string) map[string]string {
	basic := func(id string) string {
		return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	}
	quoted, _ := json.Marshal(secret)
	e := map[string]string{
		"raw":                       "bad secret " + secret + "!",
		"inside a word":             "x" + secret + "y",
		"form-encoded":              "client_secret=" + url.QueryEscape(secret) + "&grant_type=client_credentials",
		"form-encoded, lowercase":   strings.ToLower(url.QueryEscape(secret)),
		"path-escaped":              "/" + url.PathEscape(secret) + "/",
		"Go-quoted":                 strconv.Quote(secret),
		"JSON-quoted":               string(quoted),
		"hex":                       hex.EncodeToString([]byte(secret)),
		"HEX":                       strings.ToUpper(hex.EncodeToString([]byte(secret))),
		"Basic header":              "Authorization: Basic " + basic(clientID),
		"Basic header, URL base64":  strings.NewReplacer("+", "-", "/", "_").Replace(basic(clientID)),
		"Basic credentials decoded": url.QueryEscape(clientID) + ":" + url.QueryEscape(secret),
		"Basic credentials as text": clientID + ":" + secret,
		"whole body base64":         base64.StdEncoding.EncodeToString([]byte("grant_type=client_credentials&client_secret=" + url.QueryEscape(secret))),
	}
	// the secret's base64 characters depend on what precedes it
	for n := range 6 {
		prefix := strings.Repeat("i", n)
		e[fmt.Sprintf("Basic header, %d-byte client ID", n)] = "Basic " + basic(prefix)
		e[fmt.Sprintf("base64 after %d bytes", n)] = base64.StdEncoding.EncodeToString([]byte(prefix + secret + "tail"))
		e[fmt.Sprintf("raw base64 after %d bytes", n)] = base64.RawURLEncoding.EncodeToString([]byte(prefix + secret))
	}
	return e
}

func TestSecretRedactor(t *testing.T) {
	for _, secret := range []string{
		testClientSecret,
		"plain-alphanumeric-0123456789",
		`quo"te\back` + "\x01\u00e9\u2028",
		"s3cr3t",
		strings.Repeat("long+secret/", 40),
	} {
		red := newSecretRedactor(secret)
		for name, text := range echoes(testClientID, secret) {
			t.Run(fmt.Sprintf("%.12q/%s", secret, name), func(t *testing.T) {
				if !revealsSecret(text, secret) {
					t.Fatalf("the echo %q does not carry the secret: this case proves nothing", text)
				}
				got := red.redact(text)
				if revealsSecret(got, secret) {
					t.Errorf("redact(%q) = %q still reveals the secret", text, got)
				}
				if !strings.Contains(got, redactedMark) {
					t.Errorf("redact(%q) = %q has no %s", text, got, redactedMark)
				}
			})
		}
	}
}

func TestSecretRedactorKeepsOtherText(t *testing.T) {
	red := newSecretRedactor(testClientSecret)
	for _, s := range []string{
		"",
		"invalid_client",
		"Client authentication failed (client " + testClientID + ")",
		"requesting token: 401 Unauthorized",
	} {
		if got := red.redact(s); got != s {
			t.Errorf("redact(%q) = %q, want it unchanged", s, got)
		}
	}
	// adjacent and overlapping spellings become one mark
	s := "a" + testClientSecret + url.QueryEscape(testClientSecret) + "b"
	if got, want := red.redact(s), "a"+redactedMark+"b"; got != want {
		t.Errorf("redact(%q) = %q, want %q", s, got, want)
	}
	if got := newSecretRedactor("").redact("anything"); got != "anything" {
		t.Errorf("an empty secret redacted %q", got)
	}
}

func TestSecretRedactorErrors(t *testing.T) {
	red := newSecretRedactor(testClientSecret)
	if red.redactErr(nil) != nil {
		t.Error("redactErr(nil) is not nil")
	}
	inner := red.redactErr(errors.New("inner " + testClientSecret))
	if errors.Unwrap(inner) != nil {
		t.Error("a redacted error unwraps to its unredacted cause")
	}
	// text added around an already redacted error is redacted too
	outer := red.redactErr(fmt.Errorf("outer %s: %w", testClientSecret, inner))
	if revealsSecret(outer.Error(), testClientSecret) {
		t.Errorf("%q reveals the secret", outer)
	}
}
