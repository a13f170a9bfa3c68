// Package e2e runs the federated gateway end to end on 127.0.0.1: the
// real oidc-provider IdP (idp/), the real OpenFaaS gateway and faas-cli
// (tools/), an in-memory OpenFaaS provider, and our Caddy; for
// TestKubernetesIssuer also the real kube-apiserver of k8s/apiserver
// (kube.go). The end-to-end tests and the demo (demo/) share it.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/kubesecret"
)

// Stack is one run of every component, each on its own loopback port.
type Stack struct {
	Bin string // faas-cli, gateway, fakeprovider and caddy
	Dir string // scratch: secrets, Caddyfile, logs, faas-cli HOME

	IdPURL      string // the issuer
	GatewayURL  string // the OpenFaaS gateway itself (in-cluster)
	gatewayMeta string // the gateway's own metrics listener (host:port)
	ProviderURL string
	SecureURL   string // fed_oidc over HTTPS (Caddy's internal CA), /system/ only
	InvokeURL   string // fed_oidc with allow_invoke, plain HTTP
	AdminURL    string // Caddy's admin endpoint, with /metrics

	GatewayPassword string
	// GatewaySecrets holds the gateway's basic-auth-user and
	// basic-auth-password, laid out as the kubelet mounts a secret, so a
	// rotation is the kubelet's symlink swap (kubesecret.Write).
	GatewaySecrets string

	// IdPEnv is added to the IdP's environment, e.g. IDP_JWKS_FILE or
	// IDP_TOKEN_TTL (see idp/server.mjs).
	IdPEnv []string

	mu    sync.Mutex
	procs []proc
}

// proc is one started component, by the name its log is kept under.
type proc struct {
	name string
	cmd  *exec.Cmd
}

// Clients of the IdP (e2e/idp/server.mjs defaults).
const (
	KeycloakClient = "fed-gw-tenant1" // token aud = the client id
	OtherClient    = "fed-gw-tenant2" // a client for another tenant
	Auth0Client    = "provider-app"   // token aud = the requested audience
	Audience       = "fed-gw.tenant1" // the Auth0-style API identifier
)

// New lays out the scratch directory and picks ports; nothing runs yet.
func New(bin, dir string) (*Stack, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	s := &Stack{Bin: bin, Dir: dir}
	ports, err := FreePorts(7)
	if err != nil {
		return nil, err
	}
	s.IdPURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.gatewayMeta = fmt.Sprintf("127.0.0.1:%d", ports[2])
	s.ProviderURL = fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	s.SecureURL = fmt.Sprintf("https://127.0.0.1:%d", ports[4])
	s.InvokeURL = fmt.Sprintf("http://127.0.0.1:%d", ports[5])
	s.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", ports[6])

	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s.GatewayPassword = hex.EncodeToString(pw)
	s.GatewaySecrets = filepath.Join(dir, "gateway-secrets")
	// Kubernetes secrets usually end in a newline; both sides trim it.
	if err := kubesecret.Write(s.GatewaySecrets, map[string]string{"basic-auth-user": "admin\n", "basic-auth-password": s.GatewayPassword + "\n"}); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{KeycloakClient: "fed-gw-tenant1-secret", OtherClient: "fed-gw-tenant2-secret", Auth0Client: "provider-app-secret"} {
		if err := os.WriteFile(s.SecretFile(name), []byte(v+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return nil, err
	}
	if err := s.writeFaaSCLIConfig(); err != nil {
		return nil, err
	}
	return s, nil
}

// FaaSCLIConfig is faas-cli's config directory for this run
// (OPENFAAS_CONFIG). HOME alone is not enough: with CI=true faas-cli
// uses ./.openfaas in the current directory instead.
func (s *Stack) FaaSCLIConfig() string { return filepath.Join(s.Dir, "faas-cli") }

// writeFaaSCLIConfig lists our two sites with no stored credential.
// faas-cli looks a gateway up there on every call and, finding no file
// or no entry, prints "Failed to lookup auth config"; an entry without
// credentials makes it send only what --token or -H gives.
func (s *Stack) writeFaaSCLIConfig() error {
	if err := os.MkdirAll(s.FaaSCLIConfig(), 0o700); err != nil {
		return err
	}
	cfg := fmt.Sprintf("# No stored credentials: --token and -H are what faas-cli sends.\nauths:\n- gateway: %s\n- gateway: %s\n",
		s.SecureURL, s.InvokeURL)
	return os.WriteFile(filepath.Join(s.FaaSCLIConfig(), "config.yml"), []byte(cfg), 0o600)
}

// CACert is the root certificate of Caddy's internal CA, which issued the
// certificate of SecureURL; it exists once Caddy has started.
func (s *Stack) CACert() string {
	return filepath.Join(s.Dir, "caddy-data", "pki", "authorities", "local", "root.crt")
}

// SecretFile is the file holding a client's secret.
func (s *Stack) SecretFile(client string) string {
	return filepath.Join(s.Dir, client+".secret")
}

func port(u string) string { return u[strings.LastIndexByte(u, ':')+1:] }

// Caddyfile is the config our Caddy runs: two sites in front of the one
// gateway, as a provider would run two customers' gateways.
func (s *Stack) Caddyfile() string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%[1]s
	skip_install_trust
	auto_https disable_redirects
	metrics
	storage file_system %[2]s
}

https://127.0.0.1:%[3]s {
	bind 127.0.0.1
	tls internal
	fed_oidc {
		issuer %[4]s
		audience %[5]s %[6]s
		gateway_basic_auth %[7]s/basic-auth-user %[7]s/basic-auth-password
	}
	reverse_proxy %[8]s {
		transport fed_oidc
	}
}

