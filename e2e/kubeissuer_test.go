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
	"slices"
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
	if os.Getenv("KUBE_APISERVER") == "" || os.Getenv("ETCD") == "" {
		t.Skip("KUBE_APISERVER and ETCD are not set; scripts/test.sh sets them in its kube-apiserver phase")
	}
	s := newStack(t)
	s.Namespaces = []string{"openfaas-fn", "dev", "staging"}
	kube, err := StartAPIServer(filepath.Join(s.Dir, "kube"))
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

	iamDir := filepath.Join(s.Dir, "iam")
	fatal(WriteFiles(iamDir, map[string]string{"kubernetes.yaml": kubeIAMObjects(kube)}))
	fatal(s.StartGateway(context.Background()))
	fatal(s.StartCaddyWith(context.Background(), s.IAMCaddyfile("iam "+iamDir)))
	for _, ns := range []string{"dev", "staging"} {
		fatal(s.deployDirect("env-"+ns, ns))
	}
	// Caddy fetches the keys in the background after it starts.
	fatal(waitUntil(context.Background(), "a first decision on the connector's token", func() bool {
		code, _, _, err := request("GET", s.IAMURL+"/system/functions?namespace=dev", connector, "")
		return err == nil && code != http.StatusServiceUnavailable
	}))

	// decided counts the requests decided with outcome for the issuer.
	decided := func(outcome string) string {
		v, err := s.Metric(`caddy_fed_oidc_decisions_total{issuer="` + kube.Issuer + `",outcome="` + outcome + `"}`)
		if err != nil {
			return "0"
		}
		return v
	}
	const list = "/system/functions?namespace=dev"
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
		contains                        string
		outcome                         string // counted for the issuer; "" for none
	}{
		{"the connector lists functions in dev", "GET", list, connector, "", 200, `"env-dev"`, "allowed"},
		{"the connector may not list staging", "GET", "/system/functions?namespace=staging", connector, "", 403, "", "iam_denied"},
		{"the connector may not deploy to dev", "POST", "/system/functions", connector, `{"service":"fn","image":"ghcr.io/openfaas/alpine:latest","namespace":"dev"}`, 403, "", "iam_denied"},
		{"the connector may not read the system info", "GET", "/system/info", connector, "", 403, "", "iam_denied"},
		{"another ServiceAccount matches no role", "GET", list, otherSA, "", 403, "", "iam_denied"},
		{"a token for the apiserver's audience is refused", "GET", list, forAPIServer, "", 401, "", "wrong_audience"},
		{"re-signed with the issuer's key and valid dates (control)", "GET", list, resigned, "", 200, `"env-dev"`, "allowed"},
		{"re-signed with the issuer's key and expired", "GET", list, expired, "", 401, "", "expired"},
		{"a tampered signature", "GET", list, connector[:len(connector)-6] + "AAAAAA", "", 401, "", "bad_signature"},
		{"garbage", "GET", list, "not-a-token", "", 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := decided(tc.outcome)
			code, _, body, err := request(tc.method, s.IAMURL+tc.path, tc.token, tc.body)
			if err != nil || code != tc.want || !strings.Contains(string(body), tc.contains) {
				t.Errorf("%s %s: %d %q, want %d with %q\n--- caddy log:\n%s", tc.method, tc.path, code, body, tc.want, tc.contains, s.Log("caddy"))
			}
			if after := decided(tc.outcome); tc.outcome != "" && after == before {
				t.Errorf("decided as %s: still %s, want one more", tc.outcome, after)
			}
		})
	}

	t.Run("the connector sees only dev of the namespaces", func(t *testing.T) {
		var got []string
		if code := getJSON(t, s.IAMURL+"/system/namespaces", connector, &got); code != 200 || !slices.Equal(got, []string{"dev"}) {
			t.Errorf("GET /system/namespaces: %d %q, want 200 [dev]", code, got)
		}
	})

	t.Run("faas-cli with the connector's token", func(t *testing.T) {
		out, err := s.FaaSCLI(s.IAMURL, connector, "list", "-n", "dev")
		if err != nil || !strings.Contains(out, "env-dev") {
			t.Errorf("faas-cli list -n dev: %v\n%s", err, out)
		}
		out, err = s.FaaSCLI(s.IAMURL, connector, "namespaces")
		if got := ListedNamespaces(out); err != nil || !slices.Equal(got, []string{"dev"}) {
			t.Errorf("faas-cli namespaces: %q, want [dev]: %v\n%s", got, err, out)
		}
		out, err = s.FaaSCLI(s.IAMURL, connector, "list", "-n", "staging")
		if m := Refusal.FindStringSubmatch(out); err == nil || m == nil || m[1] != "403" {
			t.Errorf("faas-cli list -n staging: want a 403 failure, got %v\n%s", err, out)
		}
	})
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
