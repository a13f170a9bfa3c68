package sysissuer

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

const gateway = "https://gateway.example.com"

// keycloakToken is the IdP token behind the commercial docs' decoded
// OpenFaaS token (seed 004): its claims before the exchange.
const keycloakToken = `{
	"at_hash": "F53gv7injmJ9hUGCOtDgBw",
	"aud": "openfaas",
	"auth_time": 1706088607,
	"azp": "openfaas",
	"email_verified": true,
	"exp": 1706088907,
	"family_name": "Verstraete",
	"given_name": "Han",
	"groups": ["openfaas-dev"],
	"iat": 1706088607,
	"iss": "https://keycloak.example.com/realms/openfaas",
	"jti": "0b1c4e4e-0000-4000-8000-000000000000",
	"name": "Han Verstraete",
	"nonce": "1706088744941521000",
	"preferred_username": "welteki",
	"session_state": "65c3df72-dad8-4b2f-95aa-f1556b40ab80",
	"sid": "65c3df72-dad8-4b2f-95aa-f1556b40ab80",
	"sub": "a81bcb85-72a8-446a-9263-004944a4e9f4",
	"typ": "ID"
}`

// decodedExampleClaims are the payload members of the docs' decoded
// OpenFaaS token, exchanged from keycloakToken.
var decodedExampleClaims = []string{
	"at_hash", "aud", "auth_time", "azp", "email_verified", "exp", "family_name", "fed:iss", "given_name", "groups",
	"iat", "iss", "jti", "name", "nonce", "policy", "preferred_username", "session_state", "sid", "sub", "typ",
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// decode reads claims as the verifier hands them over: UseNumber.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAccessClaimsAsTheDocsExample(t *testing.T) {
	now := time.Unix(1706088745, 0)
	c := AccessClaims(decode(t, keycloakToken), gateway, []string{"fn-rw"}, now, 12*time.Hour)
	if got := slices.Sorted(maps.Keys(c)); !slices.Equal(got, decodedExampleClaims) {
		t.Errorf("claims %v\nwant the docs' example's %v", got, decodedExampleClaims)
	}
	for claim, want := range map[string]any{
		"iss": gateway, "aud": gateway,
		"sub":     "fed:a81bcb85-72a8-446a-9263-004944a4e9f4",
		"fed:iss": "https://keycloak.example.com/realms/openfaas",
		"policy":  []string{"fn-rw"},
		"iat":     int64(1706088745), "exp": int64(1706131945), // the example's: iat + tokenExpiry 12h
		"at_hash": "F53gv7injmJ9hUGCOtDgBw", "auth_time": json.Number("1706088607"), "nonce": "1706088744941521000",
		"groups": []any{"openfaas-dev"}, "email_verified": true, "typ": "ID",
	} {
		if !reflect.DeepEqual(c[claim], want) {
			t.Errorf("%s = %#v, want %#v", claim, c[claim], want)
		}
	}
	if jti, _ := c["jti"].(string); !uuidV4.MatchString(jti) || jti == "0b1c4e4e-0000-4000-8000-000000000000" {
		t.Errorf("jti %q: want a new random UUID", c["jti"])
	}
}

