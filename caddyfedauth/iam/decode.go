package iam

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds one file, or one inline config, of IAM objects.
const maxFileSize = 8 << 20

// The kinds of list Parse unpacks: kubectl's List, and the typed lists
// the API server returns for a kind.
var listKinds = map[string]string{
	"List":          "v1",
	"JwtIssuerList": APIVersion,
	"PolicyList":    APIVersion,
	"RoleList":      APIVersion,
}

// ignoredMetadata are the metadata fields the API server adds; they load
// and mean nothing here.
var ignoredMetadata = []string{
	"labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "ownerReferences",
	"finalizers", "generateName", "selfLink",
}

// Parse reads IAM objects from YAML or JSON: one or more documents, each
// an object, a `kind: List` (as `kubectl get -o yaml` prints) or a
// sequence of objects; empty documents are skipped. name is the file name
// errors give. Decoding is strict: an unknown kind or field, a duplicate
// key, an alias, or a number, boolean or null where a string is expected
// is refused. A scalar is read as a list of one wherever a list of
// strings is expected. Parse checks shapes; Compile checks meaning.
func Parse(name string, data []byte) ([]Object, error) {
	if len(data) > maxFileSize {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than %d bytes", maxFileSize)}
	}
	d := &decoder{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := &Error{File: name, Err: fmt.Errorf("parsing YAML: %w", err)}
			if strings.Contains(err.Error(), "did not find expected alphabetic or numeric character") {
				e.Err = fmt.Errorf("%w (a value starting with * is an alias in YAML: quote it, '*')", e.Err)
			}
			d.errs = append(d.errs, e)
			break
		}
		d.document(&doc)
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return d.objs, nil
}

// decoder turns YAML nodes into objects by hand, so that every key is
// matched exactly (encoding/json folds case) and every error has a line.
type decoder struct {
	file string
	objs []Object
	errs []error
}

func (d *decoder) document(doc *yaml.Node) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return
	}
	n := doc.Content[0]
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			d.object(item, "")
		}
	case yaml.MappingNode:
		if kind := scalarField(n, "kind"); listKinds[kind] != "" {
			d.list(n, kind)
			return
		}
		d.object(n, "")
	default:
		d.fail(&Error{Line: n.Line, Err: fmt.Errorf("want an object, a List or a sequence of objects, got %s", describe(n))})
	}
}

func (d *decoder) fail(e *Error) {
	e.File = d.file
	d.errs = append(d.errs, e)
}

// list unpacks a List's items.
func (d *decoder) list(n *yaml.Node, kind string) {
	src := &source{lines: map[string]int{}}
	itemKind := strings.TrimSuffix(kind, "List")
	var items *yaml.Node
	err := fields(n, "", src, map[string]func(*yaml.Node, string) *Error{
		"apiVersion": func(v *yaml.Node, p string) *Error {
			s, err := str(v, p)
			if err == nil && s != listKinds[kind] {
				err = nodeErr(v, p, "want %s, got %q", listKinds[kind], s)
			}
			return err
		},
		"kind":     func(*yaml.Node, string) *Error { return nil },
		"metadata": func(*yaml.Node, string) *Error { return nil }, // resourceVersion and the like
		"items": func(v *yaml.Node, p string) *Error {
			items = v
			return want(v, yaml.SequenceNode, p, "a list")
		},
	})
	for _, f := range []string{"apiVersion", "items"} {
		if _, ok := src.lines[f]; err == nil && !ok {
			err = keyErr(n, f, "required")
		}
	}
	if err != nil {
		err.Kind = kind
		d.fail(err)
		return
	}
	for _, item := range items.Content {
		d.object(item, itemKind)
	}
}

