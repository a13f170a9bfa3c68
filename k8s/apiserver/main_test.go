package apiserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// restConfig reaches the apiserver that TestMain started; nil when
// KUBE_APISERVER is unset, in which case the tests skip.
var restConfig *rest.Config

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// runMain starts etcd and kube-apiserver through start.sh, so a person and
// the test get the same cluster, and stops them whatever the tests did.
func runMain(m *testing.M) int {
	bin := os.Getenv("KUBE_APISERVER")
	if bin == "" {
		return m.Run()
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	// run.sh passes KUBE_HARNESS_DIR so that its own trap can still stop the
	// daemons if this process is killed (e.g. by go test -timeout) before
	// its deferred stop runs.
	dir := os.Getenv("KUBE_HARNESS_DIR")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kube-apiserver-harness-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	start := exec.Command("./start.sh", dir)
	start.Env = append(os.Environ(), "KUBE_APISERVER="+bin)
	start.Stderr = os.Stderr
	out, err := start.Output()
	if err != nil {
		// start.sh has already stopped what it started and kept the logs.
		fmt.Fprintf(os.Stderr, "start.sh %s: %v (logs kept in %s)\n", dir, err, dir)
		return 1
	}
	code := 1
	defer func() {
		args := []string{dir}
		if code != 0 {
			args = append(args, "--keep-logs")
			fmt.Fprintf(os.Stderr, "tests failed: etcd and apiserver logs kept in %s\n", dir)
		}
		stop := exec.Command("./stop.sh", args...)
		stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
		if err := stop.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "stop.sh: %v\n", err)
		}
	}()

	restConfig, err = clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "kube-apiserver at %s\n", strings.TrimSpace(string(out)))
	// A burst of creates must not be throttled client-side into timeouts.
	restConfig.QPS, restConfig.Burst = 100, 200
	code = m.Run()
	return code
}