func TestAccessClaimsOverridesAndDrops(t *testing.T) {
	original := decode(t, `{
		"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main",
		"aud": ["https://gateway.example.com", "other"], "azp": "x", "jti": "j1",
		"iat": 1, "exp": 2, "nbf": 1,
		"policy": ["admin"], "fed:iss": "https://forged.example.com",
		"function": {"permissions": ["*"]}, "act": {"sub": "svc"}, "may_act": {"sub": "svc"}, "cnf": {"jkt": "abc"},
		"kubernetes.io": {"namespace": "openfaas", "pod": {"name": "nginx", "uid": "4244"}},
		"big": 12345678901234567890123, "dec": 1.50, "neg": -0.0, "nothing": null, "list": [1, "a", {"b": [true]}]
	}`)
	before := mustJSON(t, original)
	now := time.Unix(1700000000, 0)
	c := AccessClaims(original, gateway, []string{"ci-deploy", "read"}, now, 30*time.Minute)

	if mustJSON(t, original) != before {
		t.Error("AccessClaims changed the original claims")
	}
	for claim, want := range map[string]any{
		"iss": gateway, "aud": gateway, // not the original's array
		"sub":     "fed:repo:o/r:ref:refs/heads/main",
		"fed:iss": "https://token.actions.githubusercontent.com", // the token's, not a claim of that name
		"policy":  []string{"ci-deploy", "read"},                 // the matched roles', not the token's
		"iat":     int64(1700000000), "exp": int64(1700001800),
		"azp": "x",
	} {
		if !reflect.DeepEqual(c[claim], want) {
			t.Errorf("%s = %#v, want %#v", claim, c[claim], want)
		}
	}
	for _, claim := range []string{"nbf", "function", "act", "may_act", "cnf"} {
		if v, ok := c[claim]; ok {
			t.Errorf("%s copied: %v", claim, v)
		}
	}
	if c["jti"] == "j1" {
		t.Error("jti copied")
	}
	for _, claim := range []string{"kubernetes.io", "big", "dec", "neg", "nothing", "list"} {
		if !reflect.DeepEqual(c[claim], original[claim]) {
			t.Errorf("%s = %#v, want it copied: %#v", claim, c[claim], original[claim])
		}
	}

	// Signed, the numbers read as they were written.
	k := loadKeys(t, "testdata/p256-noout.pem", "")
	token, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	payload := segment(t, token, 1)
	for _, want := range []string{`"big":12345678901234567890123`, `"dec":1.50`, `"neg":-0.0`, `"nothing":null`,
		`"kubernetes.io":{"namespace":"openfaas","pod":{"name":"nginx","uid":"4244"}}`, `"list":[1,"a",{"b":[true]}]`} {
		if !bytes.Contains(payload, []byte(want)) {
			t.Errorf("payload lacks %s: %s", want, payload)
		}
	}
}

func TestAccessClaimsEdges(t *testing.T) {
	now := time.Unix(1700000000, 0)
	a := AccessClaims(map[string]any{"sub": "s", "iss": "i"}, gateway, nil, now, time.Hour)
	b := AccessClaims(map[string]any{"sub": "s", "iss": "i"}, gateway, nil, now, time.Hour)
	if got := mustJSON(t, a["policy"]); got != "[]" {
		t.Errorf("nil policies encode as %s, want []", got)
	}
	if a["jti"] == b["jti"] {
		t.Errorf("two exchanges with one jti %v", a["jti"])
	}
	policies := []string{"p"}
	c := AccessClaims(map[string]any{"sub": "s"}, gateway, policies, now, time.Hour)
	policies[0] = "changed"
	if !reflect.DeepEqual(c["policy"], []string{"p"}) {
		t.Errorf("policy shares the caller's slice: %v", c["policy"])
	}
	// a sub or iss that is not a string is not made into one
	c = AccessClaims(map[string]any{"sub": json.Number("7"), "iss": true}, gateway, nil, now, time.Hour)
	if _, ok := c["sub"]; ok {
		t.Errorf("sub = %v from a number", c["sub"])
	}
	if _, ok := c["fed:iss"]; ok {
		t.Errorf("fed:iss = %v from a bool", c["fed:iss"])
	}
}

