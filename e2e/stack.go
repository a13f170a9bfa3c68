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
	CIIdPURL    string // a second issuer, of GitHub-Actions-shaped tokens (StartCIIdP)
	GatewayURL  string // the OpenFaaS gateway itself (in-cluster)
	gatewayMeta string // the gateway's own metrics listener (host:port)
	ProviderURL string
	SecureURL   string // fed_oidc over HTTPS (Caddy's internal CA), /system/ only
	InvokeURL   string // fed_oidc with allow_invoke, plain HTTP
	IAMURL      string // fed_oidc with IAM (IAMCaddyfile), plain HTTP; the CI tokens' audience
	AdminURL    string // Caddy's admin endpoint, with /metrics

	GatewayPassword string
	// GatewaySecrets holds the gateway's basic-auth-user and
	// basic-auth-password, laid out as the kubelet mounts a secret, so a
	// rotation is the kubelet's symlink swap (kubesecret.Write).
	GatewaySecrets string

	// IdPEnv is added to the IdP's environment, e.g. IDP_JWKS_FILE or
	// IDP_TOKEN_TTL (see idp/server.mjs).
	IdPEnv []string

	// Namespaces are the provider's; the first is its default. Default:
	// openfaas-fn only.
	Namespaces []string

	faasCLITokens map[string]string // by site, StoreFaaSCLIToken

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

// Clients of the CI issuer (StartCIIdP): GitHub Actions runs of
// CIRepository's deploy workflow, on two branches.
const (
	CIRepository    = "acme/app"
	CIMainClient    = "ci-acme-app-main"    // sub repo:acme/app:ref:refs/heads/main
	CIFeatureClient = "ci-acme-app-feature" // sub repo:acme/app:ref:refs/heads/feature
)

// ciRefs is the ref each CI client's tokens carry.
var ciRefs = map[string]string{CIMainClient: "refs/heads/main", CIFeatureClient: "refs/heads/feature"}

// New lays out the scratch directory and picks ports; nothing runs yet.
func New(bin, dir string) (*Stack, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	s := &Stack{Bin: bin, Dir: dir}
	ports, err := FreePorts(9)
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
	s.CIIdPURL = fmt.Sprintf("http://127.0.0.1:%d", ports[7])
	s.IAMURL = fmt.Sprintf("http://127.0.0.1:%d", ports[8])

	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	s.GatewayPassword = hex.EncodeToString(pw)
	s.GatewaySecrets = filepath.Join(dir, "gateway-secrets")
	// Kubernetes secrets usually end in a newline; both sides trim it.
	if err := kubesecret.Write(s.GatewaySecrets, map[string]string{"basic-auth-user": "admin\n", "basic-auth-password": s.GatewayPassword + "\n"}); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{KeycloakClient: "fed-gw-tenant1-secret", OtherClient: "fed-gw-tenant2-secret", Auth0Client: "provider-app-secret",
		CIMainClient: CIMainClient + "-secret", CIFeatureClient: CIFeatureClient + "-secret"} {
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

// writeFaaSCLIConfig lists our sites with no stored credential but the
// tokens StoreFaaSCLIToken saved. faas-cli looks a gateway up there on
// every call and, finding no file or no entry, prints "Failed to lookup
// auth config"; an entry without credentials makes it send only what
// --token or -H gives.
func (s *Stack) writeFaaSCLIConfig() error {
	if err := os.MkdirAll(s.FaaSCLIConfig(), 0o700); err != nil {
		return err
	}
	cfg := "# No stored credentials but oauth2 tokens: --token and -H are what faas-cli sends.\nauths:\n"
	for _, gw := range []string{s.SecureURL, s.InvokeURL, s.IAMURL} {
		cfg += "- gateway: " + gw + "\n"
		if tok := s.faasCLITokens[gw]; tok != "" {
			cfg += "  auth: oauth2\n  token: " + tok + "\n"
		}
	}
	return os.WriteFile(filepath.Join(s.FaaSCLIConfig(), "config.yml"), []byte(cfg), 0o600)
}

// StoreFaaSCLIToken saves token in faas-cli's config for one of our
// sites, as `faas-cli pro auth` and `caddy fed-oidc login` store one (auth
// type oauth2): faas-cli then sends it with no --token, and faas-cli
// invoke, which has no --token flag, exchanges it for a function token
// when the gateway asks. An empty token removes it.
func (s *Stack) StoreFaaSCLIToken(gateway, token string) error {
	if gateway != s.SecureURL && gateway != s.InvokeURL && gateway != s.IAMURL {
		return fmt.Errorf("%s is not one of the stack's sites", gateway)
	}
	if s.faasCLITokens == nil {
		s.faasCLITokens = map[string]string{}
	}
	s.faasCLITokens[gateway] = token
	return s.writeFaaSCLIConfig()
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
	return s.globalOptions() + fmt.Sprintf(`
https://127.0.0.1:%[1]s {
	bind 127.0.0.1
	tls internal
	fed_oidc {
		issuer %[2]s
		audience %[3]s %[4]s
		gateway_basic_auth %[5]s/basic-auth-user %[5]s/basic-auth-password
	}
	reverse_proxy %[6]s {
		transport fed_oidc
	}
}

http://127.0.0.1:%[7]s {
	bind 127.0.0.1
	fed_oidc {
		issuer %[2]s
		audience %[3]s %[4]s
		allow_invoke
		gateway_basic_auth %[5]s/basic-auth-user %[5]s/basic-auth-password
	}
	reverse_proxy %[6]s {
		transport fed_oidc
	}
}
`, port(s.SecureURL), s.IdPURL, KeycloakClient, Audience,
		s.GatewaySecrets, s.GatewayURL, port(s.InvokeURL))
}

// globalOptions is the global block of our Caddyfiles: the admin endpoint
// at AdminURL, and Caddy's state in the scratch directory.
func (s *Stack) globalOptions() string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%s
	skip_install_trust
	auto_https disable_redirects
	metrics
	storage file_system %s
}
`, port(s.AdminURL), filepath.Join(s.Dir, "caddy-data"))
}

// IAMCaddyfile is a config with one site, IAMSite.
func (s *Stack) IAMCaddyfile(options string) string {
	return s.globalOptions() + s.IAMSite(options)
}

// IAMSite is the site at IAMURL: fed_oidc with the given options
// (issuer, audience, iam, iam_mode, audit_webhook, ...; one per line) in
// front of the gateway, with the gateway's credential. Caddyfile() +
// IAMSite(...) serves all three sites.
func (s *Stack) IAMSite(options string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%[1]s {
	bind 127.0.0.1
	fed_oidc {
%[2]s
		gateway_basic_auth %[3]s/basic-auth-user %[3]s/basic-auth-password
	}
	reverse_proxy %[4]s {
		transport fed_oidc
	}
}
`, port(s.IAMURL), indent(options, "\t\t"), s.GatewaySecrets, s.GatewayURL)
}

