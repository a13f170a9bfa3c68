package caddyfedauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestDecodeObject holds the scanner to RFC 8259 on the inputs where
// hand-written JSON scanners usually go wrong.
func TestDecodeObject(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` { } `, true},
		{"{\t\"a\"\r\n:\n1}", true},
		{`{"a":-0,"b":0.5,"c":1e5,"d":1E+5,"e":-1.25e-3,"f":123}`, true},
		{`{"a":true,"b":false,"c":null,"d":[],"e":{},"f":[1,"x",[{}]]}`, true},
		{`{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, true},
		{`{"a":"é ſ 😀"}`, true},
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":.5}`, false},
		{`{"a":-}`, false},
		{`{"a":1e}`, false},
		{`{"a":1e+}`, false},
		{`{"a":+1}`, false},
		{`{"a":0x1}`, false},
		{`{"a":NaN}`, false},
		{`{"a":Infinity}`, false},
		{`{"a":tru}`, false},
		{`{"a":nulll}`, false},
		{`{"a":True}`, false},
		{`{"a":1,}`, false},
		{`{,}`, false},
		{`{"a":[1,]}`, false},
		{`{"a":[,1]}`, false},
		{`{"a" 1}`, false},
		{`{"a":1 "b":2}`, false},
		{`{a:1}`, false},
		{`{'a':1}`, false},
		{`{"a":'x'}`, false},
		{`{"a":"x}`, false},
		{`{"a":"x\"}`, false},
		{`{"a":"\x"}`, false},
		{`{"a":"\u12"}`, false},
		{`{"a":"\u12G4"}`, false},
		{`{"a":"\U00e9"}`, false},
		{"{\"a\":\"tab\there\"}", false},
		{"{\"a\":\"nul\x00\"}", false},
		{"{\"a\":1}\x00", false},
		{"{\v}", false},
		{"{\f}", false},
		{"\ufeff{}", false}, // a byte-order mark is not JSON whitespace
		{`{"a":1}}`, false},
		{`{"a":{"b":1}`, false},
		{`{"a":[1}`, false},
		{`{"a":1]`, false},
		{`{"a":[1,2]]}`, false},
		{`{"a":1}[]`, false},
		{`[]`, false},
		{`"x"`, false},
		{`1`, false},
		{``, false},
		{`   `, false},
		{`{"a":1,"a":1}`, false},
		{`{"a":{"b":1,"b":1}}`, false},
		{`{"a":"\ud800"}`, false},
		{`{"a":"\udfff"}`, false},
		{`{"a":"\ud800\u0041"}`, false},
		{`{"a":"\ud800x"}`, false},
		{`{"\ud800":1}`, false},
		{`{"a":` + strings.Repeat(`[`, maxJSONDepth-1) + strings.Repeat(`]`, maxJSONDepth-1) + `}`, true},
		{`{"a":` + strings.Repeat(`[`, maxJSONDepth) + strings.Repeat(`]`, maxJSONDepth) + `}`, false},
	} {
		err := decodeObject([]byte(tc.in), skipMember)
		if (err == nil) != tc.ok {
			t.Errorf("decodeObject(%q): %v, want ok=%v", tc.in, err, tc.ok)
		}
		// Where the scanner accepts, encoding/json must agree.
		if err == nil && !json.Valid([]byte(tc.in)) {
			t.Errorf("decodeObject(%q) accepted what encoding/json refuses", tc.in)
		}
	}
}