// object decodes one object; in a typed list, its kind must be onlyKind.
func (d *decoder) object(n *yaml.Node, onlyKind string) {
	if n.Kind != yaml.MappingNode {
		d.fail(nodeErr(n, "", "want an object, got %s", describe(n)))
		return
	}
	kind, name := scalarField(n, "kind"), metadataName(n)
	fail := func(e *Error) {
		e.Kind, e.Name = kind, name
		d.fail(e)
	}
	src := &source{file: d.file, line: n.Line, lines: map[string]int{}}
	var (
		o    Object
		spec func(*yaml.Node, string) *Error
	)
	switch kind {
	case KindJwtIssuer:
		v := &JwtIssuer{src: src}
		o, spec = v, func(n *yaml.Node, p string) *Error { return issuerSpec(n, p, src, &v.Spec) }
	case KindPolicy:
		v := &Policy{src: src}
		o, spec = v, func(n *yaml.Node, p string) *Error { return policySpec(n, p, src, &v.Spec) }
	case KindRole:
		v := &Role{src: src}
		o, spec = v, func(n *yaml.Node, p string) *Error { return roleSpec(n, p, src, &v.Spec) }
	case "":
		fail(keyErr(n, "kind", "required, a string: JwtIssuer, Policy, Role or List"))
		return
	default:
		if listKinds[kind] != "" {
			fail(keyErr(n, "kind", "a list may not contain a list"))
		} else {
			fail(keyErr(n, "kind", "unknown kind %q: want JwtIssuer, Policy, Role or List", kind))
		}
		return
	}
	if onlyKind != "" && kind != onlyKind {
		fail(keyErr(n, "kind", "a %sList may not contain a %s", onlyKind, kind))
		return
	}
	tm, meta, _ := o.header()
	err := fields(n, "", src, map[string]func(*yaml.Node, string) *Error{
		"apiVersion": func(v *yaml.Node, p string) *Error {
			var err *Error
			if tm.APIVersion, err = str(v, p); err == nil && tm.APIVersion != APIVersion {
				err = nodeErr(v, p, "want %s, got %q", APIVersion, tm.APIVersion)
			}
			return err
		},
		"kind": func(v *yaml.Node, p string) (err *Error) {
			tm.Kind, err = str(v, p)
			return err
		},
		"metadata": func(v *yaml.Node, p string) *Error { return metadata(v, p, src, meta) },
		"spec":     spec,
		"status":   func(*yaml.Node, string) *Error { return nil }, // a controller's, not ours
	})
	if err == nil {
		for _, f := range []string{"apiVersion", "metadata", "spec"} {
			if _, ok := src.lines[f]; !ok {
				err = keyErr(n, f, "required")
				break
			}
		}
	}
	if err == nil && meta.Name == "" {
		err = &Error{Line: src.lineOf("metadata"), Field: "metadata.name", Err: errors.New("required")}
	}
	if err != nil {
		fail(err)
		return
	}
	d.objs = append(d.objs, o)
}

func metadata(n *yaml.Node, path string, src *source, m *ObjectMeta) *Error {
	h := map[string]func(*yaml.Node, string) *Error{
		"name": func(v *yaml.Node, p string) (err *Error) {
			m.Name, err = str(v, p)
			return err
		},
		"namespace": func(v *yaml.Node, p string) (err *Error) {
			m.Namespace, err = str(v, p)
			return err
		},
	}
	for _, f := range ignoredMetadata {
		h[f] = func(*yaml.Node, string) *Error { return nil }
	}
	return fields(n, path, src, h)
}

func issuerSpec(n *yaml.Node, path string, src *source, s *JwtIssuerSpec) *Error {
	return fields(n, path, src, map[string]func(*yaml.Node, string) *Error{
		"iss":         strField(&s.Iss),
		"aud":         listField(&s.Aud),
		"issInternal": strField(&s.IssInternal),
		"tokenExpiry": strField(&s.TokenExpiry),
		"jwksUrl":     strField(&s.JWKSURL),
		"caBundle":    strField(&s.CABundle),
		"algorithms":  listField(&s.Algorithms),
		"acceptAzp": func(v *yaml.Node, p string) (err *Error) {
			s.AcceptAzp, err = boolean(v, p)
			return err
		},
		"requireTyp": listField(&s.RequireTyp),
	})
}