func TestFunctionClaims(t *testing.T) {
	now := time.Unix(1715848921, 0)
	access := AccessClaims(decode(t, keycloakToken), gateway, []string{"invoke-policy"}, now.Add(-time.Minute), time.Hour)
	for _, tc := range []struct {
		name     string
		audience []string
		want     string // the blog's shape, with our times and jti
	}{
		{"no audience", nil,
			`{"aud":["https://gateway.example.com"],"exp":1715849221,"function":{"permissions":["openfaas-fn:*","dev:env"]},"iat":1715848921,"iss":"https://gateway.example.com","jti":"J","sub":"fed:a81bcb85-72a8-446a-9263-004944a4e9f4"}`},
		{"audience", []string{"openfaas-fn:env", "openfaas-fn:figlet"},
			`{"aud":["https://gateway.example.com"],"exp":1715849221,"function":{"audience":["openfaas-fn:env","openfaas-fn:figlet"],"permissions":["openfaas-fn:*","dev:env"]},"iat":1715848921,"iss":"https://gateway.example.com","jti":"J","sub":"fed:a81bcb85-72a8-446a-9263-004944a4e9f4"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := FunctionClaims(access, gateway, []string{"openfaas-fn:*", "dev:env"}, tc.audience, now)
			jti, _ := c["jti"].(string)
			if !uuidV4.MatchString(jti) || jti == access["jti"] {
				t.Errorf("jti %q: want a new random UUID", c["jti"])
			}
			c["jti"] = "J"
			if got := mustJSON(t, c); got != tc.want {
				t.Errorf("claims\n%s\nwant\n%s", got, tc.want)
			}
			if ExpiresIn(c, now) != 300 {
				t.Errorf("expires_in %d, want 300", ExpiresIn(c, now))
			}
		})
	}
	if got := mustJSON(t, FunctionClaims(access, gateway, nil, nil, now)["function"]); got != `{"permissions":[]}` {
		t.Errorf("no permissions: function %s, want permissions []", got)
	}
}

// A function token does not outlive the access token it came from,
// whichever way its exp was decoded.
func TestFunctionClaimsExpiryCapped(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, exp := range []any{int64(1700000060), json.Number("1700000060"), json.Number("1700000060.9"), float64(1700000060)} {
		c := FunctionClaims(map[string]any{"sub": "fed:s", "exp": exp}, gateway, []string{"*"}, nil, now)
		if c["exp"] != int64(1700000060) || ExpiresIn(c, now) != 60 {
			t.Errorf("access exp %#v: function exp %v, expires_in %d; want 1700000060, 60", exp, c["exp"], ExpiresIn(c, now))
		}
	}
	for _, exp := range []any{nil, "soon", json.Number("1e999"), int64(1800000000)} {
		c := FunctionClaims(map[string]any{"sub": "fed:s", "exp": exp}, gateway, []string{"*"}, nil, now)
		if c["exp"] != now.Add(FunctionTokenTTL).Unix() {
			t.Errorf("access exp %#v: function exp %v, want now + 5m", exp, c["exp"])
		}
	}
	if got := ExpiresIn(map[string]any{"exp": int64(1699999990)}, now); got != 0 {
		t.Errorf("expired: expires_in %d, want 0", got)
	}
}

// The faas-middleware watchdog's checks: iss, aud containing the issuer,
// kid in the JWKS, function.permissions and audience.
func TestFunctionTokenAsTheWatchdogReadsIt(t *testing.T) {
	k := loadKeys(t, "testdata/p256-ecparam.pem", "")
	now := time.Now()
	access := AccessClaims(map[string]any{"sub": "u", "iss": "https://idp"}, gateway, []string{"p"}, now, time.Hour)
	token, err := k.Sign(FunctionClaims(access, gateway, []string{"dev:env"}, []string{"dev:env"}, now))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseString(token, jwt.WithKeySet(keySet(t, k), jws.WithRequireKid(true)),
		jwt.WithIssuer(gateway), jwt.WithAudience(gateway), jwt.WithValidate(true))
	if err != nil {
		t.Fatal(err)
	}
	var fn struct {
		Permissions []string `json:"permissions"`
		Audience    []string `json:"audience"`
	}
	var fnClaim map[string]any
	if err := parsed.Get("function", &fnClaim); err != nil {
		t.Fatal(err)
	}
	raw := mustJSON(t, fnClaim)
	if err := json.Unmarshal([]byte(raw), &fn); err != nil || !slices.Equal(fn.Permissions, []string{"dev:env"}) || !slices.Equal(fn.Audience, []string{"dev:env"}) {
		t.Errorf("function %s (%v)", raw, err)
	}
	if parsed.Has("policy") || parsed.Has("fed:iss") {
		t.Error("a function token carries policy or fed:iss: it would pass for an API token")
	}
}
