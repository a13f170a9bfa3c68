package caddyfedauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// faasCLIConfig is faas-cli 0.17's config.ConfigFile, as it reads it.
type faasCLIConfig struct {
	Auths []struct {
		Gateway string `yaml:"gateway"`
		Auth    string `yaml:"auth"`
		Token   string `yaml:"token"`
		Options []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"options"`
	} `yaml:"auths"`
}

func readFaaSCLIConfig(t *testing.T, data []byte) faasCLIConfig {
	t.Helper()
	var cfg faasCLIConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("faas-cli could not read %q: %v", data, err)
	}
	return cfg
}

func TestSaveFaaSCLIToken(t *testing.T) {
	const existing = `# written by faas-cli
auths:
- gateway: http://127.0.0.1:8080
  auth: basic
  token: YWRtaW46cGFzcw==
- gateway: https://gw.example.com
  auth: basic
  token: b2xkOm9sZA==
  options:
  - name: authority
    value: https://idp.example.com
- gateway: https://other.example.com
  auth: oauth2
  token: other-token
extra: kept
`
	for _, tc := range []struct {
		name     string
		before   string // "" : no file
		mode     os.FileMode
		gateway  string
		wantGWs  []string // the entries' gateways after, in order
		wantKept []string // substrings of the file that must survive
	}{
		{name: "no file", gateway: "https://gw.example.com", wantGWs: []string{"https://gw.example.com"}},
		{name: "empty file", before: "\n", mode: 0o600, gateway: "https://gw.example.com", wantGWs: []string{"https://gw.example.com"}},
		{name: "comments only", before: "# nothing yet\n", mode: 0o600, gateway: "https://gw.example.com",
			wantGWs: []string{"https://gw.example.com"}, wantKept: []string{"# nothing yet"}},
		{name: "auths: null", before: "auths:\n", mode: 0o600, gateway: "https://gw.example.com", wantGWs: []string{"https://gw.example.com"}},
		{
			// the entry replaced in place; the others, its options, the
			// comment and the unknown key kept; a world-readable file made 0600
			name: "entry replaced", before: existing, mode: 0o644, gateway: "https://gw.example.com",
			wantGWs:  []string{"http://127.0.0.1:8080", "https://gw.example.com", "https://other.example.com"},
			wantKept: []string{"# written by faas-cli", "token: YWRtaW46cGFzcw==", "token: other-token", "extra: kept", "value: https://idp.example.com"},
		},
		{
			name: "entry added", before: existing, mode: 0o600, gateway: "https://new.example.com",
			wantGWs:  []string{"http://127.0.0.1:8080", "https://gw.example.com", "https://other.example.com", "https://new.example.com"},
			wantKept: []string{"token: b2xkOm9sZA==", "token: other-token", "extra: kept"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "openfaas")
			path := filepath.Join(dir, "config.yml")
			if tc.before != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.before), tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			got, err := saveFaaSCLIToken(dir, tc.gateway, "new.jwt.token")
			if err != nil {
				t.Fatal(err)
			}
			if got != path {
				t.Errorf("saved to %s, want %s", got, path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := readFaaSCLIConfig(t, data)
			var gws []string
			for _, a := range cfg.Auths {
				gws = append(gws, a.Gateway)
				if a.Gateway == tc.gateway && (a.Auth != "oauth2" || a.Token != "new.jwt.token") {
					t.Errorf("entry %+v, want auth oauth2 and the new token", a)
				}
			}
			if strings.Join(gws, " ") != strings.Join(tc.wantGWs, " ") {
				t.Errorf("gateways %v, want %v", gws, tc.wantGWs)
			}
			for _, s := range tc.wantKept {
				if !strings.Contains(string(data), s) {
					t.Errorf("%q lost:\n%s", s, data)
				}
			}
			if strings.Contains(string(data), "b2xkOm9sZA==") && tc.gateway == "https://gw.example.com" {
				t.Errorf("the old credential is still there:\n%s", data)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			if tc.before == "" {
				dst, _ := os.Stat(dir)
				if dst.Mode().Perm() != 0o700 {
					t.Errorf("new dir mode %v, want 0700", dst.Mode().Perm())
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("dir holds %d files, want only config.yml (no temporary file left)", len(entries))
			}
		})
	}
}

// The file is replaced, not rewritten in place: a reader that opened the
// old file reads it whole, and the new file is another inode.
func TestSaveFaaSCLITokenAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	old := "auths:\n- gateway: https://a.example.com\n  auth: oauth2\n  token: old\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, _ := f.Stat()
	if _, err := saveFaaSCLIToken(dir, "https://a.example.com", "new"); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("the config file was rewritten in place")
	}
	buf := make([]byte, 1024)
	n, _ := f.ReadAt(buf, 0)
	if string(buf[:n]) != old {
		t.Errorf("a reader of the old file got %q", buf[:n])
	}

	// A file we cannot read as faas-cli's is left as it was.
	bad := "auths: {not: a list}\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := saveFaaSCLIToken(dir, "https://a.example.com", "new"); err == nil || !strings.Contains(err.Error(), "auths is not a list") {
		t.Errorf("got %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != bad {
		t.Errorf("file changed to %q", data)
	}
}

// A config file that is a link keeps being one: its target is replaced.
func TestSaveFaaSCLITokenSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yml")
	if err := os.WriteFile(target, []byte("auths: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(dir, "openfaas")
	if err := os.Mkdir(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(cfgDir, "config.yml")); err != nil {
		t.Fatal(err)
	}
	if _, err := saveFaaSCLIToken(cfgDir, "https://a.example.com", "tok"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(filepath.Join(cfgDir, "config.yml")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st, err)
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), "token: tok") {
		t.Errorf("target holds %q", data)
	}
}

func TestFaaSCLIGatewayURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://GW.example.com/":   "https://gw.example.com",
		"https://gw.example.com//":  "https://gw.example.com",
		"http://127.0.0.1:8080":     "http://127.0.0.1:8080",
		"127.0.0.1:8080":            "http://127.0.0.1:8080",
		"https://gw.example.com/of": "https://gw.example.com/of",
	} {
		if got := faasCLIGatewayURL(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestFaaSCLIConfigDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, tc := range []struct{ env, ci, want string }{
		{"", "", filepath.Join(home, ".openfaas")},
		{"", "true", ".openfaas"}, // faas-cli in CI: the working directory
		{"", "1", ".openfaas"},
		{"", "false", filepath.Join(home, ".openfaas")},
		{"/etc/of", "true", "/etc/of"},
		{"~/of", "", filepath.Join(home, "of")},
	} {
		t.Setenv("OPENFAAS_CONFIG", tc.env)
		t.Setenv("CI", tc.ci)
		if got, err := faasCLIConfigDir(); err != nil || got != tc.want {
			t.Errorf("OPENFAAS_CONFIG=%q CI=%q: got %q %v, want %q", tc.env, tc.ci, got, err, tc.want)
		}
	}
}
