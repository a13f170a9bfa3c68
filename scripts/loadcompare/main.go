// Command loadcompare measures what fed_oidc costs on top of a plain
// reverse_proxy, with the real Caddy binary of this repository.
//
// In one run it starts a stand-in OIDC issuer, then one Caddy process with
// four loopback sites (an upstream answering like the gateway's
// /system/functions, a plain reverse_proxy to it, fed_oidc in front of the
// same reverse_proxy, and fed_oidc with IAM in front of it), and drives
// closed-loop keep-alive HTTP load at each in turn, GET
// /system/functions?namespace=staging unless said otherwise:
//
//   - plain:       reverse_proxy only, same Authorization header
//   - fed-reused:  fed_oidc, one token for every request (token cache hits)
//   - fed-iam:     fed_oidc with IAM (internal/iamfixture: the seed's
//     staging-rw and 100 team roles and policies), one token granted the
//     list, each decision's audit line logged at INFO to stderr (-iam-audit-log)
//   - fed-fresh:   fed_oidc, a never-seen token per request (full verification)
//   - plain-put:   reverse_proxy only, PUT /system/functions with a 4 KiB
//     deploy body naming namespace staging
//   - fed-iam-put: the same PUT through fed_oidc with IAM, which reads the
//     body to decide Function:Update on staging:fn, then forwards it
//
// fed-reused, fed-iam and fed-fresh are compared with plain, fed-iam-put
// with plain-put.
//
// The scenarios are interleaved and repeated (-rounds) so that background
// noise hits all of them alike; the report shows each round and the
// median, and each comparison also as the median of its per-round ratios. Targets are printed as PASS/MISS but never fail the run: only
// request errors or a setup failure make the exit status non-zero.
//
// All traffic stays on 127.0.0.1. Usage, normally through scripts/load.sh:
//
//	go run ./scripts/loadcompare -caddy bin/caddy [-workers 32] [-duration 10s] [-rounds 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenario names, in the order they run within a round.
const (
	scenarioPlain     = "plain"
	scenarioFedReused = "fed-reused"
	scenarioFedIAM    = "fed-iam"
	scenarioFedFresh  = "fed-fresh"
	scenarioPlainPut  = "plain-put"
	scenarioFedIAMPut = "fed-iam-put"
)

// Where the audit lines go (-iam-audit-log).
const (
	auditStderr = "stderr"
	auditFile   = "file"
	auditOff    = "off"
)

var allScenarios = []string{scenarioPlain, scenarioFedReused, scenarioFedIAM, scenarioFedFresh, scenarioPlainPut, scenarioFedIAMPut}

// maxTokenWindow bounds warm-up plus duration: the pool for a fed-fresh
// run is minted just before it with exp = now+5m, and every token must
// still be valid when the run ends.
const maxTokenWindow = 4 * time.Minute

type options struct {
	CaddyBin         string        `json:"caddy"`
	Workers          int           `json:"workers"`
	Duration         time.Duration `json:"duration_ns"`
	Warmup           time.Duration `json:"warmup_ns"`
	Rounds           int           `json:"rounds"`
	FreshPool        int           `json:"fresh_pool"`
	Scenarios        []string      `json:"scenarios"`
	AuditLog         string        `json:"iam_audit_log"`
	JSONOut          string        `json:"json_out,omitempty"`
	ProfileDir       string        `json:"profile_dir,omitempty"`
	ProfileScenarios []string      `json:"profile_scenarios,omitempty"`
	ProfileSeconds   int           `json:"profile_seconds,omitempty"`
}

