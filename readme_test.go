package fedauth

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's build commands name the versions the repository pins: the
// Go of go.mod, the Caddy of go.mod and the xcaddy that CI builds with
// (scripts/xcaddy-build.sh), so that they work as written.
func TestREADMEVersions(t *testing.T) {
	files := map[string]string{"README.md": "", "go.mod": "", "scripts/xcaddy-build.sh": ""}
	for name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	readme, gomod := files["README.md"], files["go.mod"]
	pin := func(re, text, what string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s found", what)
		}
		return m[1]
	}
	goVersion := pin(`(?m)^go (\S+)$`, gomod, "go line in go.mod")
	caddy := pin(`github\.com/caddyserver/caddy/v2 (v\S+)`, gomod, "Caddy version in go.mod")
	xcaddy := pin(`xcaddy/cmd/xcaddy@(v[0-9.]+)`, files["scripts/xcaddy-build.sh"], "xcaddy version in scripts/xcaddy-build.sh")
	for _, want := range []string{
		"Go " + goVersion + " ",
		"go install github.com/caddyserver/xcaddy/cmd/xcaddy@" + xcaddy + "\n",
		"xcaddy build " + caddy + " ",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not contain %q", want)
		}
	}
	if regexp.MustCompile(`Go \(?1\.[0-9.]+\+`).MatchString(readme) {
		t.Error("README.md gives a range of Go versions instead of go.mod's")
	}
}
