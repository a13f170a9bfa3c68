package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubernetesIssuer trusts a real kube-apiserver's service-account
// issuer as a JwtIssuer: its discovery and JWKS read anonymously through
// the system:service-account-issuer-discovery ClusterRole, its serving CA
// as the caBundle, tokens minted with the TokenRequest API, and a Role on
// the ServiceAccount's subject deciding requests through our Caddy to the
// real OpenFaaS gateway. scripts/test.sh runs it in its kube-apiserver
// phase, with KUBE_APISERVER and ETCD set to the binaries run.sh built.
func TestKubernetesIssuer(t *testing.T) {
	bin := os.Getenv("FEDAUTH_E2E_BIN")
	if bin == "" || os.Getenv("KUBE_APISERVER") == "" || os.Getenv("ETCD") == "" {
		t.Skip("needs FEDAUTH_E2E_BIN, KUBE_APISERVER and ETCD; scripts/test.sh sets them in its kube-apiserver phase")
	}
	dir := t.TempDir()
	s, err := New(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	iamDir := filepath.Join(dir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		t.Fatal(err)
	}

	kube, err := StartAPIServer(filepath.Join(dir, "kube"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kube.Stop)
	fatal := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n--- caddy log:\n%s\n--- apiserver log:\n%s", err, s.Log("caddy"), kube.Log())
		}
	}

	const discovery, jwks = "/.well-known/openid-configuration", "/openid/v1/jwks"
	// start.sh lets anonymous requests authenticate on these two paths
	// alone; RBAC refuses them until the binding below exists.
	for path, want := range map[string]int{discovery: 403, jwks: 403, "/api": 401, "/api/v1/namespaces": 401} {
		if code, body, err := kube.Get(path); err != nil || code != want {
			t.Errorf("anonymous GET %s before the binding: %d %v, want %d\n%s", path, code, err, want, body)
		}
	}
	// What a cluster does for a relying party outside it: the bootstrap
	// binding of system:service-account-issuer-discovery covers only
	// system:serviceaccounts.
	_, err = kube.Create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1",
		"kind":       "ClusterRoleBinding",
		"metadata":   map[string]any{"name": "service-account-issuer-discovery-unauthenticated"},
		"roleRef":    map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:service-account-issuer-discovery"},
		"subjects":   []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}},
	})
	fatal(err)
	var body []byte
	// The RBAC authorizer sees the binding through its informer.
	fatal(waitUntil(context.Background(), "anonymous discovery", func() bool {
		code, b, _ := kube.Get(discovery)
		body = b
		return code == 200
	}))
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Issuer != kube.Issuer || doc.JWKSURI != kube.URL+jwks {
		t.Errorf("discovery: %s (%v), want issuer %s and jwks_uri %s", body, err, kube.Issuer, kube.URL+jwks)
	}
	if code, body, err := kube.Get(jwks); err != nil || code != 200 || !strings.Contains(string(body), `"keys"`) {
		t.Errorf("anonymous GET %s: %d %v\n%s", jwks, code, err, body)
	}
	if code, _, _ := kube.Get("/api/v1/namespaces"); code != 401 {
		t.Errorf("anonymous GET /api/v1/namespaces after the binding: %d, want 401", code)
	}

	// No controller-manager runs, so the ServiceAccounts are created here.
	_, err = kube.Create("/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "dev"}})
	fatal(err)
	for _, sa := range []string{"connector", "other"} {
		_, err = kube.Create("/api/v1/namespaces/dev/serviceaccounts", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": sa}})
		fatal(err)
	}
	connector, err := kube.ServiceAccountToken("dev", "connector", Audience, 600)
	fatal(err)
	otherSA, err := kube.ServiceAccountToken("dev", "other", Audience, 600)
	fatal(err)
	// A token for another audience: the apiserver's own.
	forAPIServer, err := kube.ServiceAccountToken("dev", "connector", kube.Issuer, 600)
	fatal(err)
	claims := tokenClaims(t, connector)
	if claims["iss"] != kube.Issuer || claims["sub"] != "system:serviceaccount:dev:connector" {
		t.Fatalf("TokenRequest gave iss %v sub %v", claims["iss"], claims["sub"])
	}
	// Signed with the issuer's own key, so only the dates differ from a
	// real token: one still valid (the control) and one expired.
	now := time.Now().Unix()
	resigned := resignToken(t, connector, kube.SigningKey, now-60, now+540)
	expired := resignToken(t, connector, kube.SigningKey, now-1200, now-600)

	caddyfile := kubeCaddyfile(s, iamDir)
	fatal(os.WriteFile(filepath.Join(iamDir, "kubernetes.yaml"), []byte(kubeIAMObjects(kube)), 0o600))
	t.Setenv("FAKEPROVIDER_NAMESPACES", "openfaas-fn,dev,staging")
	fatal(s.StartGateway(context.Background()))
	fatal(s.StartCaddyWith(context.Background(), caddyfile))
	for _, ns := range []string{"dev", "staging"} {
		fatal(s.deployDirect("env-"+ns, ns))
	}
	client, err := s.HTTPClient()
	fatal(err)
	do := func(t *testing.T, method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.SecureURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Caddy issues its certificate and fetches the keys in the
	// background after it starts.
	fatal(waitUntil(context.Background(), "a first decision on the connector's token", func() bool {
		req, _ := http.NewRequest("GET", s.SecureURL+"/system/functions?namespace=dev", nil)
		req.Header.Set("Authorization", "Bearer "+connector)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusServiceUnavailable
	}))

	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
		contains                        string
	}{
		{"the connector lists functions in dev", "GET", "/system/functions?namespace=dev", connector, "", 200, `"env-dev"`},
		{"the connector may not list staging", "GET", "/system/functions?namespace=staging", connector, "", 403, ""},
		{"the connector may not deploy to dev", "POST", "/system/functions", connector, `{"service":"fn","image":"ghcr.io/openfaas/alpine:latest","namespace":"dev"}`, 403, ""},
		{"the connector may not read the system info", "GET", "/system/info", connector, "", 403, ""},
		{"another ServiceAccount matches no role", "GET", "/system/functions?namespace=dev", otherSA, "", 403, ""},
		{"a token for the apiserver's audience is refused", "GET", "/system/functions?namespace=dev", forAPIServer, "", 401, ""},
		{"re-signed with the issuer's key and valid dates (control)", "GET", "/system/functions?namespace=dev", resigned, "", 200, `"env-dev"`},
		{"re-signed with the issuer's key and expired", "GET", "/system/functions?namespace=dev", expired, "", 401, ""},
		{"a tampered signature", "GET", "/system/functions?namespace=dev", connector[:len(connector)-6] + "AAAAAA", "", 401, ""},
		{"garbage", "GET", "/system/functions?namespace=dev", "not-a-token", "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want || !strings.Contains(body, tc.contains) {
				t.Errorf("%s %s: %d %q, want %d with %q\n--- caddy log:\n%s", tc.method, tc.path, code, body, tc.want, tc.contains, s.Log("caddy"))
			}
		})
	}

	t.Run("the connector sees only dev of the namespaces", func(t *testing.T) {
		code, body := do(t, "GET", "/system/namespaces", connector, "")
		var got []string
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || len(got) != 1 || got[0] != "dev" {
			t.Errorf("GET /system/namespaces: %d %s, want 200 [\"dev\"]", code, body)
		}
	})

	t.Run("faas-cli with the connector's token", func(t *testing.T) {
		secure := []string{"-g", s.SecureURL, "--tls-no-verify", "--token", connector}
		out, err := s.Run("faas-cli", "", append([]string{"list", "-n", "dev"}, secure...)...)
		if err != nil || !strings.Contains(out, "env-dev") {
			t.Errorf("faas-cli list -n dev: %v\n%s", err, out)
		}
		out, err = s.Run("faas-cli", "", append([]string{"list", "-n", "staging"}, secure...)...)
		if err == nil || !strings.Contains(out, "403") {
			t.Errorf("faas-cli list -n staging: want a 403 failure, got %v\n%s", err, out)
		}
	})
}

