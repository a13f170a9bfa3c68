package sysissuer

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// subjectToken stands for a token; no answer may contain it.
const subjectToken = "eyJhbGciOiJSUzI1NiJ9.SECRET-SUBJECT-TOKEN.c2ln"

// form is a token exchange request as go-sdk's ExchangeIDToken sends it,
// with changes: a key with nil values is removed.
func form(changes url.Values) url.Values {
	f := url.Values{
		"grant_type":         {GrantTokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {TokenTypeIDToken},
	}
	for k, v := range changes {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	return f
}

func manyAudiences(n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = "openfaas-fn:fn" + strconv.Itoa(i)
	}
	return a
}

func TestParseExchangeAccepts(t *testing.T) {
	name253 := strings.Repeat("a", 253)
	for _, tc := range []struct {
		name    string
		changes url.Values
		want    ExchangeRequest
	}{
		{"id_token, as go-sdk sends it", nil,
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{"access_token", url.Values{"subject_token_type": {TokenTypeAccess}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeAccess}},
		{"jwt", url.Values{"subject_token_type": {TokenTypeJWT}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeJWT}},
		{"function token, as faas-cli invoke asks", url.Values{"scope": {"function"}, "audience": {"openfaas-fn:env"}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, Scope: "function", Audience: []string{"openfaas-fn:env"}}},
		{"repeated audience, duplicates removed in order", url.Values{"scope": {"function"}, "audience": {"openfaas-fn:env", "dev:fig.let", "openfaas-fn:env"}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, Scope: "function", Audience: []string{"openfaas-fn:env", "dev:fig.let"}}},
		{"253-byte names", url.Values{"scope": {"function"}, "audience": {name253 + ":" + name253}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, Scope: "function", Audience: []string{name253 + ":" + name253}}},
		{"MaxAudiences audiences", url.Values{"scope": {"function"}, "audience": manyAudiences(MaxAudiences)},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, Scope: "function", Audience: manyAudiences(MaxAudiences)}},
		{"function token without audience", url.Values{"scope": {"function"}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, Scope: "function"}},
		// RFC 6749 §3.1: a parameter without a value is as if omitted.
		{"empty scope and audience", url.Values{"scope": {""}, "audience": {""}, "resource": {""}, "actor_token": {""}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{"requested_token_type", url.Values{"requested_token_type": {TokenTypeAccess}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken, RequestedTokenType: TokenTypeAccess}},
		// RFC 6749 §3.2: unknown parameters are ignored.
		{"client_id and unknown parameters", url.Values{"client_id": {"openfaas", "again"}, "x": {"1"}},
			ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExchange(form(tc.changes))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseExchangeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes url.Values
		code    string
		desc    string // a part of the description
	}{
		{"no grant_type", url.Values{"grant_type": nil}, CodeInvalidRequest, "grant_type is missing"},
		{"empty grant_type", url.Values{"grant_type": {""}}, CodeInvalidRequest, "grant_type is missing"},
		{"client_credentials", url.Values{"grant_type": {"client_credentials"}}, CodeUnsupportedGrantType, GrantTokenExchange},
		{"grant_type in another case", url.Values{"grant_type": {strings.ToUpper(GrantTokenExchange)}}, CodeUnsupportedGrantType, "grant_type"},
		{"grant_type twice", url.Values{"grant_type": {GrantTokenExchange, GrantTokenExchange}}, CodeInvalidRequest, "grant_type is repeated"},
		{"subject_token twice", url.Values{"subject_token": {subjectToken, "other"}}, CodeInvalidRequest, "subject_token is repeated"},
		{"subject_token_type twice", url.Values{"subject_token_type": {TokenTypeIDToken, TokenTypeJWT}}, CodeInvalidRequest, "subject_token_type is repeated"},
		{"scope twice, same value", url.Values{"scope": {"function", "function"}}, CodeInvalidRequest, "scope is repeated"},
		{"requested_token_type twice", url.Values{"requested_token_type": {TokenTypeJWT, TokenTypeJWT}}, CodeInvalidRequest, "requested_token_type is repeated"},
		{"no subject_token", url.Values{"subject_token": nil}, CodeInvalidRequest, "subject_token is missing"},
		{"no subject_token_type", url.Values{"subject_token_type": nil}, CodeInvalidRequest, "subject_token_type is missing"},
		{"SAML subject token", url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, CodeInvalidRequest, "subject_token_type is not supported"},
		{"refresh token subject", url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, CodeInvalidRequest, "subject_token_type is not supported"},
		// a client that swapped two parameters: the token is not echoed
		{"token as subject_token_type", url.Values{"subject_token_type": {subjectToken}}, CodeInvalidRequest, "subject_token_type is not supported"},
		{"refresh token asked for", url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, CodeInvalidRequest, "requested_token_type is not supported"},
		{"actor_token", url.Values{"actor_token": {subjectToken}, "actor_token_type": {TokenTypeJWT}}, CodeInvalidRequest, "actor_token is not supported"},
		{"actor_token_type alone", url.Values{"actor_token_type": {TokenTypeJWT}}, CodeInvalidRequest, "actor_token is not supported"},
		{"scope openid", url.Values{"scope": {"openid"}}, CodeInvalidScope, "scope must be"},
		{"scope function and more", url.Values{"scope": {"function openid"}}, CodeInvalidScope, "scope must be"},
		{"scope Function", url.Values{"scope": {"Function"}}, CodeInvalidScope, "scope must be"},
		{"scope as the token", url.Values{"scope": {subjectToken}}, CodeInvalidScope, "scope must be"},
		{"resource", url.Values{"resource": {"https://other.example.com"}}, CodeInvalidTarget, "resource is not supported"},
		{"audience without scope", url.Values{"audience": {"openfaas-fn:env"}}, CodeInvalidTarget, "only with scope=function"},
		{"too many audiences", url.Values{"scope": {"function"}, "audience": manyAudiences(MaxAudiences + 1)}, CodeInvalidTarget, "too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRefusal(t, form(tc.changes), tc.code, tc.desc)
		})
	}
}

func TestParseExchangeAudienceSyntax(t *testing.T) {
	long := strings.Repeat("a", 254)
	for _, aud := range []string{
		"env",                // no namespace
		"openfaas-fn:",       // no function
		":env",               // no namespace
		"a:b:c",              // a second ':'
		"openfaas-fn:*",      // no wildcards: the watchdog would read it as a pattern
		"*:env",              //
		"openfaas-fn:e?v",    //
		"..:env",             // faasd's secret path traversal
		"openfaas-fn:.",      //
		"openfaas-fn:e nv",   // outside [-a-zA-Z_0-9.]
		"openfaas-fn:env/..", //
		"openfaas-fn:énv",    //
		long + ":env",        // over 253 bytes
		"openfaas-fn:" + long,
		subjectToken, // not echoed
	} {
		t.Run(aud, func(t *testing.T) {
			checkRefusal(t, form(url.Values{"scope": {"function"}, "audience": {"openfaas-fn:ok", aud}}), CodeInvalidTarget, "audience must be <namespace>:<function>")
		})
	}
}

// checkRefusal asserts ParseExchange refuses f with code and a
// description containing desc, and that no token text is in it.
func checkRefusal(t *testing.T, f url.Values, code, desc string) {
	t.Helper()
	got, err := ParseExchange(f)
	if err == nil {
		t.Fatalf("accepted: %+v", got)
	}
	if err.Status != http.StatusBadRequest || err.Code != code || !strings.Contains(err.Description, desc) {
		t.Errorf("got %d %s %q, want 400 %s with %q", err.Status, err.Code, err.Description, code, desc)
	}
	if strings.Contains(err.Description, "SECRET") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("description echoes the token: %q", err.Description)
	}
	if !reflect.DeepEqual(got, ExchangeRequest{}) {
		t.Errorf("refusal with a request: %+v", got)
	}
}

// A refusal is a copy: changing it changes no later answer.
func TestParseExchangeRefusalIsCopy(t *testing.T) {
	_, err := ParseExchange(form(url.Values{"grant_type": nil}))
	err.Description = "changed"
	if _, again := ParseExchange(form(url.Values{"grant_type": nil})); again.Description != "grant_type is missing" {
		t.Errorf("second answer %q", again.Description)
	}
}

func TestMergeQuery(t *testing.T) {
	blogQuery := url.Values{ // the commercial blog's curl: every parameter in the URL, no body
		"grant_type":         {GrantTokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {TokenTypeIDToken},
	}
	for _, tc := range []struct {
		name        string
		body, query url.Values
		want        ExchangeRequest
		code, desc  string
	}{
		{name: "query only (the blog's curl)", body: url.Values{}, query: blogQuery,
			want: ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{name: "body only", body: form(nil), query: url.Values{},
			want: ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{name: "both, agreeing: not a repetition", body: form(nil), query: blogQuery,
			want: ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{name: "split between them", body: url.Values{"subject_token": {subjectToken}, "scope": {"function"}},
			query: url.Values{"grant_type": {GrantTokenExchange}, "subject_token_type": {TokenTypeJWT}, "audience": {"dev:env"}},
			want:  ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeJWT, Scope: "function", Audience: []string{"dev:env"}}},
		{name: "unknown parameters may differ", body: form(url.Values{"client_id": {"a"}}), query: url.Values{"client_id": {"b"}},
			want: ExchangeRequest{SubjectToken: subjectToken, SubjectTokenType: TokenTypeIDToken}},
		{name: "subject_token differs", body: form(nil), query: url.Values{"subject_token": {"other"}},
			code: CodeInvalidRequest, desc: "subject_token differs between the query string and the body"},
		{name: "scope differs", body: form(url.Values{"scope": {"function"}}), query: url.Values{"scope": {""}},
			code: CodeInvalidRequest, desc: "scope differs"},
		// a reader taking the query's audience would mint for other functions
		{name: "audience differs", body: form(url.Values{"scope": {"function"}, "audience": {"dev:a", "dev:b"}}), query: url.Values{"audience": {"dev:a"}},
			code: CodeInvalidRequest, desc: "audience differs"},
		{name: "repeated in the query", body: url.Values{}, query: url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subjectToken, subjectToken}, "subject_token_type": {TokenTypeJWT}},
			code: CodeInvalidRequest, desc: "subject_token is repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			merged, err := MergeQuery(tc.body, tc.query)
			if err == nil {
				var req ExchangeRequest
				req, err = ParseExchange(merged)
				if err == nil && tc.code == "" && !reflect.DeepEqual(req, tc.want) {
					t.Errorf("got %+v, want %+v", req, tc.want)
				}
			}
			switch {
			case tc.code == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.code != "" && err == nil:
				t.Errorf("accepted, want %s", tc.code)
			case tc.code != "" && (err.Code != tc.code || !strings.Contains(err.Description, tc.desc) || strings.Contains(err.Description, "SECRET")):
				t.Errorf("got %s %q, want %s with %q", err.Code, err.Description, tc.code, tc.desc)
			}
		})
	}
}
