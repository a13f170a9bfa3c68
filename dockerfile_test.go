package fedauth

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what can be checked without a Docker engine: the
// rules a linter would apply to the image, and that the image is built
// by the same script CI runs (scripts/xcaddy-build.sh).
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	checkDockerfile(t, string(data))
}

// A bad Dockerfile must fail each rule: the checks can fail.
func TestDockerfileRulesCatchMistakes(t *testing.T) {
	good, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"unpinned base", "golang:1.26.8-bookworm", "golang"},
		{"latest tag", "static-debian12:nonroot", "static-debian12:latest"},
		{"root user", "USER 65532:65532", "USER root"},
		{"no user", "USER 65532:65532", ""},
		{"secret build arg", "ARG VERSION=devel", "ARG VERSION=devel\nARG GITHUB_TOKEN"},
		{"another build command", "scripts/xcaddy-build.sh /out/caddy", "go build -o /out/caddy ./cmd/caddy"},
		{"shell-form entrypoint", `ENTRYPOINT ["/usr/bin/caddy"]`, "ENTRYPOINT /usr/bin/caddy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			if bad == string(good) {
				t.Fatalf("mutation %q not applied", tc.from)
			}
			ft := &failRecorder{}
			checkDockerfile(ft, bad)
			if !ft.failed {
				t.Errorf("the rules accepted a Dockerfile with %s", tc.name)
			}
		})
	}
}

type checker interface {
	Errorf(format string, args ...any)
}

type failRecorder struct{ failed bool }

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }

var (
	fromLine   = regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`)
	userLine   = regexp.MustCompile(`(?m)^USER\s+(\S+)`)
	argLine    = regexp.MustCompile(`(?m)^(?:ARG|ENV)\s+(\S+)`)
	secretName = regexp.MustCompile(`(?i)(secret|password|passwd|token|credential|private|_key\b|apikey)`)
)

func checkDockerfile(t checker, df string) {
	// Base images carry an explicit, non-latest tag.
	for _, m := range fromLine.FindAllStringSubmatch(df, -1) {
		image := m[1]
		name, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("base image %s (%s) is not pinned to a tag", image, name)
		}
	}
	// The final stage runs as a non-root user.
	stages := strings.Split(df, "\nFROM ")
	final := stages[len(stages)-1]
	users := userLine.FindAllStringSubmatch(final, -1)
	if len(users) == 0 {
		t.Errorf("the final stage sets no USER: it would run as root")
	} else if u := users[len(users)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("the final stage runs as %s", u)
	}
	// No secret goes through a build argument or the image's environment.
	for _, m := range argLine.FindAllStringSubmatch(df, -1) {
		for _, name := range strings.Fields(m[1]) {
			if secretName.MatchString(strings.SplitN(name, "=", 2)[0]) {
				t.Errorf("ARG/ENV %s looks like a secret: build args end up in the image history", name)
			}
		}
	}
	// The image is built by the script CI runs, not a command of its own.
	if !strings.Contains(df, "scripts/xcaddy-build.sh /out/caddy") || strings.Contains(df, "go build") {
		t.Errorf("the build stage does not use scripts/xcaddy-build.sh")
	}
	// Exec-form entrypoint: signals reach Caddy, not a shell.
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \[`).MatchString(df) {
		t.Errorf("ENTRYPOINT is not in exec form")
	}
}