http://127.0.0.1:%[9]s {
	bind 127.0.0.1
	fed_oidc {
		issuer %[4]s
		audience %[5]s %[6]s
		allow_invoke
		gateway_basic_auth %[7]s/basic-auth-user %[7]s/basic-auth-password
	}
	reverse_proxy %[8]s {
		transport fed_oidc
	}
}
`, port(s.AdminURL), filepath.Join(s.Dir, "caddy-data"), port(s.SecureURL), s.IdPURL, KeycloakClient, Audience,
		s.GatewaySecrets, s.GatewayURL, port(s.InvokeURL))
}

// StartCaddy starts our Caddy. It does not wait for the issuer: Caddy
// must come up while the issuer is unreachable.
func (s *Stack) StartCaddy(ctx context.Context) error {
	return s.StartCaddyWith(ctx, s.Caddyfile())
}

// StartCaddyWith starts our Caddy on the given Caddyfile, which must put
// the admin endpoint at AdminURL.
func (s *Stack) StartCaddyWith(ctx context.Context, caddyfile string) error {
	cf, err := s.writeCaddyfile(caddyfile)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.Bin, "caddy"), "run", "--config", cf, "--adapter", "caddyfile")
	// Caddy's autosave and data stay in the scratch directory, even when the
	// user's environment sets XDG_CONFIG_HOME.
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(s.Dir, "home"),
		"XDG_CONFIG_HOME="+filepath.Join(s.Dir, "caddy-config"), "XDG_DATA_HOME="+filepath.Join(s.Dir, "caddy-data"))
	if err := s.start(cmd, "caddy"); err != nil {
		return err
	}
	return waitUntil(ctx, "caddy admin", func() bool { return httpStatus(s.AdminURL+"/config/") == 200 })
}

// ReloadCaddy gives the running Caddy a new Caddyfile with `caddy
// reload`, which returns once the new config is running, and returns the
// command's output.
func (s *Stack) ReloadCaddy(caddyfile string) (string, error) {
	cf, err := s.writeCaddyfile(caddyfile)
	if err != nil {
		return "", err
	}
	return s.Run("caddy", "", "reload", "--config", cf, "--adapter", "caddyfile",
		"--address", strings.TrimPrefix(s.AdminURL, "http://"))
}

func (s *Stack) writeCaddyfile(caddyfile string) (string, error) {
	cf := filepath.Join(s.Dir, "Caddyfile")
	return cf, os.WriteFile(cf, []byte(caddyfile), 0o600)
}

// StartIdP starts the oidc-provider issuer and waits for its ready line.
func (s *Stack) StartIdP(ctx context.Context) error {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = filepath.Join(filepath.Dir(file), "idp")
	cmd.Env = append(append(os.Environ(), s.IdPEnv...), "IDP_PORT="+port(s.IdPURL), "IDP_HOST=127.0.0.1")
	if err := s.start(cmd, "idp"); err != nil {
		return err
	}
	return waitUntil(ctx, "the IdP", func() bool {
		return httpStatus(s.IdPURL+"/.well-known/openid-configuration") == 200
	})
}

