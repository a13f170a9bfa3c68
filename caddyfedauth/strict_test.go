package caddyfedauth

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// tokenCase is a token and the verifier's expected reason.
type tokenCase struct {
	name, token, want string
	status            int // through the handler, when not 401: the bearer syntax refuses it first
}

const b64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// strictDecodingAttacks are tokens signed with the issuer's own key that
// a lax decoder reads one way and another parser another, or that spell
// a valid token a second way. Each must be malformed_token; the "ok"
// cases show the refusals are not wider than that.
func strictDecodingAttacks(t testing.TB, ti *testIssuer, k *testKey) []tokenCase {
	t.Helper()
	const aud = "fed-gw.tenant1"
	hdr := fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"at+jwt"}`, k.alg, k.kid)
	// payload is the valid claims without drop, with extra members
	// (",...") spliced in at the end, as raw JSON.
	payload := func(extra string, drop ...string) string {
		c := ti.claims(aud)
		for _, d := range drop {
			delete(c, d)
		}
		b := mustJSON(t, c)
		return string(b[:len(b)-1]) + extra + "}"
	}
	signed := func(p string) string { return signToken(t, hdr, p, k.alg, k.priv) }
	// signSegments signs segments exactly as spelled.
	signSegments := func(h, p string) string {
		in := h + "." + p
		return in + "." + b64(signInput(t, []byte(in), k.alg, k.priv))
	}
	good := signed(payload(""))
	parts := strings.Split(good, ".")
	far := ti.claims(aud)["exp"].(int64) + 86400*365*100
	past := ti.claims(aud)["iat"].(int64) - 3600

	cases := []tokenCase{
		{name: "control: valid", token: good, want: "ok"},
		// RFC 7519 names are case-sensitive; encoding/json folds case and
		// keeps the last duplicate, so these used to pass.
		{name: "aud and AUD", token: signed(payload(`,"aud":"someone-else","AUD":"`+aud+`"`, "aud")), want: "malformed_token"},
		{name: "AUD alone", token: signed(payload(`,"AUD":"`+aud+`"`, "aud")), want: "malformed_token"},
		{name: "sub then SUB", token: signed(payload(`,"sub":"alice","SUB":"admin"`, "sub")), want: "malformed_token"},
		{name: "expired exp, future Exp", token: signed(payload(fmt.Sprintf(`,"exp":%d,"Exp":%d`, past, far), "exp")), want: "malformed_token"},
		{name: "wrong iss, right Iss", token: signed(payload(`,"iss":"https://evil.example","Iss":"`+ti.URL()+`"`, "iss")), want: "malformed_token"},
		{name: "Client_ID", token: signed(payload(`,"Client_ID":"admin"`)), want: "malformed_token"},
		{name: "SCOPE", token: signed(payload(`,"SCOPE":"admin"`)), want: "malformed_token"},
		{name: "Typ claim", token: signed(payload(`,"Typ":"Bearer"`)), want: "malformed_token"},
		{name: "NBF", token: signed(payload(`,"NBF":1`)), want: "malformed_token"},
		// encoding/json also folds Unicode: U+017F LATIN SMALL LETTER LONG S is "s".
		{name: "long-s sub (U+017F)", token: signed(payload(`,"ſub":"admin"`)), want: "malformed_token"},
		{name: "escaped long-s sub", token: signed(payload(`,"\u017fub":"admin"`)), want: "malformed_token"},
		// Duplicates, whatever their case.
		{name: "sub twice", token: signed(payload(`,"sub":"alice","sub":"admin"`, "sub")), want: "malformed_token"},
		{name: "exp twice", token: signed(payload(fmt.Sprintf(`,"exp":%d,"exp":%d`, past, far), "exp")), want: "malformed_token"},
		{name: "unknown claim twice", token: signed(payload(`,"x":1,"x":2`)), want: "malformed_token"},
		{name: "sub and escaped sub", token: signed(payload(`,"\u0073ub":"admin"`)), want: "malformed_token"},
		{name: "nested duplicate (roles)", token: signed(payload(`,"realm_access":{"roles":["user"],"roles":["admin"]}`)), want: "malformed_token"},
		{name: "duplicate in an object in an array", token: signed(payload(`,"x":[{"a":1,"a":2}]`)), want: "malformed_token"},
		{name: "control: escaped aud reads as aud", token: signed(payload(`,"\u0061ud":"`+aud+`"`, "aud")), want: "ok"},
		{name: "control: nested case-variants are not ours", token: signed(payload(`,"realm_access":{"Roles":["a"],"roles":["b"]}`)), want: "ok"},
		{name: "control: whitespace around members", token: signed(" {\n" + payload("")[1:] + "\n"), want: "ok"},
		// Exactly one JSON object, in UTF-8.
		{name: "invalid UTF-8 in sub", token: signed(payload(`,"sub":"adm`+"\xff"+`in"`, "sub")), want: "malformed_token"},
		{name: "invalid UTF-8 in a member name", token: signed(payload(`,"` + "\xc3" + `":1`)), want: "malformed_token"},
		{name: "lone surrogate in sub", token: signed(payload(`,"sub":"\ud800"`, "sub")), want: "malformed_token"},
		{name: "lone low surrogate in sub", token: signed(payload(`,"sub":"\udc00"`, "sub")), want: "malformed_token"},
		{name: "control: surrogate pair in sub", token: signed(payload(`,"sub":"\ud83d\ude00"`, "sub")), want: "ok"},
		{name: "trailing object", token: signed(payload("") + "{}"), want: "malformed_token"},
		{name: "trailing garbage", token: signed(payload("") + " x"), want: "malformed_token"},
		{name: "trailing comma", token: signed(payload(",")), want: "malformed_token"},
		{name: "payload is an array", token: signed("[" + payload("") + "]"), want: "malformed_token"},
		{name: "payload is null", token: signed("null"), want: "malformed_token"},
		{name: "payload empty", token: signed(""), want: "malformed_token"},
		{name: "nested 40 deep", token: signed(payload(`,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40))), want: "malformed_token"},
		{name: "sub null", token: signed(payload(`,"sub":null`, "sub")), want: "malformed_token"},
		{name: "aud array with a number", token: signed(payload(`,"aud":["`+aud+`",1]`, "aud")), want: "malformed_token"},

		// One token, one spelling (RFC 7515 §2: no padding, no stray bits,
		// the URL alphabet only). jwx accepts each of these.
		{name: "padding after the signature", token: good + "==", want: "malformed_token"},
		{name: "one = after the signature", token: good + "=", want: "malformed_token"},
		{name: "padded payload, signed", token: signSegments(parts[0], parts[1]+"="), want: "malformed_token", status: 400},
		{name: "newline in the signature", token: parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], want: "malformed_token", status: 400},
	}
	// Stray bits in the last character of each segment. The header and
	// payload are signed as spelled, so only our check can refuse them.
	uh, up := unaligned(t, hdr), unaligned(t, payload(""))
	cases = append(cases,
		tokenCase{name: "control: unaligned segments", token: signSegments(b64([]byte(uh)), b64([]byte(up))), want: "ok"},
		tokenCase{name: "stray bits in the header, signed", token: signSegments(strayBits(t, b64([]byte(uh)), 1), b64([]byte(up))), want: "malformed_token"},
		tokenCase{name: "stray bits in the payload, signed", token: signSegments(b64([]byte(uh)), strayBits(t, b64([]byte(up)), 1)), want: "malformed_token"},
	)
	for _, v := range signatureSpellings(t, good) {
		cases = append(cases, tokenCase{name: "signature " + v.name, token: v.token, want: "malformed_token"})
	}
	// The standard alphabet ('+' '/' for '-' '_'), signed as spelled.
	std := strings.NewReplacer("-", "+", "_", "/")
	for i := 0; ; i++ {
		h := fmt.Sprintf(`{"alg":%q,"kid":%q,"x":%q}`, k.alg, k.kid, strings.Repeat("~", i))
		if eh := b64([]byte(h)); strings.ContainsAny(eh, "-_") {
			cases = append(cases, tokenCase{name: "standard alphabet in the header, signed",
				token: signSegments(std.Replace(eh), parts[1]), want: "malformed_token"})
			break
		}
	}
	return cases
}

