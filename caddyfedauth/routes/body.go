package routes

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
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
			return nil, &Error{Status: 400, Reason: ReasonBodyRead, msg: "reading the request body", err: err}
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

// bodyField is one top-level member a provider reads from the body.
type bodyField struct {
	val string
	set bool // present and not null
}

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
func parseObject(body []byte, keys ...string) ([2]bodyField, *Error) {
	var out [2]bodyField
	var folds [2]string
	for i, k := range keys {
		folds[i] = foldName(k)
	}
	if !utf8.Valid(body) {
		return out, errBodyNotUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are skipped, never converted
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return out, errBodyNotObject
	}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return out, errBodyNotObject
		}
		folded := foldName(name)
		if _, dup := seen[folded]; dup {
			return out, errBodyDuplicate
		}
		seen[folded] = struct{}{}
		i := -1
		for j := range keys {
			if folded == folds[j] {
				i = j
			} else if stripDelims(folded) == folds[j] {
				return out, errBodyLookalike
			}
		}
		if i < 0 {
			if e := skipValue(dec, 1); e != nil {
				return out, e
			}
			continue
		}
		t, err = dec.Token()
		if err != nil {
			return out, errBodyNotObject
		}
		switch v := t.(type) {
		case string:
			out[i] = bodyField{val: v, set: true}
		case nil:
		default:
			return out, badRequest(ReasonBadBody, "body member "+keys[i]+" is not a string")
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return out, errBodyNotObject
	}
	for _, c := range body[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return out, errBodyTrailing
		}
	}
	return out, nil
}

// skipValue consumes one value, refusing an object within it that has a
// member name twice (exactly: nested maps such as labels are keyed
// case-sensitively).
func skipValue(dec *json.Decoder, depth int) *Error {
	t, err := dec.Token()
	if err != nil {
		return errBodyNotObject
	}
	d, ok := t.(json.Delim)
	if !ok {
		return nil
	}
	if depth++; depth > maxBodyDepth {
		return errBodyDepth
	}
	var seen map[string]struct{}
	if d == '{' {
		seen = make(map[string]struct{})
	}
	for dec.More() {
		if seen != nil {
			t, err := dec.Token()
			name, ok := t.(string)
			if err != nil || !ok {
				return errBodyNotObject
			}
			if _, dup := seen[name]; dup {
				return errBodyDuplicate
			}
			seen[name] = struct{}{}
		}
		if e := skipValue(dec, depth); e != nil {
			return e
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return errBodyNotObject
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
