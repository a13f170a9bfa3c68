package caddyfedauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// accessClaims are the registered claims we check or report.
type accessClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	AZP       string
	ClientID  string
	Scope     string
	Expiry    time.Time // the dates are zero when absent
	NotBefore time.Time
	IssuedAt  time.Time

	// Claims are, when asked for, every claim that is a string or an
	// array (of which only the strings are kept), for IAM conditions; a
	// claim of another type is left out, which conditions read as absent.
	Claims map[string]any

	// Function is, when claims are kept, the "function" claim of a
	// function token: {"permissions": [...], "audience": [...]}.
	Function *functionClaim
}

// functionClaim is what a function token may invoke: functions matching
// one of Permissions and, when Audience is not empty, named in it.
type functionClaim struct {
	Permissions []string
	Audience    []string
}

// registeredClaims are the claim names whose case-variants a payload may
// not carry. RFC 7519 names are case-sensitive, but encoding/json (and
// parsers like it) fold case: "AUD" would be "aud" to one reader and an
// unknown claim to another.
var registeredClaims = [...]string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "client_id", "scope", "typ",
}

// maxJSONDepth bounds nesting in a header or payload; no IdP nests its
// claims more than a few levels.
const maxJSONDepth = 32

var errNotString = errors.New("not a string")

// decodeClaims reads a verified payload strictly: the rules of
// decodeObject, no case-variant of a registered claim, and each claim we
// read of its type. One payload then has one reading, whichever parser
// looks at it. keep fills Claims.
func decodeClaims(payload []byte, keep bool) (*accessClaims, error) {
	c := new(accessClaims)
	if keep {
		c.Claims = make(map[string]any)
	}
	err := decodeObject(payload, func(s *jsonScanner, name []byte) error {
		if keep {
			// The registered claims are checked below, on a second
			// scanner over the same bytes, so each is read by its rule.
			at := *s
			v, err := at.conditionValue()
			if err != nil {
				return fmt.Errorf("claim %q: %w", name, err)
			}
			if v != nil {
				c.Claims[string(name)] = v
			}
		}
		var err error
		switch string(name) {
		case "iss":
			c.Issuer, err = s.stringValue()
		case "sub":
			c.Subject, err = s.stringValue()
		case "azp":
			c.AZP, err = s.stringValue()
		case "client_id":
			c.ClientID, err = s.stringValue()
		case "aud":
			c.Audience, err = s.audience()
		case "exp":
			c.Expiry, err = s.date()
		case "nbf":
			c.NotBefore, err = s.date()
		case "iat":
			c.IssuedAt, err = s.date()
		case "scope":
			// Some IdPs send a list; only the RFC 8693 string is reported.
			if s.peek() == '"' {
				c.Scope, err = s.stringValue()
			} else {
				err = s.value()
			}
		case "jti", "typ":
			err = s.value() // registered, but not ours to check
		case "function":
			if !keep || s.peek() != '{' {
				err = s.value()
				break
			}
			c.Function = new(functionClaim)
			err = s.object(func(s *jsonScanner, name []byte) error {
				switch string(name) {
				case "permissions":
					return s.stringList(&c.Function.Permissions)
				case "audience":
					return s.stringList(&c.Function.Audience)
				}
				return s.value()
			})
		default:
			for _, r := range registeredClaims {
				if bytes.EqualFold(name, []byte(r)) {
					return fmt.Errorf("claim %q is a case-variant of %q", name, r)
				}
			}
			return s.value()
		}
		if err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return c, nil
}

// decodeObject reads raw as exactly one JSON object (RFC 8259) in valid
// UTF-8, with no member name twice in any object within it (two parsers
// could pick different ones) and nothing after it. For each top-level
// member it calls member with the scanner at the value, which member must
// consume (s.value() skips it). One pass, no allocation for names without
// escapes: the payload of every new token goes through here.
func decodeObject(raw []byte, member func(s *jsonScanner, name []byte) error) error {
	// JSON parsers differ on invalid UTF-8 (encoding/json substitutes
	// U+FFFD, others keep the bytes); RFC 7515 and 7519 require UTF-8.
	if !utf8.Valid(raw) {
		return errors.New("not valid UTF-8")
	}
	s := &jsonScanner{b: raw}
	s.ws()
	if s.peek() != '{' {
		return errors.New("not a JSON object")
	}
	if err := s.object(member); err != nil {
		return err
	}
	if s.ws(); s.i != len(s.b) {
		return errors.New("trailing data after the object")
	}
	return nil
}

// jsonScanner reads RFC 8259 JSON from b, at offset i. FuzzDecodeObject
// holds it to encoding/json's reading.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) syntaxError() error {
	return fmt.Errorf("invalid JSON at offset %d", s.i)
}

func (s *jsonScanner) enter() error {
	if s.depth++; s.depth > maxJSONDepth {
		return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
	}
	s.i++ // the '{' or '['
	s.ws()
	return nil
}

// object reads the object at '{', calling member for each member.
func (s *jsonScanner) object(member func(s *jsonScanner, name []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	var seen nameSet
	for {
		s.ws()
		if s.peek() != '"' {
			return s.syntaxError()
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		if !seen.add(name) {
			return fmt.Errorf("duplicate member %q", name)
		}
		if s.ws(); s.peek() != ':' {
			return s.syntaxError()
		}
		s.i++
		s.ws()
		if err := member(s, name); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return s.syntaxError()
		}
	}
}

// array reads the array at '[', calling elem for each element.
func (s *jsonScanner) array(elem func(s *jsonScanner) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if err := elem(s); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return nil
		default:
			return s.syntaxError()
		}
	}
}