// signatureSpellings are the other spellings of token's signature: each
// value of the unused bits of its last character, and the standard
// alphabet. jwx decodes all of them to the same signature.
func signatureSpellings(t testing.TB, token string) []tokenCase {
	t.Helper()
	sig := token[strings.LastIndexByte(token, '.')+1:]
	var out []tokenCase
	unused := map[int]int{2: 0x0f, 3: 0x03}[len(sig)%4]
	for bits := 1; bits <= unused; bits++ {
		out = append(out, tokenCase{name: fmt.Sprintf("last character with unused bits %#x", bits),
			token: token[:len(token)-len(sig)] + strayBits(t, sig, bits)})
	}
	if i := strings.IndexAny(sig, "-_"); i >= 0 {
		alt := map[byte]string{'-': "+", '_': "/"}[sig[i]]
		out = append(out, tokenCase{name: "in the standard alphabet", token: token[:len(token)-len(sig)] + sig[:i] + alt + sig[i+1:]})
	}
	return out
}

// strayBits sets the unused low bits of seg's last character to bits.
func strayBits(t testing.TB, seg string, bits int) string {
	t.Helper()
	unused := map[int]int{2: 0x0f, 3: 0x03}[len(seg)%4]
	if unused == 0 || bits&^unused != 0 {
		t.Fatalf("segment of length %d has no unused bits %#x", len(seg), bits)
	}
	v := strings.IndexByte(b64URLAlphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64URLAlphabet[v&^unused|bits])
}

// unaligned pads the JSON object s with spaces so that its base64url
// form ends with unused bits.
func unaligned(t testing.TB, s string) string {
	t.Helper()
	if !json.Valid([]byte(s)) || s[0] != '{' {
		t.Fatalf("not a JSON object: %s", s)
	}
	for len(s)%3 != 1 {
		s = "{ " + s[1:]
	}
	return s
}
