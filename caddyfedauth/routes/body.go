package routes

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxBodySize is the body limit when max_body_size is not set:
// 1 MiB, well above any deploy, secret or namespace request.
const DefaultMaxBodySize = 1 << 20

// ReadBody reads the body of a request that NeedsBody, for Map: all of
// it, up to limit bytes. A declared Content-Length over limit is refused
// before reading; an undeclared length (chunked) is read up to limit+1
// bytes, and refused if there is more. Both are an *Error with status 413.
// The handler then forwards exactly the bytes returned
// (r.Body = io.NopCloser(bytes.NewReader(b)), r.ContentLength =
// len(b)). A nil body reads as empty.
func ReadBody(body io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return nil, errBodyTooLarge
	}
	if body == nil {
		return nil, nil
	}
	size := 512
	if contentLength >= 0 {
		size = int(contentLength) + 1 // +1 to see EOF without growing
	}
	n := limit
	if n < math.MaxInt64 {
		n++
	}
	b := make([]byte, 0, size)
	r := io.LimitReader(body, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{Status: http.StatusBadRequest, Reason: ReasonBodyRead, msg: "reading the request body", err: err}
		}
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// maxBodyDepth bounds nesting in a body; a FunctionDeployment nests three
// levels.
const maxBodyDepth = 32

// parseObject reads body as the providers will (encoding/json into
// faas-provider types), and returns the string members named by keys.
//
// encoding/json matches member names to fields case-insensitively, with
// Unicode simple folding ("ſ" is "s"), and the last duplicate wins; it
// substitutes U+FFFD for invalid UTF-8; and it leaves a field at its zero
// value for null. So a body is refused when it could be read two ways: a
// top-level member name twice once folded, or a nested one twice exactly;
// a member that is a consulted key but for '-' or '_' (which json/v2
// ignores when matching case-insensitively); invalid UTF-8; anything but
// one object and whitespace; a consulted member neither a string nor
// null. A null or absent member reads as "". keys are one or two
// lower-camel names without '-' or '_'.
func parseObject(body []byte, keys ...string) ([2]string, *Error) {
	var out [2]string
	if !utf8.Valid(body) {
		return out, errBodyNotUTF8
	}
	// json.Valid is encoding/json's own scanner: what it accepts,
	// Unmarshal parses. The walk below then only finds boundaries.
	if !json.Valid(body) {
		return out, errBodyNotObject
	}
	// One copy of the body, of which every name and value read is a
	// substring: a map of hundreds of members copies none of them.
	w := walker{b: string(body)}
	w.ws()
	if w.peek() != '{' {
		return out, errBodyNotObject
	}
	err := w.object(1, func(name, value string) *Error {
		for i, k := range keys {
			switch {
			case strings.EqualFold(name, k):
				f, ok := stringValue(value)
				if !ok {
					return badRequest(ReasonBadBody, "body member "+k+" is not a string")
				}
				out[i] = f
			case strings.ContainsAny(name, "-_") && strings.EqualFold(stripDelims(name), k):
				return errBodyLookalike
			}
		}
		return nil
	})
	return out, err // json.Valid allows nothing but whitespace after the object
}

// stringValue reads a consulted member's raw value: a string, or null
// (as "").
func stringValue(v string) (string, bool) {
	if v == "null" {
		return "", true
	}
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	s, err := unquote(v)
	return s, err == nil
}

// unquote decodes a JSON string as encoding/json does.
func unquote(v string) (string, error) {
	if strings.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	var s string
	err := json.Unmarshal([]byte(v), &s)
	return s, err
}

// walker finds the boundaries of values in JSON that json.Valid accepted.
type walker struct {
	b string
	i int
}

func (w *walker) peek() byte {
	if w.i < len(w.b) {
		return w.b[w.i]
	}
	return 0
}

func (w *walker) ws() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

// str consumes the string at '"' and returns it, quotes included.
func (w *walker) str() string {
	start := w.i
	for w.i++; w.b[w.i] != '"'; w.i++ {
		if w.b[w.i] == '\\' {
			w.i++
		}
	}
	w.i++
	return w.b[start:w.i]
}

// object consumes the object at '{'. Its member names must differ: once
// folded at the top level (member non-nil), where encoding/json matches
// them to struct fields; exactly below, in maps such as labels. member, if
// any, gets each member's name and raw value.
func (w *walker) object(depth int, member func(name, value string) *Error) *Error {
	if depth > maxBodyDepth {
		return errBodyDepth
	}
	seen := nameSet{fold: member != nil}
	for w.i++; ; {
		w.ws()
		if w.peek() == '}' {
			w.i++
			return nil
		}
		if w.peek() == ',' {
			w.i++
			w.ws()
		}
		name, err := unquote(w.str())
		if err != nil {
			return errBodyNotObject
		}
		if !seen.add(name) {
			return errBodyDuplicate
		}
		w.ws()
		w.i++ // ':'
		w.ws()
		start := w.i
		if e := w.value(depth); e != nil {
			return e
		}
		if member != nil {
			if e := member(name, w.b[start:w.i]); e != nil {
				return e
			}
		}
	}
}

// nameSet is a set of the member names of one object, compared exactly or
// folded: a slice scanned while small, then a map, whose exact keys are
// the names themselves, substrings of the body.
type nameSet struct {
	fold  bool
	small [16]string
	n     int
	m     map[string]struct{}
}

// add reports whether name was new.
func (s *nameSet) add(name string) bool {
	if s.m == nil {
		for _, seen := range s.small[:s.n] {
			if s.fold && strings.EqualFold(seen, name) || !s.fold && seen == name {
				return false
			}
		}
		if s.n < len(s.small) {
			s.small[s.n] = name
			s.n++
			return true
		}
		s.m = make(map[string]struct{}, 4*len(s.small))
		for _, seen := range s.small {
			s.m[s.key(seen)] = struct{}{}
		}
	}
	k := s.key(name)
	if _, dup := s.m[k]; dup {
		return false
	}
	s.m[k] = struct{}{}
	return true
}

func (s *nameSet) key(name string) string {
	if s.fold {
		return foldName(name)
	}
	return name
}

// value consumes one value.
func (w *walker) value(depth int) *Error {
	switch w.peek() {
	case '{':
		return w.object(depth+1, nil)
	case '[':
		if depth+1 > maxBodyDepth {
			return errBodyDepth
		}
		for w.i++; ; {
			w.ws()
			switch w.peek() {
			case ']':
				w.i++
				return nil
			case ',':
				w.i++
				w.ws()
			}
			if e := w.value(depth + 1); e != nil {
				return e
			}
		}
	case '"':
		w.str()
		return nil
	}
	for ; w.i < len(w.b); w.i++ { // a number or literal
		switch w.b[w.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return nil
		}
	}
	return nil
}

// foldName folds s the way encoding/json matches member names to fields
// (encoding/json fold.go): ASCII upper case, and each other rune the
// smallest of its simple case folding orbit. foldName(x) == foldName(y)
// exactly when strings.EqualFold(x, y).
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
		} else {
			for {
				r2 := unicode.SimpleFold(r)
				if r2 <= r {
					r = r2
					break
				}
				r = r2
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// stripDelims drops '-' and '_' from a folded name.
func stripDelims(s string) string {
	if strings.IndexByte(s, '-') < 0 && strings.IndexByte(s, '_') < 0 {
		return s
	}
	return strings.NewReplacer("-", "", "_", "").Replace(s)
}
