package caddyfedauth

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"audience", "audience", 0},
		{"audiance", "audience", 1},  // substitution
		{"audince", "audience", 1},   // deletion
		{"auddience", "audience", 1}, // insertion
		{"adueince", "audience", 2},
		{"isuser", "issuer", 1}, // swap of adjacent letters
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

// An unknown option names the closest known one when it is a typo, and
// nothing when it is another word: a wrong hint is worse than none.
func TestUnknownOptionSuggestion(t *testing.T) {
	for _, tc := range []struct{ opt, want string }{
		{"audiance", "audience"},
		{"audiences", "audience"},
		{"isuser", "issuer"},
		{"Issuer", "issuer"},
		{"jwks_uri", "jwks_url"},
		{"algorithm", "algorithms"},
		{"clockskew", "clock_skew"},
		{"allow_invok", "allow_invoke"},
		{"realms", "realm"},
		{"frobnicate", ""},
		{"iss", ""},
		{"aud", ""},
		{"x", ""},
		{"jwks", ""},
		{"timeout", ""},
	} {
		t.Run(tc.opt, func(t *testing.T) {
			caddyfile := ":8443 {\n\tfed_oidc {\n\t\t" + tc.opt + " x\n\t}\n}\n"
			_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
			if err == nil {
				t.Fatal("an unknown option was accepted")
			}
			if !strings.Contains(err.Error(), "unrecognized fed_oidc subdirective '"+tc.opt+"'") ||
				!strings.Contains(err.Error(), "at Caddyfile:3") {
				t.Errorf("error %q does not name the option and its line", err)
			}
			hint := strings.Contains(err.Error(), "did you mean")
			switch {
			case tc.want == "" && hint:
				t.Errorf("error %q suggests an option for another word", err)
			case tc.want != "" && !strings.Contains(err.Error(), "(did you mean '"+tc.want+"'?)"):
				t.Errorf("error %q does not suggest %q", err, tc.want)
			}
		})
	}
}