// value consumes one value, holding the objects within it to the same
// no-duplicates rule: a claim rule that reads nested claims (roles,
// groups) must get the one reading.
func (s *jsonScanner) value() error {
	switch c := s.peek(); {
	case c == '{':
		return s.object(skipMember)
	case c == '[':
		return s.array((*jsonScanner).value)
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, err := s.number()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.syntaxError()
}

func skipMember(s *jsonScanner, _ []byte) error { return s.value() }

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.syntaxError()
	}
	s.i += len(lit)
	return nil
}

// number reads a number and returns its text.
func (s *jsonScanner) number() ([]byte, error) {
	b, i := s.b, s.i
	digits := func() bool {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, s.syntaxError()
	}
	if i < len(b) && b[i] == '.' {
		if i++; !digits() {
			return nil, s.syntaxError()
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, s.syntaxError()
		}
	}
	num := b[s.i:i]
	s.i = i
	return num, nil
}

// rawString reads the string at '"' and returns its contents as written
// (the quotes excluded), and whether they hold escapes.
func (s *jsonScanner) rawString() (raw []byte, escaped bool, err error) {
	b := s.b
	for i := s.i + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			raw = b[s.i+1 : i]
			s.i = i + 1
			return raw, escaped, nil
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				s.i = i
				return nil, false, fmt.Errorf("invalid escape at offset %d", i)
			}
			escaped = true
			i += n
		case c < 0x20:
			s.i = i
			return nil, false, s.syntaxError() // control characters must be escaped
		default:
			i++
		}
	}
	s.i = len(b)
	return nil, false, errors.New("unterminated string")
}

// escapeLen returns the length of the escape at the start of b, or 0 if
// it is not one. A \u escape of half a surrogate pair must be followed by
// the other half: parsers differ on lone surrogates (encoding/json reads
// U+FFFD, JavaScript keeps them), so they are refused.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		r, ok := hex4(b[2:])
		switch {
		case !ok || 0xdc00 <= r && r <= 0xdfff:
			return 0
		case r < 0xd800 || r > 0xdbff:
			return 6
		}
		if len(b) < 8 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		if lo, ok := hex4(b[8:]); !ok || lo < 0xdc00 || lo > 0xdfff {
			return 0
		}
		return 12
	}
	return 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// str reads the string at '"' and returns its value. Without escapes (the
// usual case) that is a slice of the input.
func (s *jsonScanner) str() ([]byte, error) {
	start := s.i
	raw, escaped, err := s.rawString()
	if err != nil || !escaped {
		return raw, err
	}
	// Escapes are rare; encoding/json knows them all, and rawString has
	// already refused what it would read differently from others.
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return nil, err
	}
	return []byte(v), nil
}

func (s *jsonScanner) stringValue() (string, error) {
	if s.peek() != '"' {
		return "", errNotString
	}
	b, err := s.str()
	return string(b), err
}

// conditionValue reads a claim as IAM conditions see it: a string, or
// the strings of an array. Other values (numbers, booleans, objects,
// null) give nil, which conditions treat as a missing claim.
func (s *jsonScanner) conditionValue() (any, error) {
	switch s.peek() {
	case '"':
		return s.stringValue()
	case '[':
		list := []string{}
		err := s.array(func(s *jsonScanner) error {
			if s.peek() != '"' {
				return s.value()
			}
			v, err := s.stringValue()
			list = append(list, v)
			return err
		})
		return list, err
	}
	return nil, s.value()
}

// stringList reads an array of strings into dst.
func (s *jsonScanner) stringList(dst *[]string) error {
	if s.peek() != '[' {
		return errors.New("not an array of strings")
	}
	return s.array(func(s *jsonScanner) error {
		v, err := s.stringValue()
		*dst = append(*dst, v)
		return err
	})
}

// audience reads aud: a string or an array of strings (RFC 7519 §4.1.3).
func (s *jsonScanner) audience() ([]string, error) {
	if s.peek() == '"' {
		a, err := s.stringValue()
		return []string{a}, err
	}
	if s.peek() != '[' {
		return nil, errors.New("neither a string nor an array of strings")
	}
	var list []string
	err := s.array(func(s *jsonScanner) error {
		a, err := s.stringValue()
		list = append(list, a)
		return err
	})
	return list, err
}

// date reads a NumericDate: a JSON number of seconds since the epoch.
// Unlike jwx, it refuses strings, so "exp":"9999999999" is malformed, not
// far-future.
func (s *jsonScanner) date() (time.Time, error) {
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		return time.Time{}, errors.New("not a number")
	}
	num, err := s.number()
	if err != nil {
		return time.Time{}, err
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// nameSet holds the member names of one object. Most objects are small,
// and scanning an array on the stack is cheaper than a map until they
// are not.
type nameSet struct {
	small [32][]byte
	n     int
	m     map[string]struct{}
}

// add reports whether name was new.
func (s *nameSet) add(name []byte) bool {
	if s.m == nil {
		for _, seen := range s.small[:s.n] {
			if bytes.Equal(seen, name) {
				return false
			}
		}
		if s.n < len(s.small) {
			s.small[s.n] = name
			s.n++
			return true
		}
		s.m = make(map[string]struct{}, 2*len(s.small))
		for _, seen := range s.small {
			s.m[string(seen)] = struct{}{}
		}
	}
	if _, dup := s.m[string(name)]; dup {
		return false
	}
	s.m[string(name)] = struct{}{}
	return true
}
