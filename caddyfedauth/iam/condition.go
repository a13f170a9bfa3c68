package iam

import (
	"fmt"
	"slices"
	"strings"
)

// operator is a condition operator: how one claim value is compared with
// the values listed, and whether the result is negated or taken over the
// values of an array claim.
type operator struct {
	base    opBase
	negated bool // StringNot...: holds when no value matches
	forAny  bool // ForAnyValue:...: the claim may be an array; one of its strings must match
}

type opBase uint8

const (
	opEqual     opBase = iota // exact
	opEqualFold               // Unicode case folding (strings.EqualFold)
	opLike                    // glob: '*' and '?', anchored
)

// operators are the condition operators, with both spellings of the docs
// (StringEqual and AWS's StringEquals). The docs list StringEqual(s),
// StringEqualIgnoreCase, StringLike and ForAnyValue:StringEqual; the
// others are ours, with AWS's names.
var operators = map[string]operator{
	"StringEqual":                        {base: opEqual},
	"StringEquals":                       {base: opEqual},
	"StringEqualIgnoreCase":              {base: opEqualFold},
	"StringEqualsIgnoreCase":             {base: opEqualFold},
	"StringLike":                         {base: opLike},
	"StringNotEqual":                     {base: opEqual, negated: true},
	"StringNotEquals":                    {base: opEqual, negated: true},
	"StringNotEqualIgnoreCase":           {base: opEqualFold, negated: true},
	"StringNotEqualsIgnoreCase":          {base: opEqualFold, negated: true},
	"StringNotLike":                      {base: opLike, negated: true},
	"ForAnyValue:StringEqual":            {base: opEqual, forAny: true},
	"ForAnyValue:StringEquals":           {base: opEqual, forAny: true},
	"ForAnyValue:StringEqualIgnoreCase":  {base: opEqualFold, forAny: true},
	"ForAnyValue:StringEqualsIgnoreCase": {base: opEqualFold, forAny: true},
	"ForAnyValue:StringLike":             {base: opLike, forAny: true},
}

// claimPrefix starts every condition and principal key: jwt:<claim>.
const claimPrefix = "jwt:"

// clause is one operator and key of a condition, with its values.
type clause struct {
	operator string // as written, for explanations
	key      string // jwt:<claim>, as written
	claim    string
	op       operator
	values   []string
	globs    []glob // opLike: the values, compiled
}

// condition is a compiled Condition: clauses, ANDed, in the order of
// their operators and keys.
type condition []clause

// tri is a condition's result. unknown is a negated operator on a claim
// that is missing or not a string: the evaluation fails closed, so a
// Role or Allow statement does not apply and a Deny statement does.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func compileCondition(o Object, path string, c Condition) (condition, []error) {
	var (
		out  condition
		errs []error
	)
	for _, opName := range sortedKeys(c) {
		op, ok := operators[opName]
		opPath := keyPath(path, opName)
		if !ok {
			errs = append(errs, errorf(o, opPath, "unknown operator%s; want one of %s",
				hint(opName, sortedKeys(operators)), strings.Join(sortedKeys(operators), ", ")))
			continue
		}
		for _, key := range sortedKeys(c[opName]) {
			values, p := c[opName][key], keyPath(opPath, key)
			claim, err := claimName(key)
			if err == nil && len(values) == 0 {
				err = fmt.Errorf("no values: want at least one")
			}
			if err != nil {
				errs = append(errs, errorf(o, p, "%v", err))
				continue
			}
			cl := clause{operator: opName, key: key, claim: claim, op: op, values: slices.Clone(values)}
			if op.base == opLike {
				for _, v := range values {
					cl.globs = append(cl.globs, compileGlob(v))
				}
			}
			out = append(out, cl)
		}
	}
	return out, errs
}

// claimName is the claim a key names: jwt:email names email. Claims are
// top-level names; jwt:a.b names the claim "a.b", not a nested one.
func claimName(key string) (string, error) {
	claim, ok := strings.CutPrefix(key, claimPrefix)
	if !ok || claim == "" {
		return "", fmt.Errorf("want a key of the form jwt:<claim>")
	}
	return claim, nil
}

// eval is the AND of the clauses: false when one is false, else unknown
// when one is unknown, else true. failed is the clause that decided a
// result other than true, or -1.
func (c condition) eval(claims map[string]any) (r tri, failed int) {
	r, failed = triTrue, -1
	for i := range c {
		switch c[i].eval(claims) {
		case triFalse:
			return triFalse, i
		case triUnknown:
			if r == triTrue {
				r, failed = triUnknown, i
			}
		}
	}
	return r, failed
}

// grants says whether a Role or Allow statement with this condition
// applies: only when it is true.
func (c condition) grants(claims map[string]any) bool {
	r, _ := c.eval(claims)
	return r == triTrue
}

// denies says whether a Deny statement with this condition applies: unless
// it is false.
func (c condition) denies(claims map[string]any) bool {
	r, _ := c.eval(claims)
	return r != triFalse
}

// eval compares one claim. A positive operator never matches a missing
// claim, a claim that is neither a string nor (with ForAnyValue) an array,
// or an array's non-string elements. Without ForAnyValue, the claim must
// be a string. A negated operator on a claim that is not a string is
// unknown.
func (c *clause) eval(claims map[string]any) tri {
	switch v := claims[c.claim].(type) {
	case string:
		return triOf(c.matchOne(v) != c.op.negated)
	case []string:
		if c.op.forAny {
			return triOf(slices.ContainsFunc(v, c.matchOne))
		}
	case []any:
		if c.op.forAny {
			return triOf(slices.ContainsFunc(v, func(e any) bool {
				s, ok := e.(string)
				return ok && c.matchOne(s)
			}))
		}
	}
	if c.op.negated {
		return triUnknown
	}
	return triFalse
}

// matchOne says whether s matches one of the values.
func (c *clause) matchOne(s string) bool {
	switch c.op.base {
	case opEqual:
		return slices.Contains(c.values, s)
	case opEqualFold:
		return slices.ContainsFunc(c.values, func(v string) bool { return strings.EqualFold(v, s) })
	}
	for i := range c.globs {
		if c.globs[i].match(s) {
			return true
		}
	}
	return false
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// hint suggests the known word that s differs from only in case or in a
// plural s.
func hint(s string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, s) || strings.EqualFold(k+"s", s) || strings.EqualFold(k, s+"s") {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