// indent puts prefix before each non-empty line of text, and a tab more
// for each block ({ ... }) the line is in.
func indent(text, prefix string) string {
	lines := strings.Split(strings.Trim(text, "\n"), "\n")
	depth := 0
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "}") {
			depth = max(depth-1, 0)
		}
		lines[i] = prefix + strings.Repeat("\t", depth) + l
		if strings.HasSuffix(l, "{") {
			depth++
		}
	}
	return strings.Join(lines, "\n")
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
	return s.startIdP(ctx, "idp", s.IdPURL, s.IdPEnv...)
}

// StartCIIdP starts a second oidc-provider issuer at CIIdPURL that mints
// GitHub-Actions-shaped tokens (the ci shape of idp/server.mjs) for
// CIMainClient and CIFeatureClient, with audience IAMURL. It is started
// as "ci-idp".
func (s *Stack) StartCIIdP(ctx context.Context) error {
	cfg, err := json.Marshal(s.ciIdPConfig())
	if err != nil {
		return err
	}
	return s.startIdP(ctx, "ci-idp", s.CIIdPURL, "IDP_CONFIG_JSON="+string(cfg))
}

// ciIdPConfig is the CI issuer's IDP_CONFIG_JSON.
func (s *Stack) ciIdPConfig() map[string]any {
	var clients []map[string]any
	for _, c := range []string{CIMainClient, CIFeatureClient} {
		clients = append(clients, map[string]any{
			"client_id": c, "client_secret": c + "-secret", "shape": "ci",
			"audiences": []string{s.IAMURL},
			"ci":        map[string]string{"repository": CIRepository, "ref": ciRefs[c]},
		})
	}
	return map[string]any{"clients": clients}
}

func (s *Stack) startIdP(ctx context.Context, name, url string, env ...string) error {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = filepath.Join(filepath.Dir(file), "idp")
	cmd.Env = append(append(os.Environ(), env...), "IDP_PORT="+port(url), "IDP_HOST=127.0.0.1")
	if err := s.start(cmd, name); err != nil {
		return err
	}
	return waitUntil(ctx, name, func() bool {
		return httpStatus(url+"/.well-known/openid-configuration") == 200
	})
}

// StartGateway starts the in-memory provider and the real gateway in
// front of it, with basic auth on.
func (s *Stack) StartGateway(ctx context.Context) error {
	args := []string{"-addr", strings.TrimPrefix(s.ProviderURL, "http://")}
	if len(s.Namespaces) > 0 {
		args = append(args, "-namespaces", strings.Join(s.Namespaces, ","))
	}
	prov := exec.Command(filepath.Join(s.Bin, "fakeprovider"), args...)
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
	return s.tokenFrom(s.IdPURL, client, extra...)
}

// CIToken gets a token of the CI issuer for a CI client, for IAMURL, as
// a GitHub Actions job asks for its OIDC token with an audience.
func (s *Stack) CIToken(client string) (string, error) {
	return s.tokenFrom(s.CIIdPURL, client, "--audience", s.IAMURL)
}

func (s *Stack) tokenFrom(issuer, client string, extra ...string) (string, error) {
	args := append([]string{"fed-oidc", "token", "--issuer", issuer, "--client-id", client,
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

// FaaSCLI runs the real faas-cli against gateway with --token (no
// stored credential; see Run). args is the command and its flags.
func (s *Stack) FaaSCLI(gateway, token string, args ...string) (string, error) {
	return s.Run("faas-cli", "", append(args, "--gateway", gateway, "--token", token)...)
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
	b := s.FullLog(name)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return b
}

// FullLog returns a component's whole log.
func (s *Stack) FullLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name+".log"))
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