func TestDecodeClaims(t *testing.T) {
	c, err := decodeClaims([]byte(`{"iss":"https://i","sub":"s\u00e9","aud":["a","b"],"azp":"p","client_id":"c",
		"scope":"openid x","exp":1700000000.5,"nbf":1600000000,"iat":0,"jti":"j","typ":"Bearer","other":{"x":[1,{"y":null}]}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := accessClaims{Issuer: "https://i", Subject: "sé", Audience: []string{"a", "b"}, AZP: "p", ClientID: "c",
		Scope: "openid x", Expiry: time.Unix(1700000000, 5e8), NotBefore: time.Unix(1600000000, 0), IssuedAt: time.Unix(0, 0)}
	if !claimsEqual(*c, want) {
		t.Errorf("got %+v\nwant %+v", *c, want)
	}
	for _, in := range []string{
		`{"scope":["a","b"]}`, `{"scope":{"a":1}}`, `{"aud":"x"}`, `{"aud":[]}`, `{"jti":1}`, `{"typ":{}}`,
	} {
		if _, err := decodeClaims([]byte(in), false); err != nil {
			t.Errorf("decodeClaims(%s): %v", in, err)
		}
	}
	for _, in := range []string{
		`{"iss":1}`, `{"sub":null}`, `{"aud":{"a":1}}`, `{"aud":[null]}`, `{"exp":"1"}`, `{"exp":-1}`,
		`{"exp":1e12}`, `{"exp":1e400}`, `{"iat":true}`, `{"scope":{"a":1,"a":2}}`, `{"Aud":"x"}`, `{"JTI":"x"}`,
		`{"ſcope":"x"}`, `{"client_ID":"x"}`,
	} {
		if _, err := decodeClaims([]byte(in), false); err == nil {
			t.Errorf("decodeClaims(%s) accepted", in)
		}
	}
}

func claimsEqual(a, b accessClaims) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && slices.Equal(a.Audience, b.Audience) &&
		a.AZP == b.AZP && a.ClientID == b.ClientID && a.Scope == b.Scope &&
		a.Expiry.Equal(b.Expiry) && a.NotBefore.Equal(b.NotBefore) && a.IssuedAt.Equal(b.IssuedAt) &&
		a.Expiry.IsZero() == b.Expiry.IsZero() && a.NotBefore.IsZero() == b.NotBefore.IsZero() &&
		a.IssuedAt.IsZero() == b.IssuedAt.IsZero()
}

// FuzzDecodeClaims is a differential check of the single-pass scanner
// against a slow reference built on encoding/json's tokenizer: both
// accept the same payloads and read the same claims. The reference
// cannot see lone surrogates (encoding/json reads them as U+FFFD), so
// the scanner may refuse more only where the input has a \uD800-\uDFFF
// escape.
func FuzzDecodeClaims(f *testing.F) {
	ti := newTestIssuer(f)
	k := ti.addKey(f, "rsa-1", "RS256", "rsa2048")
	for _, tc := range strictDecodingAttacks(f, ti, k) {
		parts := strings.Split(tc.token, ".")
		if p, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			f.Add(p)
		}
	}
	for _, s := range []string{
		`{}`, `{"exp":1e400}`, `{"aud":["a",{"b":1}]}`, `{"a":"\ud800\udc00"}`, `{"a":"\udc00"}`, `{"a":[[[[]]]]}`,
		`{"scope":["x"],"Scope":"y"}`, `{"K":1,"k":1}`, `{"a":1} `, "{\"\u212a\":1}",
	} {
		f.Add([]byte(s))
	}
	surrogate := regexp.MustCompile(`(?i)\\u[d][89a-f]`)
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := decodeClaims(payload, false)
		want, werr := referenceClaims(payload)
		switch {
		case err == nil && werr != nil:
			t.Fatalf("scanner accepted what the reference refuses (%v): %q", werr, payload)
		case err != nil && werr == nil:
			if !surrogate.Match(payload) {
				t.Fatalf("scanner refused (%v) what the reference accepts: %q", err, payload)
			}
		case err == nil && !claimsEqual(*got, *want):
			t.Fatalf("claims differ for %q:\nscanner   %+v\nreference %+v", payload, *got, *want)
		}
	})
}

// referenceClaims is decodeClaims written the slow, obvious way, on
// encoding/json's tokenizer.
func referenceClaims(payload []byte) (*accessClaims, error) {
	if !utf8.Valid(payload) {
		return nil, errors.New("utf8")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	top, err := referenceObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	c := new(accessClaims)
	str := func(name string, dst *string) error {
		v, ok := top[name]
		if !ok {
			return nil
		}
		if s, ok := v.(string); ok {
			*dst = s
			return nil
		}
		return fmt.Errorf("%s not a string", name)
	}
	date := func(name string, dst *time.Time) error {
		v, ok := top[name]
		if !ok {
			return nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s not a number", name)
		}
		f, err := n.Float64()
		if err != nil || f < 0 || f > 1e11 {
			return fmt.Errorf("%s out of range", name)
		}
		sec, frac := math.Modf(f)
		*dst = time.Unix(int64(sec), int64(frac*1e9))
		return nil
	}
	for name := range top {
		for _, r := range registeredClaims {
			if name != r && strings.EqualFold(name, r) {
				return nil, errors.New("case-variant")
			}
		}
	}
	if s, ok := top["scope"].(string); ok {
		c.Scope = s
	}
	if v, ok := top["aud"]; ok {
		switch a := v.(type) {
		case string:
			c.Audience = []string{a}
		case []any:
			for _, e := range a {
				s, ok := e.(string)
				if !ok {
					return nil, errors.New("aud element")
				}
				c.Audience = append(c.Audience, s)
			}
		default:
			return nil, errors.New("aud type")
		}
	}
	for _, err := range []error{
		str("iss", &c.Issuer), str("sub", &c.Subject), str("azp", &c.AZP), str("client_id", &c.ClientID),
		date("exp", &c.Expiry), date("nbf", &c.NotBefore), date("iat", &c.IssuedAt),
	} {
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// referenceObject reads an object's members after its '{', refusing
// duplicates, and returns the values (objects as nil).
func referenceObject(dec *json.Decoder, depth int) (map[string]any, error) {
	m := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := t.(string)
		if _, dup := m[name]; dup {
			return nil, errors.New("duplicate")
		}
		v, err := referenceValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		m[name] = v
	}
	_, err := dec.Token()
	return m, err
}

func referenceValue(dec *json.Decoder, depth int) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := t.(json.Delim)
	if !ok {
		return t, nil
	}
	if depth > maxJSONDepth {
		return nil, errors.New("too deep")
	}
	if d == '{' {
		_, err := referenceObject(dec, depth)
		return nil, err
	}
	var list []any
	for dec.More() {
		v, err := referenceValue(dec, depth+1)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	_, err = dec.Token()
	return list, err
}
