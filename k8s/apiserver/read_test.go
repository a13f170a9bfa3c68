package apiserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadManifests needs no apiserver: the splitting of the file must not
// drop objects, or the checks above would pass on less than the chart.
func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	objs, err := readManifests(write("ok.yaml", `---
# Source: chart/templates/empty.yaml
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: a}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: Secret, metadata: {name: c}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if want := "ServiceAccount/a ConfigMap/b Secret/c"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}

	// The server never sees a duplicate key (the JSON it gets has one), so
	// it is caught here.
	if _, err := readManifests(write("dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {k: a}\ndata: {k: b}\n")); err == nil {
		t.Error("duplicate key accepted")
	}
	if _, err := readManifests(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}
