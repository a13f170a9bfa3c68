package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// APIServer is a real kube-apiserver, with its etcd, started on loopback
// by k8s/apiserver/start.sh (no kubelet, no controller-manager), used
// here as a service-account token issuer.
type APIServer struct {
	URL        string // https://127.0.0.1:PORT
	Issuer     string // the service-account issuer: tokens' iss, discovery's issuer
	CA         string // PEM file of the CA that issued the serving certificate
	SigningKey string // PEM file of the service-account signing key

	dir    string
	script string // start.sh's directory
	token  string // the admin's bearer token (system:masters)
	client *http.Client
}

// StartAPIServer runs start.sh in dir with the binaries named by
// $KUBE_APISERVER and $ETCD, and waits until the server is ready.
func StartAPIServer(dir string) (*APIServer, error) {
	_, file, _, _ := runtime.Caller(0)
	a := &APIServer{dir: dir, script: filepath.Join(filepath.Dir(file), "..", "k8s", "apiserver")}
	cmd := exec.Command(filepath.Join(a.script, "start.sh"), dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// start.sh has stopped what it started and kept the logs.
		return nil, fmt.Errorf("start.sh: %w\n%s", err, stderr.String())
	}
	a.URL = strings.TrimSpace(string(out))
	a.CA = filepath.Join(dir, "pki", "ca.crt")
	a.SigningKey = filepath.Join(dir, "pki", "sa.key")
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		a.Stop()
		return nil, err
	}
	for line := range strings.Lines(string(env)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "SA_ISSUER="); ok {
			a.Issuer = v
		}
	}
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil || a.Issuer == "" {
		a.Stop()
		return nil, errors.Join(err, errors.New("start.sh wrote no SA_ISSUER"))
	}
	a.token = strings.TrimSpace(string(token))
	pem, err := os.ReadFile(a.CA)
	if err != nil {
		a.Stop()
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	a.client = &http.Client{Timeout: 10 * time.Second, Transport: t}
	return a, nil
}

// Stop ends etcd and the apiserver and removes what start.sh wrote; the
// logs stay in the directory.
func (a *APIServer) Stop() {
	cmd := exec.Command(filepath.Join(a.script, "stop.sh"), a.dir, "--keep-logs")
	_ = cmd.Run()
}

// Log returns the tail of the apiserver's log, for failure messages.
func (a *APIServer) Log() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, "apiserver.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Get fetches path with no credential, as a relying party does, and
// returns the status and body.
func (a *APIServer) Get(path string) (int, []byte, error) {
	return a.do(http.MethodGet, path, "", nil)
}

// Create POSTs obj (JSON) to path as the admin; it must answer 201.
func (a *APIServer) Create(path string, obj any) ([]byte, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	code, resp, err := a.do(http.MethodPost, path, a.token, body)
	if err != nil {
		return nil, err
	}
	if code != http.StatusCreated {
		return nil, fmt.Errorf("POST %s: %d %s", path, code, resp)
	}
	return resp, nil
}

// ServiceAccountToken mints a token for the ServiceAccount ns/name with
// the TokenRequest API, as the kubelet does for a projected volume.
func (a *APIServer) ServiceAccountToken(ns, name, audience string, seconds int) (string, error) {
	resp, err := a.Create(fmt.Sprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, name), map[string]any{
		"apiVersion": "authentication.k8s.io/v1",
		"kind":       "TokenRequest",
		"spec":       map[string]any{"audiences": []string{audience}, "expirationSeconds": seconds},
	})
	if err != nil {
		return "", err
	}
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(resp, &tr); err != nil || tr.Status.Token == "" {
		return "", fmt.Errorf("TokenRequest for %s/%s: no token in %s: %v", ns, name, resp, err)
	}
	return tr.Status.Token, nil
}

func (a *APIServer) do(method, path, token string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, a.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
