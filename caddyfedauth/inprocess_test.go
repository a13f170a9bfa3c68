package caddyfedauth

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// The in-process Caddy of the caddytest tests: on loopback, on ports the
// kernel picked free, with all its state (autosave, certificates, PKI) in
// a temporary directory, so the tests run beside a developer's own Caddy
// and leave nothing behind.
var inproc struct {
	adminPort, httpPort, httpsPort int
	stateDir                       string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "caddyfedauth-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Caddy finds its config and data directories through these; nothing
	// may reach the user's ~/.config/caddy or ~/.local/share/caddy.
	for _, v := range []string{"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"} {
		os.Setenv(v, filepath.Join(dir, strings.ToLower(v)))
	}
	// Caddy computed these from the real home at init, before TestMain.
	inproc.stateDir = filepath.Join(dir, "storage")
	caddy.ConfigAutosavePath = filepath.Join(dir, "autosave.json")
	caddy.DefaultStorage = &certmagic.FileStorage{Path: inproc.stateDir}
	ports, err := freeLoopbackPorts(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	inproc.adminPort, inproc.httpPort, inproc.httpsPort = ports[0], ports[1], ports[2]
	return m.Run()
}

// freeLoopbackPorts reserves n distinct ports on 127.0.0.1 and releases
// them for the caller to bind.
func freeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newInProcessCaddy loads sites into the in-process Caddy, behind global
// options that keep it on loopback and its state in the test's directory.
// In sites, {http} stands for the HTTP port and {https} for the HTTPS one.
func newInProcessCaddy(t *testing.T, sites string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: inproc.adminPort})
	tester.InitServer(inProcessConfig(sites), "caddyfile")
	return tester
}

// reloadInProcessCaddy replaces the running config the way `caddy
// reload` and config watchers do: a POST to the admin endpoint's /load.
func reloadInProcessCaddy(t *testing.T, sites string) {
	t.Helper()
	resp, err := http.Post(adminURL("/load"), "text/caddyfile", strings.NewReader(inProcessConfig(sites)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %s: %s", resp.Status, body)
	}
}

func inProcessConfig(sites string) string {
	// A grace period lets requests in flight finish on the old config.
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port %d
	default_bind 127.0.0.1
	persist_config off
	storage file_system %s
	grace_period 5s
	metrics
}
`, inproc.adminPort, inproc.httpPort, inproc.httpsPort, inproc.stateDir) + expandPorts(sites)
}

func expandPorts(s string) string {
	return strings.NewReplacer("{http}", fmt.Sprint(inproc.httpPort), "{https}", fmt.Sprint(inproc.httpsPort)).Replace(s)
}

// adminURL is the in-process Caddy's admin endpoint.
func adminURL(path string) string {
	return fmt.Sprintf("http://localhost:%d%s", inproc.adminPort, path)
}
