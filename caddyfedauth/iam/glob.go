package iam

import (
	"strings"
	"unicode/utf8"
)

// glob is a compiled wildcard pattern, as StringLike and resources use
// them: '*' matches any run of characters (also none), '?' exactly one
// character, anything else itself. A pattern matches the whole value,
// never a part of it. There is no escape: no pattern matches only a
// literal '*' or '?'.
type glob struct {
	kind globKind
	lit  string // globExact: the value; globPrefix: before the '*'; globSuffix: after it
	pat  string // globGeneral: the pattern
}

type globKind uint8

const (
	globAny globKind = iota
	globExact
	globPrefix
	globSuffix
	globGeneral
)

func compileGlob(p string) glob {
	switch wild := strings.IndexAny(p, "*?"); {
	case wild < 0:
		return glob{kind: globExact, lit: p}
	case strings.Trim(p, "*") == "":
		return glob{kind: globAny}
	case !strings.ContainsRune(p, '?') && strings.Count(p, "*") == 1:
		if wild == len(p)-1 {
			return glob{kind: globPrefix, lit: p[:wild]}
		}
		if wild == 0 {
			return glob{kind: globSuffix, lit: p[1:]}
		}
	}
	return glob{kind: globGeneral, pat: p}
}

func (g *glob) match(s string) bool {
	switch g.kind {
	case globAny:
		return true
	case globExact:
		return s == g.lit
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	}
	return matchGlob(g.pat, s)
}

// matchGlob matches s against p without recursion, in at most
// len(p)*len(s) steps: on a mismatch it only lets the last '*' seen take
// one more character, which is enough because whatever an earlier '*'
// could take, the last one can take too.
func matchGlob(p, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch p[px] {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					px, sx = px+1, sx+w
					continue
				}
			default:
				if sx < len(s) && s[sx] == p[px] {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starPx < 0 || starSx >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSx:])
		starSx += w
		px, sx = starPx+1, starSx
	}
	return true
}
