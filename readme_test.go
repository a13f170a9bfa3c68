package fedauth

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-fedauth/caddy-fedauth/caddyfedauth/iam"
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

// The IAM objects of the README's Kubernetes how-to load, and decide as
// the section says: dev's connector may list dev and nothing else.
func TestREADMEKubernetesIssuerObjects(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Trusting a Kubernetes service-account issuer\n")
	if !ok {
		t.Fatal("README.md has no section \"Trusting a Kubernetes service-account issuer\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var docs []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if strings.Contains(m[1], "apiVersion: iam.openfaas.com/v1") {
			docs = append(docs, m[1])
		}
	}
	objs, err := iam.Parse("README.md", []byte(strings.Join(docs, "---\n")))
	if err != nil {
		t.Fatal(err)
	}
	set, err := iam.Compile(objs)
	if err != nil {
		t.Fatal(err)
	}
	if w := set.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
	iss := set.Issuers()
	if len(iss) != 1 || iss[0].Spec.Iss != "https://kubernetes.default.svc.cluster.local" || iss[0].Spec.IssInternal == "" || iss[0].Spec.CABundle == "" {
		t.Fatalf("issuers: %+v", iss)
	}
	claims := func(sub string) map[string]any {
		return map[string]any{"iss": iss[0].Spec.Iss, "sub": sub, "aud": []any{iss[0].Spec.Aud[0]}}
	}
	connector, other := claims("system:serviceaccount:dev:connector"), claims("system:serviceaccount:dev:other")
	for _, tc := range []struct {
		claims   map[string]any
		action   iam.Action
		resource iam.Resource
		want     bool
	}{
		{connector, iam.FunctionList, iam.NamespaceResource("dev"), true},
		{connector, iam.NamespaceList, iam.NamespaceResource("dev"), true},
		{connector, iam.FunctionList, iam.NamespaceResource("staging"), false},
		{connector, iam.FunctionCreate, iam.ObjectResource("dev", "fn"), false},
		{other, iam.FunctionList, iam.NamespaceResource("dev"), false},
	} {
		if got := set.Decide(tc.claims, tc.action, tc.resource); got.Allowed() != tc.want {
			t.Errorf("%s %s on %s: %s", tc.claims["sub"], tc.action, tc.resource, got.Reason())
		}
	}
}
