package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/e2e"
	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

// functionsBody is what the upstream answers: a small /system/functions
// list, so response sizes resemble the real gateway's.
const functionsBody = `[{"name":"nodeinfo","image":"ghcr.io/openfaas/nodeinfo:latest","namespace":"openfaas-fn",` +
	`"replicas":1,"availableReplicas":1,"invocationCount":0,"labels":{"faas_function":"nodeinfo"}}]`

const (
	// requestPath is the list every GET scenario asks for; the IAM
	// site's roles grant it (Function:List on staging:*).
	requestPath = "/system/functions?namespace=staging"
	// deployPath takes the PUT scenarios' deploy, iamfixture.DeployBody
	// (Function:Update on staging:fn).
	deployPath    = "/system/functions"
	readyTimeout  = 30 * time.Second
	stopTimeout   = 5 * time.Second
	logTailLines  = 40
	gatewayUser   = "admin"
	gatewayPass   = "load-test-password"
	caddyLogFile  = "caddy.log"
	auditLogFile  = "audit.log"
	caddyfileName = "Caddyfile"
	iamDirName    = "iam"
)

// caddyProc is the Caddy child process and the ports of its sites.
type caddyProc struct {
	cmd                       *exec.Cmd
	done                      chan struct{} // closed when the process has exited
	waitErr                   error
	logPath                   string
	upstream, plain, fed, iam int
	admin                     int // 0 when the admin API is off
}

func (c *caddyProc) upstreamURL() string { return loopbackURL(c.upstream, requestPath) }
func (c *caddyProc) plainURL() string    { return loopbackURL(c.plain, requestPath) }
func (c *caddyProc) fedURL() string      { return loopbackURL(c.fed, requestPath) }
func (c *caddyProc) iamURL() string      { return loopbackURL(c.iam, requestPath) }

func loopbackURL(port int, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + path
}

// startCaddy writes the Caddyfile and credential files into dir and
// starts `caddy run` on it. With withAdmin the admin API listens on a
// loopback port so a CPU profile can be taken. auditLog says where the
// IAM site's audit lines go, at INFO, Caddy's default level: stderr (the
// Caddy log file of dir), a file of its own in dir, or nowhere (off).
func startCaddy(ctx context.Context, bin, dir, issuerURL string, withAdmin bool, auditLog string) (*caddyProc, error) {
	ports, err := e2e.FreePorts(5)
	if err != nil {
		return nil, err
	}
	c := &caddyProc{upstream: ports[0], plain: ports[1], fed: ports[2], iam: ports[3], done: make(chan struct{}),
		logPath: filepath.Join(dir, caddyLogFile)}
	if withAdmin {
		c.admin = ports[4]
	}
	cfgPath, err := writeCaddyConfig(dir, issuerURL, c, auditLog)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	c.cmd = exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	// Keep Caddy's storage and autosave in the temp dir, not in $HOME.
	c.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = childProcAttr()
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	if ctx.Err() != nil {
		c.stop()
		return nil, ctx.Err()
	}
	return c, nil
}

