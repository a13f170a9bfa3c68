package kubesecret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteSwapsAllFilesAndRemovesTheOldVersion(t *testing.T) {
	dir := t.TempDir()
	for _, pass := range []string{"first", "second"} {
		if err := Write(dir, map[string]string{"user": "admin", "password": pass}); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"user": "admin", "password": pass} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != want {
				t.Errorf("%s after writing %q: %q, %v", name, pass, got, err)
			}
			// The name a reader opens must stay a link into ..data, or a
			// swap would not be atomic for it.
			if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || target != filepath.Join(dataLink, name) {
				t.Errorf("%s links to %q, %v", name, target, err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			versions = append(versions, e.Name())
		}
	}
	if len(versions) != 1 {
		t.Errorf("version directories left: %q, want only the current one", versions)
	}
}
