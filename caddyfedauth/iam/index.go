package iam

import (
	"slices"
	"strings"
)

// stmtIndex finds the statements that may cover a request without trying
// them all: by effect and action slot, and by the namespace pattern of
// the resource. A literal namespace (staging:*, dev:env) is looked up. A
// pattern that starts with a literal (team-*:*, st?ging:*) is looked up
// by the request namespace's prefixes of the lengths such literals have;
// one that starts with a wildcard and ends with a literal (*-prod:*) by
// its suffixes. Only patterns with a wildcard at both ends (*, *:*,
// *dev*:*) are in wild, tried for every request. Every list is in
// statement order. The Set builds it once; a token's Roles only says
// which statements apply to it.
type stmtIndex struct {
	byNS     map[string]*effectLists
	byPrefix affixIndex
	bySuffix affixIndex
	wild     effectLists
}

// affixIndex holds namespace patterns by the literal they start with
// (prefix) or end with (suffix).
type affixIndex struct {
	m      map[string]*effectLists
	lens   []int // the lengths of the keys of m, ascending
	suffix bool
}

func (a *affixIndex) add(lit string) *effectLists {
	if !slices.Contains(a.lens, len(lit)) {
		a.lens = append(a.lens, len(lit))
		slices.Sort(a.lens)
	}
	return lists(a.m, lit)
}

// first is first over the lists of the patterns that may match ns.
func (a *affixIndex) first(ns string, deny bool, held bitset, slot int, ref resourceRef, best *compiledStmt) *compiledStmt {
	for _, n := range a.lens {
		if n > len(ns) {
			break
		}
		key := ns[:n]
		if a.suffix {
			key = ns[len(ns)-n:]
		}
		if l := a.m[key]; l != nil {
			best = first(l.of(deny)[slot], held, ref, best)
		}
	}
	return best
}

// effectLists are candidates by effect, then action slot.
type effectLists struct {
	deny, allow [][]candidate
}

// candidate is one resource pattern of one statement, copied in so that
// a scan reads the list in order and follows no pointer until it matches.
type candidate struct {
	id   int32
	pat  resourcePattern
	stmt *compiledStmt
}

func newEffectLists() *effectLists {
	return &effectLists{deny: make([][]candidate, otherSlot+1), allow: make([][]candidate, otherSlot+1)}
}

func (l *effectLists) of(deny bool) [][]candidate {
	if deny {
		return l.deny
	}
	return l.allow
}

func lists(m map[string]*effectLists, key string) *effectLists {
	if m[key] == nil {
		m[key] = newEffectLists()
	}
	return m[key]
}

func (s *Set) index() {
	x := &s.idx
	*x = stmtIndex{
		byNS:     map[string]*effectLists{},
		byPrefix: affixIndex{m: map[string]*effectLists{}},
		bySuffix: affixIndex{m: map[string]*effectLists{}, suffix: true},
		wild:     *newEffectLists(),
	}
	for _, st := range s.stmts {
		for _, p := range st.resources {
			ns, _, _ := strings.Cut(p.text, ":")
			prefix, suffix := ns[:strings.IndexAny(ns+"*", "*?")], ns[strings.LastIndexAny(ns, "*?")+1:]
			l := &x.wild
			switch {
			case p.all:
			case p.ns.kind == globExact:
				l = lists(x.byNS, ns)
			case prefix != "":
				l = x.byPrefix.add(prefix)
			case suffix != "":
				l = x.bySuffix.add(suffix)
			}
			bySlot := l.of(st.deny)
			for slot := range bySlot {
				if st.actions&(1<<slot) != 0 {
					bySlot[slot] = append(bySlot[slot], candidate{st.id, p, st})
				}
			}
		}
	}
}

// find is the first statement of the effect, in statement order, that
// applies to the token (held), has the action in slot and covers ref.
func (x *stmtIndex) find(deny bool, held bitset, slot int, ref resourceRef) *compiledStmt {
	var best *compiledStmt
	if !ref.cluster {
		if l := x.byNS[ref.ns]; l != nil {
			best = first(l.of(deny)[slot], held, ref, best)
		}
		best = x.byPrefix.first(ref.ns, deny, held, slot, ref, best)
		best = x.bySuffix.first(ref.ns, deny, held, slot, ref, best)
	}
	return first(x.wild.of(deny)[slot], held, ref, best)
}

// first is the first candidate in list before best that the token holds
// and that covers ref, or else best.
func first(list []candidate, held bitset, ref resourceRef, best *compiledStmt) *compiledStmt {
	for i := range list {
		c := &list[i]
		if best != nil && c.id >= best.id {
			break
		}
		if held.has(c.id) && c.pat.match(ref) {
			return c.stmt
		}
	}
	return best
}

// bitset is a set of statement or role ids.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(id int32) { b[id>>6] |= 1 << (id & 63) }

func (b bitset) has(id int32) bool { return int(id>>6) < len(b) && b[id>>6]&(1<<(id&63)) != 0 }