func writeCaddyConfig(dir, issuerURL string, c *caddyProc, auditLog string) (string, error) {
	userFile, passFile := filepath.Join(dir, "basic-auth-user"), filepath.Join(dir, "basic-auth-password")
	for name, val := range map[string]string{userFile: gatewayUser, passFile: gatewayPass} {
		if err := os.WriteFile(name, []byte(val+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	iamDir := filepath.Join(dir, iamDirName)
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(iamDir, "iam.yaml"), iamfixture.Objects(issuerURL, tokenSubject), 0o600); err != nil {
		return "", err
	}
	admin := "admin off"
	if c.admin != 0 {
		admin = "admin 127.0.0.1:" + strconv.Itoa(c.admin)
	}
	audit := ""
	switch auditLog {
	case auditStderr:
		audit = fmt.Sprintf(auditLogTemplate, "stderr")
	case auditFile:
		audit = fmt.Sprintf(auditLogTemplate, "file "+filepath.Join(dir, auditLogFile))
	}
	cfg := fmt.Sprintf(caddyfileTemplate, admin, audit, c.upstream, functionsBody, c.plain, c.upstream,
		c.fed, issuerURL, tokenAudience, userFile, passFile, c.upstream,
		c.iam, issuerURL, tokenAudience, iamDir, userFile, passFile, c.upstream)
	path := filepath.Join(dir, caddyfileName)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// caddyfileTemplate: four sites in one process, each bound to loopback.
// No access logs and ERROR-level logging, so logging costs nothing and
// is the same for every site, but for the IAM site's audit lines, which
// auditLogTemplate logs as Caddy's default logging would. The plain, fed
// and iam sites proxy to the same upstream, so the only difference
// between them is fed_oidc, without IAM and with it.
const caddyfileTemplate = `{
	%s
	auto_https off
	persist_config off
	grace_period 2s
	default_bind 127.0.0.1
	log {
		level ERROR
	}
%s}

# upstream: stands in for the OpenFaaS gateway
:%d {
	bind 127.0.0.1
	header Content-Type application/json
	respond ` + "`%s`" + ` 200
}

# plain: reverse_proxy only
:%d {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:%d
}

# fed: fed_oidc, then the same reverse_proxy
:%d {
	bind 127.0.0.1
	fed_oidc {
		issuer %s
		audience %s
		gateway_basic_auth %s %s
	}
	reverse_proxy 127.0.0.1:%d {
		transport fed_oidc
	}
}

# iam: fed_oidc with IAM (internal/iamfixture: the seed's staging-rw and
# 100 team roles and policies), then the same reverse_proxy
:%d {
	bind 127.0.0.1
	fed_oidc {
		issuer %s
		audience %s
		iam %s
		gateway_basic_auth %s %s
	}
	reverse_proxy 127.0.0.1:%d {
		transport fed_oidc
	}
}
`

// auditLogTemplate logs one line per IAM decision at INFO, Caddy's
// default level, in Caddy's default format for a non-terminal (JSON), to
// the output given.
const auditLogTemplate = `	log audit {
		output %s
		format json
		level INFO
		include http.handlers.fed_oidc.audit
	}
`

// waitReady polls each site until it answers 200. The fed site answers
// 503 until fed_oidc has fetched the issuer's keys, so it is polled with
// a valid token. Bounded by readyTimeout; fails at once if Caddy exits.
func (c *caddyProc) waitReady(ctx context.Context, authz string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Transport: newTransport(1), Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	for _, url := range []string{c.upstreamURL(), c.plainURL(), c.fedURL(), c.iamURL()} {
		if err := c.pollUntilOK(ctx, client, url, authz); err != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
	}
	return nil
}

func (c *caddyProc) pollUntilOK(ctx context.Context, client *http.Client, url, authz string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		status, err := getStatus(ctx, client, url, authz)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err == nil {
			last = fmt.Errorf("status %d", status)
		} else if ctx.Err() == nil {
			last = err
		}
		select {
		case <-c.done:
			return fmt.Errorf("caddy exited (%v); last: %w", c.waitErr, last)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v; last: %w", readyTimeout, last)
		case <-tick.C:
		}
	}
}

func getStatus(ctx context.Context, client *http.Client, url, authz string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", authz)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// stop asks Caddy to shut down gracefully and kills it if it has not
// exited within stopTimeout. Safe to call more than once.
func (c *caddyProc) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// printLogTail shows the end of Caddy's log, for diagnosing a failure
// before the temp dir holding it is removed.
func (c *caddyProc) printLogTail(w io.Writer) {
	f, err := os.Open(c.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > logTailLines {
			lines = lines[1:]
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "--- last lines of the Caddy log ---\n%s\n---\n", strings.Join(lines, "\n"))
	}
}
