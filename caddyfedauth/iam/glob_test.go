package iam

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		kind    globKind
		yes, no []string
	}{
		{"abc", globExact, []string{"abc"}, []string{"", "ab", "abcd", "xabc", "ABC"}},
		{"", globExact, []string{""}, []string{"a"}},
		{"*", globAny, []string{"", "a", "*", "a:b"}, nil},
		{"***", globAny, []string{"", "abc"}, nil},
		{"fn-*", globPrefix, []string{"fn-", "fn-a", "fn-*"}, []string{"fn", "xfn-a", "Fn-a"}},
		{"*.com", globSuffix, []string{".com", "a.com"}, []string{"a.comx", "acom"}},
		{"a*b*c", globGeneral, []string{"abc", "aXbYc", "abbc", "acbc", "abcbc"}, []string{"ab", "acb", "abcx", "xabc"}},
		{"?", globGeneral, []string{"a", "é", "*"}, []string{"", "ab"}},
		{"a?c", globGeneral, []string{"abc", "aéc"}, []string{"ac", "abbc"}},
		{"*?", globGeneral, []string{"a", "ab"}, []string{""}},
		{"?*?", globGeneral, []string{"ab", "abc"}, []string{"a"}},
		{"*a*", globGeneral, []string{"a", "xay", "aaa"}, []string{"", "xyz"}},
		{"a**b", globGeneral, []string{"ab", "axxb"}, []string{"a", "b"}},
		{"*ab*ab*", globGeneral, []string{"abab", "xxabyyabzz"}, []string{"aba", "ab"}},
		{"é*", globPrefix, []string{"é", "éa"}, []string{"e", "ea"}},
	} {
		g := compileGlob(tc.pattern)
		if g.kind != tc.kind {
			t.Errorf("%q: kind %d, want %d", tc.pattern, g.kind, tc.kind)
		}
		for _, s := range tc.yes {
			if !g.match(s) || !matchGlob(tc.pattern, s) {
				t.Errorf("%q does not match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.no {
			if g.match(s) || matchGlob(tc.pattern, s) {
				t.Errorf("%q matches %q", tc.pattern, s)
			}
		}
	}
}

// A pathological pattern costs at most len(p)*len(s) steps, not
// exponential time.
func TestGlobBacktracking(t *testing.T) {
	p := strings.Repeat("*a", 50) + "b"
	s := strings.Repeat("a", 5000)
	if matchGlob(p, s) {
		t.Fatal("matched")
	}
}

var globRegexps = map[string]*regexp.Regexp{}

// globRegexp is the reference StringLike: '*' is .*, '?' is ., anything
// else literal, anchored.
func globRegexp(p string) *regexp.Regexp {
	if re, ok := globRegexps[p]; ok {
		return re
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	re := regexp.MustCompile(b.String())
	if len(globRegexps) < 10000 {
		globRegexps[p] = re
	}
	return re
}

func FuzzStringLike(f *testing.F) {
	for _, seed := range [][2]string{
		{"*@example.com", "a@example.com"}, {"refs/heads/*", "refs/heads/main"}, {"a*b?c", "axxbyc"},
		{"?", "é"}, {"*a*a*a*", "aaaa"}, {"prod:*", "preprod:fn"}, {"", ""}, {"[a]", "a"}, {"a.c", "abc"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if !utf8.ValidString(p) || !utf8.ValidString(s) || len(p) > 64 || len(s) > 256 {
			return // claims and YAML are valid UTF-8
		}
		want := globRegexp(p).MatchString(s)
		g := compileGlob(p)
		if got := g.match(s); got != want {
			t.Errorf("compiled %q against %q: %v, reference %v", p, s, got, want)
		}
		if got := matchGlob(p, s); got != want {
			t.Errorf("matchGlob %q against %q: %v, reference %v", p, s, got, want)
		}
	})
}
