package main

import (
	"bufio"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets, for a reused token: they are reported, not enforced, since a
// load test on a shared 2-core machine measures, it does not assert.
// fed-fresh pays for a signature verification by design and the deploy
// for reading its body; they are measured, not judged.
const (
	targetReusedRatio = 0.90
	targetAddedP99    = time.Millisecond
)

// baselines pairs each fed_oidc scenario with the plain reverse_proxy one
// it is measured against: the same request to the same upstream.
var baselines = map[string]string{
	scenarioFedReused: scenarioPlain,
	scenarioFedIAM:    scenarioPlain,
	scenarioFedFresh:  scenarioPlain,
	scenarioFedIAMPut: scenarioPlainPut,
}

// targeted are the scenarios judged against the targets: throughput
// ratio for both, added p99 for the first.
var targeted = map[string]struct{ p99 bool }{scenarioFedReused: {p99: true}, scenarioFedIAM: {}}

// machine describes where the numbers came from.
type machine struct {
	NumCPU       int    `json:"nproc"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
	CPUModel     string `json:"cpu_model"`
	Kernel       string `json:"kernel"`
	LoadAvg      string `json:"loadavg_at_start"`
	GoVersion    string `json:"go_version"`
	CaddyGo      string `json:"caddy_go_version"`
	OS           string `json:"os_arch"`
	StartedAtUTC string `json:"started_at_utc"`
}

func describeMachine(caddyBin string) machine {
	m := machine{
		NumCPU:       runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		CPUModel:     cpuModel(),
		Kernel:       firstLine("/proc/sys/kernel/osrelease"),
		LoadAvg:      firstLine("/proc/loadavg"),
		GoVersion:    runtime.Version(),
		OS:           runtime.GOOS + "/" + runtime.GOARCH,
		StartedAtUTC: time.Now().UTC().Format(time.RFC3339),
	}
	m.CaddyGo = "unknown"
	if bi, err := buildinfo.ReadFile(caddyBin); err == nil {
		m.CaddyGo = bi.GoVersion
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

func printSetup(w io.Writer, m machine, o options) {
	fmt.Fprintf(w, "machine: nproc=%d GOMAXPROCS=%d cpu=%q kernel=%s %s loadavg=%q\n",
		m.NumCPU, m.GOMAXPROCS, m.CPUModel, m.Kernel, m.OS, m.LoadAvg)
	fmt.Fprintf(w, "go: loadcompare %s, caddy built with %s\n", m.GoVersion, m.CaddyGo)
	fmt.Fprintf(w, "flags: -caddy %s -workers %d -duration %v -warmup %v -rounds %d -fresh-pool %d -scenarios %s -iam-audit-log %s",
		o.CaddyBin, o.Workers, o.Duration, o.Warmup, o.Rounds, o.FreshPool, strings.Join(o.Scenarios, ","), o.AuditLog)
	if o.ProfileDir != "" {
		fmt.Fprintf(w, " -profile %s -profile-scenario %s -profile-seconds %d", o.ProfileDir, strings.Join(o.ProfileScenarios, ","), o.ProfileSeconds)
	}
	if o.JSONOut != "" {
		fmt.Fprintf(w, " -json %s", o.JSONOut)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "load: closed loop, GET %s (PUT %s with %d bytes for *-put), keep-alive, load generator and Caddy share the machine\n",
		requestPath, deployPath, len(deployBody))
}

// Columns: CPU µs per request in Caddy and in this load generator, and
// the busy share of the machine spent elsewhere (the noise indicator).
const (
	tableHeader = "%-6s %-11s %9s %8s %7s %7s %7s %7s %6s %6s %6s %6s  %s\n"
	tableRow    = "%-6s %-11s %9d %8.0f %7.3f %7.3f %7.3f %7s %6s %6s %6s %6d  %s\n"
)

func printRunHeader(w io.Writer) {
	fmt.Fprintf(w, tableHeader, "round", "scenario", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms",
		"caddy", "gen", "other", "errors", "note")
	fmt.Fprintf(w, tableHeader, "", "", "", "", "", "", "", "", "us/req", "us/req", "cpu%", "", "")
}

// printRun prints one run as it finishes, so a long run shows progress.
func printRun(w io.Writer, r runResult) {
	caddy, gen, other := "-", "-", "-"
	if r.CPU != nil {
		caddy, gen, other = us(r.CPU.CaddyPerReq), us(r.CPU.LoadgenPerReq), fmt.Sprintf("%.1f", r.CPU.OtherPct)
	}
	fmt.Fprintf(w, tableRow, fmt.Sprint(r.Round), r.Scenario, r.Requests, r.Throughput,
		ms(r.P50), ms(r.P90), ms(r.P99), fmt.Sprintf("%.3f", ms(r.Max)), caddy, gen, other, r.Errors, runNote(r))
	for _, e := range r.ErrSamples {
		fmt.Fprintf(w, "         error: %s\n", e)
	}
}

func runNote(r runResult) string {
	var notes []string
	if r.PoolSize > 0 {
		n := fmt.Sprintf("fresh tokens used %d of %d", r.TokensUsed, r.PoolSize)
		if r.Exhausted {
			n += fmt.Sprintf(", pool ran out: measured %.1fs", r.Elapsed.Seconds())
		}
		notes = append(notes, n)
	}
	if r.Profiled {
		notes = append(notes, "CPU-profiled (slower)")
	}
	return strings.Join(notes, "; ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

// scenarioMedian is a scenario's median over the rounds; requests,
// errors and tokens are totals.
type scenarioMedian struct {
	Scenario   string        `json:"scenario"`
	Rounds     int           `json:"rounds"`
	Requests   int           `json:"requests_total"`
	Throughput float64       `json:"req_per_s"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Errors     int           `json:"errors_total"`
	TokensUsed int           `json:"fresh_tokens_used_total,omitempty"`
	CPU        *cpuUsage     `json:"cpu,omitempty"` // medians of the runs that have it
}

// comparison is a fed scenario against its plain baseline.
type comparison struct {
	Scenario        string  `json:"scenario"`
	Baseline        string  `json:"baseline"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	PairedRatio     float64 `json:"paired_throughput_ratio"` // see pairedRatio
	AddedP99Ms      float64 `json:"added_p99_ms"`
	RatioTarget     string  `json:"ratio_target,omitempty"`
	RatioPass       *bool   `json:"ratio_pass,omitempty"`
	P99Target       string  `json:"p99_target,omitempty"`
	P99Pass         *bool   `json:"p99_pass,omitempty"`
	// AddedCaddyCPUUs is the extra Caddy CPU time per request, in µs: the
	// handler's cost, much less sensitive to machine noise than req/s.
	AddedCaddyCPUUs *float64 `json:"added_caddy_cpu_us_per_req,omitempty"`
	CaddyCPURatio   *float64 `json:"caddy_cpu_ratio,omitempty"`
}

type summary struct {
	Machine     machine          `json:"machine"`
	Options     options          `json:"options"`
	Runs        []runResult      `json:"runs"`
	Medians     []scenarioMedian `json:"medians"`
	Comparisons []comparison     `json:"comparisons"`
	TotalErrors int              `json:"total_errors"`
}

func summarize(o options, m machine, runs []runResult) summary {
	s := summary{Machine: m, Options: o, Runs: runs}
	byName := map[string]scenarioMedian{}
	for _, name := range o.Scenarios {
		med := medianOf(name, runs)
		byName[name] = med
		s.Medians = append(s.Medians, med)
		s.TotalErrors += med.Errors
	}
	for _, name := range o.Scenarios {
		plain, ok := byName[baselines[name]]
		if ok && plain.Throughput > 0 {
			c := compare(plain, byName[name])
			c.PairedRatio = pairedRatio(runs, plain.Scenario, name)
			s.Comparisons = append(s.Comparisons, c)
		}
	}
	return s
}

// pairedRatio is the median over the rounds of fed's throughput over
// plain's in the same round. Runs of one round are back to back, so a
// burst of other work on the machine tends to hit both or neither; the
// ratio of the medians can pair a disturbed run with a quiet one.
func pairedRatio(runs []runResult, plain, fed string) float64 {
	byRound := map[int]float64{}
	for _, r := range runs {
		if r.Scenario == plain && r.Throughput > 0 {
			byRound[r.Round] = r.Throughput
		}
	}
	var ratios []float64
	for _, r := range runs {
		if p, ok := byRound[r.Round]; ok && r.Scenario == fed {
			ratios = append(ratios, r.Throughput/p)
		}
	}
	return median(ratios)
}

func medianOf(name string, runs []runResult) scenarioMedian {
	med := scenarioMedian{Scenario: name}
	var thr, other []float64
	var p50, p90, p99, caddyCPU, genCPU []time.Duration
	for _, r := range runs {
		if r.Scenario != name {
			continue
		}
		med.Rounds++
		med.Requests += r.Requests
		med.Errors += r.Errors
		med.TokensUsed += r.TokensUsed
		thr = append(thr, r.Throughput)
		p50, p90, p99 = append(p50, r.P50), append(p90, r.P90), append(p99, r.P99)
		if r.CPU != nil {
			caddyCPU, genCPU = append(caddyCPU, r.CPU.CaddyPerReq), append(genCPU, r.CPU.LoadgenPerReq)
			other = append(other, r.CPU.OtherPct)
		}
	}
	med.Throughput = median(thr)
	med.P50, med.P90, med.P99 = median(p50), median(p90), median(p99)
	if len(caddyCPU) > 0 {
		med.CPU = &cpuUsage{CaddyPerReq: median(caddyCPU), LoadgenPerReq: median(genCPU), OtherPct: median(other)}
	}
	return med
}

// median of a small sample; the mean of the middle two for an even count.
func median[T float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	mid := len(v) / 2
	if len(v)%2 == 1 {
		return v[mid]
	}
	return (v[mid-1] + v[mid]) / 2
}

func compare(plain, fed scenarioMedian) comparison {
	c := comparison{
		Scenario:        fed.Scenario,
		Baseline:        plain.Scenario,
		ThroughputRatio: fed.Throughput / plain.Throughput,
		AddedP99Ms:      ms(fed.P99 - plain.P99),
	}
	if plain.CPU != nil && fed.CPU != nil && plain.CPU.CaddyPerReq > 0 {
		added := float64(fed.CPU.CaddyPerReq-plain.CPU.CaddyPerReq) / float64(time.Microsecond)
		ratio := float64(fed.CPU.CaddyPerReq) / float64(plain.CPU.CaddyPerReq)
		c.AddedCaddyCPUUs, c.CaddyCPURatio = &added, &ratio
	}
	if t, ok := targeted[fed.Scenario]; ok {
		pass := c.ThroughputRatio >= targetReusedRatio
		c.RatioTarget, c.RatioPass = fmt.Sprintf(">= %.2fx", targetReusedRatio), &pass
		if t.p99 {
			p99 := fed.P99-plain.P99 < targetAddedP99
			c.P99Target, c.P99Pass = fmt.Sprintf("< %v", targetAddedP99), &p99
		}
	}
	return c
}

func printReport(w io.Writer, s summary) {
	fmt.Fprintf(w, "\nmedian over %d round(s) (requests, errors: totals)\n", s.Options.Rounds)
	printRunHeader(w)
	for _, m := range s.Medians {
		note := ""
		if m.TokensUsed > 0 {
			note = fmt.Sprintf("%d distinct fresh tokens", m.TokensUsed)
		}
		caddy, gen, other := "-", "-", "-"
		if m.CPU != nil {
			caddy, gen, other = us(m.CPU.CaddyPerReq), us(m.CPU.LoadgenPerReq), fmt.Sprintf("%.1f", m.CPU.OtherPct)
		}
		fmt.Fprintf(w, tableRow, "median", m.Scenario, m.Requests, m.Throughput, ms(m.P50), ms(m.P90), ms(m.P99), "",
			caddy, gen, other, m.Errors, note)
	}
	if len(s.Comparisons) == 0 {
		fmt.Fprintln(w, "\n(no comparison: no plain scenario ran)")
		return
	}
	fmt.Fprintln(w, "\nagainst plain reverse_proxy (targets are measurements, not assertions):")
	for _, c := range s.Comparisons {
		ratio := fmt.Sprintf("  %-11s throughput %.3fx %s (per round: %.3fx)", c.Scenario, c.ThroughputRatio, c.Baseline, c.PairedRatio)
		if c.RatioPass != nil {
			ratio += fmt.Sprintf("   target %s: %s", c.RatioTarget, verdict(*c.RatioPass))
		}
		fmt.Fprintln(w, ratio)
		p99 := fmt.Sprintf("  %-11s p99 added  %+.3f ms", c.Scenario, c.AddedP99Ms)
		if c.P99Pass != nil {
			p99 += fmt.Sprintf("      target %s: %s", c.P99Target, verdict(*c.P99Pass))
		}
		fmt.Fprintln(w, p99)
		if c.AddedCaddyCPUUs != nil {
			fmt.Fprintf(w, "  %-11s Caddy CPU  %+.1f us/req (%.3fx %s)\n", c.Scenario, *c.AddedCaddyCPUUs, *c.CaddyCPURatio, c.Baseline)
		}
	}
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}

func writeJSON(path string, s summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
