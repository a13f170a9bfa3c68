package iam

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a problem with an IAM object, saying where: the file and line,
// the object (kind and name) and the field.
type Error struct {
	File  string // "" for objects not read from a file
	Line  int    // 0 when not known
	Kind  string // "" when not known yet
	Name  string
	Field string // e.g. spec.statement[0].action[1]; "" for the whole object
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Kind != "" {
		name := e.Name
		if name == "" {
			name = "(unnamed)"
		}
		b.WriteString(e.Kind + " " + strconv.Quote(name) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// source is where an object was read: its file and line, and the lines of
// its fields, so that errors found after decoding can still name a line.
type source struct {
	file  string
	line  int
	lines map[string]int // field path -> line
}

// errorf makes an Error about a field of o.
func errorf(o Object, field, format string, args ...any) *Error {
	_, meta, src := o.header()
	e := &Error{Kind: o.GetKind(), Name: meta.Name, Field: field, Err: fmt.Errorf(format, args...)}
	if src != nil {
		e.File, e.Line = src.file, src.lineOf(field)
	}
	return e
}

// lineOf is the line of field, or of the nearest enclosing field whose
// line is known.
func (s *source) lineOf(field string) int {
	for field != "" {
		if l, ok := s.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return s.line
}

// fieldPath appends a key to a field path: spec.iss, or
// spec.condition.StringEqual["jwt:iss"] for keys that are data.
func fieldPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keyPath(path, key string) string { return path + "[" + strconv.Quote(key) + "]" }

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// FieldError is an Error about a field of o found outside this package,
// such as a JwtIssuer setting only the handler can check; it names o's
// file and line as errors of Compile do.
func FieldError(o Object, field string, err error) *Error {
	return errorf(o, field, "%w", err)
}