// kubeCaddyfile is our Caddy with its trusted issuers, roles and policies
// in iamDir, in front of the stack's gateway.
func kubeCaddyfile(s *Stack, iamDir string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%s
	skip_install_trust
	auto_https disable_redirects
	storage file_system %s
}

https://127.0.0.1:%s {
	bind 127.0.0.1
	tls internal
	fed_oidc {
		iam %s
		gateway_basic_auth %[5]s/basic-auth-user %[5]s/basic-auth-password
	}
	reverse_proxy %s {
		transport fed_oidc
	}
}
`, port(s.AdminURL), filepath.Join(s.Dir, "caddy-data"), port(s.SecureURL), iamDir, s.GatewaySecrets, s.GatewayURL)
}

// kubeIAMObjects trusts the apiserver's service-account issuer, fetched
// from its loopback address, and lets dev's connector list functions and
// namespaces in dev (the reference's connector example).
func kubeIAMObjects(kube *APIServer) string {
	return fmt.Sprintf(`apiVersion: iam.openfaas.com/v1
kind: JwtIssuer
metadata:
  name: kubernetes
  namespace: openfaas
spec:
  iss: %s
  issInternal: %s
  caBundle: %s
  aud:
  - %s
---
apiVersion: iam.openfaas.com/v1
kind: Policy
metadata:
  name: dev-fn-ro
  namespace: openfaas
spec:
  statement:
  - sid: 1-fn-r
    action: ["Function:List", "Namespace:List"]
    effect: Allow
    resource: ["dev:*"]
---
apiVersion: iam.openfaas.com/v1
kind: Role
metadata:
  name: dev-connector
  namespace: openfaas
spec:
  policy: [dev-fn-ro]
  principal:
    jwt:sub: ["system:serviceaccount:dev:connector"]
  condition:
    StringEqual:
      jwt:iss: ["%[1]s"]
`, kube.Issuer, kube.URL, kube.CA, Audience)
}

// deployDirect deploys a function on the gateway itself, with its
// basic-auth credential, bypassing fed_oidc.
func (s *Stack) deployDirect(name, namespace string) error {
	body, _ := json.Marshal(map[string]string{"service": name, "image": "ghcr.io/openfaas/alpine:latest", "namespace": namespace})
	req, _ := http.NewRequest(http.MethodPost, s.GatewayURL+"/system/functions", strings.NewReader(string(body)))
	req.SetBasicAuth("admin", s.GatewayPassword)
	resp, err := plainClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("deploying %s.%s on the gateway: %s %s", name, namespace, resp.Status, b)
	}
	return nil
}

// tokenClaims decodes a JWT's claims, unverified.
func tokenClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// resignToken returns token with iat and nbf set to iat and exp to exp,
// signed again (RS256, the same kid) with the PEM RSA key in keyFile.
func resignToken(t *testing.T, token, keyFile string, iat, exp int64) string {
	t.Helper()
	claims := tokenClaims(t, token)
	claims["iat"], claims["nbf"], claims["exp"] = iat, iat, exp
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signingInput := token[:strings.IndexByte(token, '.')] + "." + base64.RawURLEncoding.EncodeToString(payload)
	key, err := readRSAKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// readRSAKey reads a PKCS #1 or PKCS #8 PEM RSA private key (openssl
// genrsa writes the one or the other depending on its version).
func readRSAKey(file string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block in " + file)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", file)
	}
	return rk, nil
}
