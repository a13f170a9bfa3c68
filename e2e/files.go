package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
)

// WriteFiles writes each file (name → content) into dir, creating dir,
// the way a config tool replaces a file: a hidden temporary file renamed
// over the name, so a reader sees the old file or the new one, never half
// of either. fed_oidc's IAM loader skips names starting with ".", so it
// never reads the temporary file.
func WriteFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, content := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// LogEntries returns the JSON log lines of a component's log (Caddy's,
// for example) written by the named logger, decoded.
func (s *Stack) LogEntries(name, logger string) ([]map[string]any, error) {
	f, err := os.Open(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["logger"] == logger {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}
