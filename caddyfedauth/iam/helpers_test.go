package iam

import (
	"strings"
	"testing"
)

// compileYAML parses and compiles YAML, failing the test on an error.
func compileYAML(t testing.TB, y string) *Set {
	t.Helper()
	objs, err := Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	s, err := Compile(objs)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

// compileErr parses and compiles YAML, and returns the error ("" if none).
func compileErr(y string) string {
	objs, err := Parse("test.yaml", []byte(y))
	if err == nil {
		_, err = Compile(objs)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// policyYAML is a Policy with the given statements (YAML list items,
// indented by 2).
func policyYAML(name, statements string) string {
	return "apiVersion: iam.openfaas.com/v1\nkind: Policy\nmetadata: {name: " + name + "}\nspec:\n  statement:\n" +
		indent(statements, "  ") + "---\n"
}

// roleYAML is a Role with the given spec body (indented by 2).
func roleYAML(name, spec string) string {
	return "apiVersion: iam.openfaas.com/v1\nkind: Role\nmetadata: {name: " + name + "}\nspec:\n" + indent(spec, "  ") + "---\n"
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = by + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// everyone is a role condition that the test tokens meet.
const everyone = "condition: {StringEqual: {jwt:iss: https://idp.example.com}}\n"

// claims are a token of https://idp.example.com with the given extra
// claims.
func claims(kv ...any) map[string]any {
	c := map[string]any{"iss": "https://idp.example.com", "sub": "user-1"}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}