func parseFlags(args []string) (options, error) {
	var o options
	var scenarios, profiled string
	fs := flag.NewFlagSet("loadcompare", flag.ContinueOnError)
	fs.StringVar(&o.CaddyBin, "caddy", "", "path to the Caddy binary built from ./cmd/caddy (required)")
	fs.IntVar(&o.Workers, "workers", 32, "concurrent closed-loop workers (one keep-alive connection each)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per scenario run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured warm-up before each scenario run")
	fs.IntVar(&o.Rounds, "rounds", 2, "times the scenario sequence is repeated; the report gives the median")
	fs.IntVar(&o.FreshPool, "fresh-pool", 200000, "most distinct tokens minted for one fed-fresh run (fewer when fed-reused's rate shows fewer will do); a run that uses them all stops early and says so")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios to run")
	fs.StringVar(&o.AuditLog, "iam-audit-log", auditStderr, "where the IAM site's audit line per decision (logger http.handlers.fed_oidc.audit) goes, at INFO, Caddy's default level: stderr (Caddy's default output), file (a log of its own, as the README's example has it), or off (as a log config excluding that logger has it)")
	fs.StringVar(&o.JSONOut, "json", "", "also write the results to this JSON file")
	fs.StringVar(&o.ProfileDir, "profile", "", "enable Caddy's admin API on loopback and save a CPU profile of one scenario run (round 1) into this directory")
	fs.StringVar(&profiled, "profile-scenario", scenarioFedReused, "comma-separated scenarios to profile with -profile")
	fs.IntVar(&o.ProfileSeconds, "profile-seconds", 5, "CPU profile length with -profile (at most -duration)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.Scenarios = strings.Split(scenarios, ",")
	if o.ProfileDir != "" {
		o.ProfileScenarios = strings.Split(profiled, ",")
	}
	return o, o.validate()
}

func (o *options) validate() error {
	switch {
	case o.CaddyBin == "":
		return errors.New("-caddy is required")
	case o.Workers < 1 || o.Workers > 4096:
		return errors.New("-workers must be 1..4096")
	case o.Duration < 100*time.Millisecond:
		return errors.New("-duration must be at least 100ms")
	case o.Warmup < 0:
		return errors.New("-warmup must not be negative")
	case o.Warmup+o.Duration > maxTokenWindow:
		return fmt.Errorf("-warmup + -duration must be at most %v (token lifetime)", maxTokenWindow)
	case o.Rounds < 1 || o.Rounds > 100:
		return errors.New("-rounds must be 1..100")
	case o.FreshPool < o.Workers || o.FreshPool > 1000000:
		// Each token is about 500 bytes in memory; a million is plenty.
		return errors.New("-fresh-pool must be between -workers and 1000000")
	case !slices.Contains([]string{auditStderr, auditFile, auditOff}, o.AuditLog):
		return errors.New("-iam-audit-log must be stderr, file or off")
	case o.ProfileSeconds < 1:
		return errors.New("-profile-seconds must be at least 1")
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(allScenarios, s) {
			return fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	for _, s := range o.ProfileScenarios {
		if !slices.Contains(o.Scenarios, s) {
			return fmt.Errorf("-profile-scenario %q is not among -scenarios", s)
		}
	}
	// Keep the configured order canonical so rounds are comparable.
	o.Scenarios = slices.DeleteFunc(slices.Clone(allScenarios), func(s string) bool { return !slices.Contains(o.Scenarios, s) })
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadcompare:", err)
		os.Exit(2)
	}
	// Ctrl-C cancels the load and still runs the deferred cleanup in run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o)
	stop()
	os.Exit(code)
}

// run does the whole measurement; every resource it starts is released
// by its defers before it returns, on success, failure or interrupt.
func run(ctx context.Context, o options) int {
	m := describeMachine(o.CaddyBin)
	printSetup(os.Stdout, m, o)

	iss, err := startIssuer()
	if err != nil {
		return fail("starting the issuer", err)
	}
	defer iss.close()

	dir, err := os.MkdirTemp("", "loadcompare-")
	if err != nil {
		return fail("creating a temp dir", err)
	}
	defer os.RemoveAll(dir)

	c, err := startCaddy(ctx, o.CaddyBin, dir, iss.url, o.ProfileDir != "", o.AuditLog)
	if err != nil {
		return fail("starting Caddy", err)
	}
	defer c.stop()

	client := newLoadClient(o.Workers)
	defer client.CloseIdleConnections()

	reused, err := iss.mint("reused")
	if err != nil {
		return fail("minting the reused token", err)
	}
	if err := c.waitReady(ctx, reused); err != nil {
		c.printLogTail(os.Stderr)
		return fail("waiting for Caddy", err)
	}
	fmt.Println("caddy ready: upstream", c.upstreamURL(), " plain", c.plainURL(), " fed", c.fedURL(), " iam", c.iamURL())

	runs, err := runRounds(ctx, o, client, c, iss, reused)
	if err != nil {
		c.printLogTail(os.Stderr)
		return fail("running load", err)
	}
	s := summarize(o, m, runs)
	printReport(os.Stdout, s)
	if o.JSONOut != "" {
		if err := writeJSON(o.JSONOut, s); err != nil {
			return fail("writing "+o.JSONOut, err)
		}
		fmt.Println("results written to", o.JSONOut)
	}
	if s.TotalErrors > 0 {
		fmt.Fprintf(os.Stderr, "loadcompare: %d request(s) failed\n", s.TotalErrors)
		return 1
	}
	return 0
}

func fail(what string, err error) int {
	fmt.Fprintf(os.Stderr, "loadcompare: %s: %v\n", what, err)
	return 1
}