// StartGateway starts the in-memory provider and the real gateway in
// front of it, with basic auth on.
func (s *Stack) StartGateway(ctx context.Context) error {
	prov := exec.Command(filepath.Join(s.Bin, "fakeprovider"), "-addr", strings.TrimPrefix(s.ProviderURL, "http://"))
	if err := s.start(prov, "provider"); err != nil {
		return err
	}
	if err := waitUntil(ctx, "the provider", func() bool { return httpStatus(s.ProviderURL+"/healthz") == 200 }); err != nil {
		return err
	}
	gwDir := filepath.Join(s.Dir, "gateway")
	if err := os.MkdirAll(gwDir, 0o700); err != nil {
		return err
	}
	gw := exec.Command(filepath.Join(s.Bin, "gateway"))
	gw.Dir = gwDir
	gw.Env = append(os.Environ(),
		"basic_auth=true",
		"secret_mount_path="+s.GatewaySecrets,
		"functions_provider_url="+s.ProviderURL+"/",
		"faas_prometheus_host=127.0.0.1",
		"faas_prometheus_port="+port(s.ProviderURL),
		"E2E_GATEWAY_ADDR=127.0.0.1:"+port(s.GatewayURL),
		"E2E_GATEWAY_METRICS_ADDR="+s.gatewayMeta,
	)
	if err := s.start(gw, "gateway"); err != nil {
		return err
	}
	return waitUntil(ctx, "the gateway", func() bool { return httpStatus(s.GatewayURL+"/healthz") == 200 })
}

// Token runs `caddy fed-oidc token` for a client, with extra flags.
func (s *Stack) Token(client string, extra ...string) (string, error) {
	args := append([]string{"fed-oidc", "token", "--issuer", s.IdPURL, "--client-id", client,
		"--client-secret-file", s.SecretFile(client)}, extra...)
	out, err := s.Run("caddy", "", args...)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// Run runs a binary from Bin with faas-cli's config kept free of stored
// credentials (stored basic auth would silently win over --token), and
// returns its combined output.
func (s *Stack) Run(name, stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.Bin, name), args...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Join(s.Dir, "home"), "OPENFAAS_CONFIG="+s.FaaSCLIConfig())
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (s *Stack) start(cmd *exec.Cmd, name string) error {
	// Appended to, so a component started again keeps its earlier log.
	logFile, err := os.OpenFile(filepath.Join(s.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, proc{name, cmd})
	s.mu.Unlock()
	return nil
}

// Process returns the running process started under name, or nil.
func (s *Stack) Process(name string) *os.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p.cmd.Process
		}
	}
	return nil
}

// StopProcess ends the process started under name, as Stop does, so it
// can be started again (an issuer outage).
func (s *Stack) StopProcess(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = slices.DeleteFunc(s.procs, func(p proc) bool {
		if p.name == name {
			stop(p.cmd)
			return true
		}
		return false
	})
}

// Log returns the tail of a component's log, for failure messages.
func (s *Stack) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop ends every process, newest first.
func (s *Stack) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		stop(s.procs[i].cmd)
	}
	s.procs = nil
}

// stop sends SIGTERM and kills the process if it has not exited in 5 s.
func stop(p *exec.Cmd) {
	_ = p.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.Process.Kill()
		<-done
	}
}

// HTTPClient returns a client that trusts Caddy's internal CA (CACert).
func (s *Stack) HTTPClient() (*http.Client, error) {
	pool, err := s.CARoots()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 10 * time.Second, Transport: t}, nil
}

// CARoots is Caddy's internal CA, which issued the certificate of
// SecureURL; it exists once Caddy has started.
func (s *Stack) CARoots() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.CACert())
	if err != nil {
		return nil, fmt.Errorf("reading Caddy's internal CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in Caddy's internal CA file")
	}
	return pool, nil
}

var plainClient = &http.Client{Timeout: 10 * time.Second}

func httpStatus(url string) int {
	resp, err := plainClient.Get(url)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func waitUntil(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// FreePorts reserves n distinct loopback ports by listening on them all
// at once, then releases them for the servers to bind. Another process
// could take one in between; that server would then fail to start and
// say so.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Metric returns the value of one sample line of Caddy's /metrics whose
// text starts with prefix, or an error if there is none.
func (s *Stack) Metric(prefix string) (string, error) {
	lines, err := s.Metrics(prefix)
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", errors.New("no metric " + prefix)
	}
	return lines[0][strings.LastIndexByte(lines[0], ' ')+1:], nil
}

// Metrics returns every sample line of Caddy's /metrics that starts with
// prefix.
func (s *Stack) Metrics(prefix string) ([]string, error) {
	resp, err := plainClient.Get(s.AdminURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	return lines, sc.Err()
}

// ProviderRequest is a request the in-memory provider received from the
// gateway.
type ProviderRequest struct {
	Path          string `json:"path"`
	Authorization string `json:"authorization"`
}

// ProviderRequests returns what the provider received since the last
// call, and clears its record.
func (s *Stack) ProviderRequests() ([]ProviderRequest, error) {
	resp, err := plainClient.Get(s.ProviderURL + "/_fakeprovider/requests")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var reqs []ProviderRequest
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		return nil, fmt.Errorf("decoding the provider's record: %w", err)
	}
	del, _ := http.NewRequest(http.MethodDelete, s.ProviderURL+"/_fakeprovider/requests", nil)
	resp, err = plainClient.Do(del)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return reqs, nil
}
