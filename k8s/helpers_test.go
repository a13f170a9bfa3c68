package k8s

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "chart/caddy-fedauth"
	namespace = "openfaas"
	release   = "caddy-fedauth"
)

// Binaries. Both must be given: a test that silently skipped without them
// would prove nothing. ./test.sh builds them and sets the variables.

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the Helm binary from $HELM, after checking that it is the
// version pinned in tools/go.mod (the one render.sh and CI use).
func helm(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() {
		helmPath = os.Getenv("HELM")
		if helmPath == "" {
			helmErr = fmt.Errorf("HELM is not set: run k8s/test.sh, or build the pinned Helm with k8s/helm.sh <bindir> and set HELM=<bindir>/helm")
			return
		}
		want, err := pinnedHelmVersion()
		if err != nil {
			helmErr = err
			return
		}
		out, err := exec.Command(helmPath, "version", "--template", "{{.Version}}").Output()
		if err != nil {
			helmErr = fmt.Errorf("HELM=%s: %v", helmPath, err)
			return
		}
		if got := strings.TrimSpace(string(out)); got != want {
			helmErr = fmt.Errorf("HELM=%s is Helm %s, but tools/go.mod pins %s: build it with k8s/helm.sh <bindir>", helmPath, got, want)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

func pinnedHelmVersion() (string, error) {
	b, err := os.ReadFile("tools/go.mod")
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?helm\.sh/helm/v3\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("tools/go.mod does not require helm.sh/helm/v3")
	}
	return string(m[1]), nil
}

var (
	caddyOnce sync.Once
	caddyPath string
	caddyErr  error
)

// caddy returns our Caddy binary from $CADDY, after checking that it has
// the fed_oidc module.
func caddy(t testing.TB) string {
	t.Helper()
	caddyOnce.Do(func() {
		caddyPath = os.Getenv("CADDY")
		if caddyPath == "" {
			caddyErr = fmt.Errorf("CADDY is not set: run k8s/test.sh, or `go build -o bin/caddy ./cmd/caddy` in the repository root and set CADDY=$PWD/bin/caddy")
			return
		}
		out, err := exec.Command(caddyPath, "list-modules").Output()
		if err != nil {
			caddyErr = fmt.Errorf("CADDY=%s: %v", caddyPath, err)
			return
		}
		if !strings.Contains(string(out), "http.handlers.fed_oidc") {
			caddyErr = fmt.Errorf("CADDY=%s has no http.handlers.fed_oidc module: build ./cmd/caddy of this repository", caddyPath)
		}
	})
	if caddyErr != nil {
		t.Fatal(caddyErr)
	}
	return caddyPath
}

// caddyEnv keeps Caddy's data, config and home in a test directory.
func caddyEnv(t testing.TB) []string {
	dir := t.TempDir()
	return append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

// helmTemplate renders the chart as release `caddy-fedauth` in namespace
// openfaas, with the given values files and YAML documents of values.
func helmTemplate(t testing.TB, files []string, values ...string) (string, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, f := range files {
		args = append(args, "--values", f)
	}
	// Not t.TempDir(): its path holds the test's name, and Helm splits
	// --values on commas.
	dir, err := os.MkdirTemp("", "chart-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for i, v := range values {
		f := filepath.Join(dir, fmt.Sprintf("values%d.yaml", i))
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// rendered holds the objects of one rendering; the chart renders at most
// one of each kind.
type rendered struct {
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
	ConfigMap      *corev1.ConfigMap
	ServiceAccount *corev1.ServiceAccount
	PVC            *corev1.PersistentVolumeClaim
	PDB            *policyv1.PodDisruptionBudget
	NetworkPolicy  *networkingv1.NetworkPolicy
	Objects        []metav1.Object
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits a multi-document manifest and decodes every object
// strictly into its k8s.io/api type: an unknown or duplicate field, or a
// kind the chart should not render, fails the test.
func decode(t testing.TB, manifest string) *rendered {
	t.Helper()
	r := new(rendered)
	for _, doc := range docSeparator.Split(manifest, -1) {
		var probe map[string]any
		if err := yaml.Unmarshal([]byte(doc), &probe); err != nil {
			t.Fatalf("YAML document does not parse: %v\n%s", err, doc)
		}
		if len(probe) == 0 {
			continue // comments only
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		var obj metav1.Object
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			obj = new(appsv1.Deployment)
		case "v1 Service":
			obj = new(corev1.Service)
		case "v1 ConfigMap":
			obj = new(corev1.ConfigMap)
		case "v1 ServiceAccount":
			obj = new(corev1.ServiceAccount)
		case "v1 PersistentVolumeClaim":
			obj = new(corev1.PersistentVolumeClaim)
		case "policy/v1 PodDisruptionBudget":
			obj = new(policyv1.PodDisruptionBudget)
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = new(networkingv1.NetworkPolicy)
		default:
			t.Fatalf("unexpected object %s %s in the rendered chart", tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s does not decode strictly into k8s.io/api: %v\n%s", tm.Kind, err, doc)
		}
		var err error
		switch o := obj.(type) {
		case *appsv1.Deployment:
			err = setOnce(&r.Deployment, o)
		case *corev1.Service:
			err = setOnce(&r.Service, o)
		case *corev1.ConfigMap:
			err = setOnce(&r.ConfigMap, o)
		case *corev1.ServiceAccount:
			err = setOnce(&r.ServiceAccount, o)
		case *corev1.PersistentVolumeClaim:
			err = setOnce(&r.PVC, o)
		case *policyv1.PodDisruptionBudget:
			err = setOnce(&r.PDB, o)
		case *networkingv1.NetworkPolicy:
			err = setOnce(&r.NetworkPolicy, o)
		}
		if err != nil {
			t.Fatal(err)
		}
		r.Objects = append(r.Objects, obj)
	}
	return r
}

func setOnce[T any](slot **T, v *T) error {
	if *slot != nil {
		return fmt.Errorf("the chart rendered two %T objects", v)
	}
	*slot = v
	return nil
}

// adapt runs `caddy adapt` on a Caddyfile and returns the JSON config. Any
// log line on stderr (for example "input is not formatted") fails.
func adapt(t testing.TB, caddyfile string) map[string]any {
	t.Helper()
	f := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(f, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(caddy(t), "adapt", "--config", f, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(t)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy adapt: %v\n%s\n%s", err, stderr.String(), numbered(caddyfile))
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Fatalf("caddy adapt warned:\n%s\n%s", s, numbered(caddyfile))
	}
	var cfg map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &cfg); err != nil {
		t.Fatalf("caddy adapt output: %v", err)
	}
	return cfg
}

// validate runs `caddy validate`, which provisions every module: fed_oidc
// reads the credential and CA files, so they must exist.
func validate(t testing.TB, caddyfile string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(f, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy(t), "validate", "--config", f, "--adapter", "caddyfile")
	cmd.Env = caddyEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s\n%s", err, out, numbered(caddyfile))
	}
}

// mountSecrets builds, under a temporary root, the files the pod would
// see: every Secret volume's items at its mount path (a real PEM
// certificate for ca.crt, real EC keys for *.key), and for the IAM
// ConfigMap a valid IAM set laid out as the kubelet does (iam.yaml ->
// ..data/iam.yaml, ..data -> ..<timestamp>). It returns the Caddyfile with
// those mount paths moved under the root, and fails if the Caddyfile
// refers to no mount.
func mountSecrets(t testing.TB, d *appsv1.Deployment, caddyfile string) string {
	t.Helper()
	root := t.TempDir()
	spec := d.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	out := caddyfile
	for _, c := range spec.Containers {
		for _, m := range c.VolumeMounts {
			v := volumes[m.Name]
			if v.ConfigMap != nil && m.Name != "caddyfile" {
				out = mountIAMConfigMap(t, root, m.MountPath, out)
				continue
			}
			if v.Secret == nil {
				continue
			}
			dir := filepath.Join(root, m.MountPath)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if len(v.Secret.Items) == 0 {
				t.Fatalf("secret volume %s lists no items: the files the Caddyfile needs are not guaranteed", v.Name)
			}
			for _, it := range v.Secret.Items {
				content := []byte("value-of-" + it.Key + "\n")
				switch {
				case it.Key == "ca.crt":
					content = testCA(t)
				case strings.HasSuffix(it.Key, ".key"):
					content = testECKey(t)
				}
				if err := os.WriteFile(filepath.Join(dir, it.Path), content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			prefix := strings.TrimSuffix(m.MountPath, "/") + "/"
			if !strings.Contains(out, prefix) {
				t.Fatalf("the Caddyfile does not use secret mount %s", m.MountPath)
			}
			out = strings.ReplaceAll(out, prefix, dir+"/")
		}
	}
	return out
}

// testIAM is a valid IAM set: a Policy and the Role granting it.
const testIAM = `apiVersion: iam.openfaas.com/v1
kind: Policy
metadata: {name: read-all, namespace: openfaas}
spec:
  statement:
  - {sid: read, action: ["Function:List", "Function:Get", "Namespace:List"], effect: Allow, resource: ["*"]}
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata: {name: auditors, namespace: openfaas}
spec:
  policy: [read-all]
  principal: {jwt:sub: ["auditor"]}
`

// mountIAMConfigMap lays out testIAM at mountPath under root as the
// kubelet lays out a ConfigMap volume, and moves the path in caddyfile.
func mountIAMConfigMap(t testing.TB, root, mountPath, caddyfile string) string {
	t.Helper()
	dir := filepath.Join(root, mountPath)
	data := filepath.Join(dir, "..2026_12_01_10_00_00.000000001")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "iam.yaml"), []byte(testIAM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/iam.yaml", filepath.Join(dir, "iam.yaml")); err != nil {
		t.Fatal(err)
	}
	mp := strings.TrimSuffix(mountPath, "/")
	if !regexp.MustCompile(`(?m)^\s*iam ` + regexp.QuoteMeta(mp) + `$`).MatchString(caddyfile) {
		t.Fatalf("the Caddyfile does not use ConfigMap mount %s as iam", mountPath)
	}
	return strings.ReplaceAll(caddyfile, mp, dir)
}

// testECKey is a PEM EC P-256 private key, as openssl ecparam writes it.
func testECKey(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func testCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, line)
	}
	return b.String()
}

// findHandlers returns every object in the adapted JSON whose "handler" is
// the given name, wherever it is nested (routes, subroutes).
func findHandlers(v any, name string) []map[string]any {
	var found []map[string]any
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == name {
				found = append(found, x)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return found
}

// path follows keys through nested JSON objects.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// waitFor polls a URL until it answers, for up to 20 s.
func waitFor(t testing.TB, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expect makes a request and checks the status and that the body contains
// a string; a 401 must carry a Bearer challenge. It returns the body.
func expect(t testing.TB, method, u string, headers map[string]string, status int, contains string) string {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Errorf("%s %s: %d, want %d", method, u, resp.StatusCode, status)
	}
	if !strings.Contains(string(body), contains) {
		t.Errorf("%s %s: body does not contain %q:\n%s", method, u, contains, body)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("%s %s: WWW-Authenticate %q, want a Bearer challenge", method, u, resp.Header.Get("WWW-Authenticate"))
	}
	return string(body)
}