func policySpec(n *yaml.Node, path string, src *source, s *PolicySpec) *Error {
	return fields(n, path, src, map[string]func(*yaml.Node, string) *Error{
		"statement": func(v *yaml.Node, p string) *Error {
			if err := want(v, yaml.SequenceNode, p, "a list of statements"); err != nil {
				return err
			}
			s.Statement = make([]Statement, len(v.Content))
			for i, sn := range v.Content {
				ip := indexPath(p, i)
				src.lines[ip] = sn.Line
				if err := statement(sn, ip, src, &s.Statement[i]); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

func statement(n *yaml.Node, path string, src *source, s *Statement) *Error {
	return fields(n, path, src, map[string]func(*yaml.Node, string) *Error{
		"sid":       strField(&s.Sid),
		"action":    listField(&s.Action),
		"effect":    strField(&s.Effect),
		"resource":  listField(&s.Resource),
		"condition": conditionField(&s.Condition, src),
	})
}

func roleSpec(n *yaml.Node, path string, src *source, s *RoleSpec) *Error {
	return fields(n, path, src, map[string]func(*yaml.Node, string) *Error{
		"policy": listField(&s.Policy),
		"principal": func(v *yaml.Node, p string) (err *Error) {
			s.Principal, err = stringLists(v, p, src)
			return err
		},
		"condition": conditionField(&s.Condition, src),
	})
}

func conditionField(c *Condition, src *source) func(*yaml.Node, string) *Error {
	return func(n *yaml.Node, path string) *Error {
		*c = Condition{}
		return entries(n, path, src, func(op string, v *yaml.Node, p string) (err *Error) {
			(*c)[op], err = stringLists(v, p, src)
			return err
		})
	}
}

// stringLists reads a map of key to list of strings.
func stringLists(n *yaml.Node, path string, src *source) (map[string]StringList, *Error) {
	m := map[string]StringList{}
	err := entries(n, path, src, func(key string, v *yaml.Node, p string) (err *Error) {
		m[key], err = strList(v, p)
		return err
	})
	return m, err
}

// fields reads a mapping whose keys are the field names in h, and calls
// each field's handler.
func fields(n *yaml.Node, path string, src *source, h map[string]func(*yaml.Node, string) *Error) *Error {
	if err := want(n, yaml.MappingNode, path, "an object"); err != nil {
		return err
	}
	return eachKey(n, path, fieldPath, src, func(key string, v *yaml.Node, p string) *Error {
		f, ok := h[key]
		if !ok {
			return &Error{Line: src.lines[p], Field: p, Err: fmt.Errorf("unknown field%s", hint(key, sortedKeys(h)))}
		}
		return f(v, p)
	})
}

// entries reads a mapping whose keys are data (operators, claim keys).
func entries(n *yaml.Node, path string, src *source, fn func(string, *yaml.Node, string) *Error) *Error {
	if err := want(n, yaml.MappingNode, path, "an object"); err != nil {
		return err
	}
	return eachKey(n, path, keyPath, src, fn)
}

func eachKey(n *yaml.Node, path string, join func(string, string) string, src *source, fn func(string, *yaml.Node, string) *Error) *Error {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, err := str(k, path)
		if err != nil {
			err.Err = fmt.Errorf("key: %w", err.Err)
			return err
		}
		p := join(path, key)
		if line, dup := seen[key]; dup {
			return nodeErr(k, p, "duplicate key (first at line %d)", line)
		}
		seen[key] = k.Line
		src.lines[p] = k.Line
		if err := fn(key, v, p); err != nil {
			return err
		}
	}
	return nil
}

func strField(s *string) func(*yaml.Node, string) *Error {
	return func(n *yaml.Node, p string) (err *Error) {
		*s, err = str(n, p)
		return err
	}
}

func listField(l *StringList) func(*yaml.Node, string) *Error {
	return func(n *yaml.Node, p string) (err *Error) {
		*l, err = strList(n, p)
		return err
	}
}

func str(n *yaml.Node, path string) (string, *Error) {
	if err := want(n, yaml.ScalarNode, path, "a string"); err != nil {
		return "", err
	}
	if n.ShortTag() != "!!str" {
		return "", nodeErr(n, path, "want a string, got %s (quote it)", describe(n))
	}
	return n.Value, nil
}

// strList reads a list of strings, or a scalar as a list of one.
func strList(n *yaml.Node, path string) (StringList, *Error) {
	if n.Kind == yaml.ScalarNode {
		s, err := str(n, path)
		return StringList{s}, err
	}
	if err := want(n, yaml.SequenceNode, path, "a string or a list of strings"); err != nil {
		return nil, err
	}
	l := make(StringList, len(n.Content))
	for i, item := range n.Content {
		var err *Error
		if l[i], err = str(item, indexPath(path, i)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func boolean(n *yaml.Node, path string) (bool, *Error) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return b, nil
		}
	}
	return false, nodeErr(n, path, "want true or false, got %s", describe(n))
}

func want(n *yaml.Node, kind yaml.Kind, path, what string) *Error {
	if n.Kind == yaml.AliasNode {
		return nodeErr(n, path, "aliases are not supported")
	}
	if n.Kind != kind {
		return nodeErr(n, path, "want %s, got %s", what, describe(n))
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return strconv.Quote(n.Value)
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return n.ShortTag() + " " + strconv.Quote(n.Value)
	}
	return "nothing"
}

func nodeErr(n *yaml.Node, path, format string, args ...any) *Error {
	return &Error{Line: n.Line, Field: path, Err: fmt.Errorf(format, args...)}
}

// keyErr is an error about a mapping's field, at the field's line if it
// has it.
func keyErr(n *yaml.Node, key, format string, args ...any) *Error {
	e := nodeErr(n, key, format, args...)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			e.Line = n.Content[i].Line
		}
	}
	return e
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// scalarField is a mapping's string value for key, or "".
func scalarField(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == key && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			return v.Value
		}
	}
	return ""
}

// metadataName is metadata.name when it can be read, for error messages.
func metadataName(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "metadata" && n.Content[i+1].Kind == yaml.MappingNode {
			return scalarField(n.Content[i+1], "name")
		}
	}
	return ""
}
