package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// caddySample is the Caddy process's size at one moment. Goroutines
// serving an HTTP connection, either side, are counted apart: their
// number follows the connections open, which after a reload includes the
// old config's idle upstream connections until their idle timeout.
type caddySample struct {
	at         time.Duration
	rssKB      int64
	goroutines int
	connGs     int // of goroutines, those of HTTP connections
	err        error
}

func (c caddySample) String() string {
	if c.err != nil {
		return "unavailable (" + c.err.Error() + ")"
	}
	return fmt.Sprintf("RSS %.1f MB, %d goroutines (%d of them HTTP connections')", float64(c.rssKB)/1024, c.goroutines, c.connGs)
}

// others are the goroutines not tied to a connection.
func (c caddySample) others() int { return c.goroutines - c.connGs }

func (s *soak) sampleCaddy() caddySample {
	c := caddySample{at: s.elapsed()}
	p := s.stack.Process("caddy")
	if p == nil {
		c.err = fmt.Errorf("caddy is not running")
		return c
	}
	if c.rssKB, c.err = rssKB(p.Pid); c.err != nil {
		return c
	}
	c.goroutines, c.connGs, c.err = s.goroutines()
	return c
}

// rssKB reads the resident set size from /proc/<pid>/status (Linux).
func rssKB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// goroutines reads Caddy's goroutine profile on the admin endpoint: the
// total from its first line ("goroutine profile: total N"), and how many
// of them are in stacks ("N @ ..." then "#" frames) of an HTTP
// connection, client or server side.
func (s *soak) goroutines() (total, conns int, err error) {
	resp, err := s.tokenClient.Get(s.stack.AdminURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("goroutine profile: empty: %v", sc.Err())
	}
	n, ok := strings.CutPrefix(sc.Text(), "goroutine profile: total ")
	if !ok {
		return 0, 0, fmt.Errorf("goroutine profile: unexpected first line %q", sc.Text())
	}
	if total, err = strconv.Atoi(n); err != nil {
		return 0, 0, fmt.Errorf("goroutine profile: %w", err)
	}
	count, counted := 0, false
	for sc.Scan() {
		line := sc.Text()
		if c, _, ok := strings.Cut(line, " @ "); ok {
			count, _ = strconv.Atoi(c)
			counted = false
			continue
		}
		if !counted && strings.HasPrefix(line, "#") &&
			(strings.Contains(line, "net/http.(*persistConn)") || strings.Contains(line, "net/http.(*conn).serve")) {
			conns += count
			counted = true
		}
	}
	return total, conns, sc.Err()
}

// fedMetrics returns fed_oidc's decision and key-fetch counters.
func (s *soak) fedMetrics() []string {
	var out []string
	for _, prefix := range []string{"caddy_fed_oidc_decisions_total{", "caddy_fed_oidc_jwks_fetches_total{", "caddy_fed_oidc_token_cache_total{"} {
		lines, err := s.stack.Metrics(prefix)
		if err != nil {
			return append(out, "metrics: "+err.Error())
		}
		out = append(out, lines...)
	}
	return out
}

// printProgress prints one line: where the schedule is, and the counts.
func (s *soak) printProgress(c caddySample) {
	rot, _, _ := s.gw.state()
	fmt.Printf("[%6s] phase: %s\n         requests %d, ok %d, refused %d, 503 before the first key fetch %d, credential violations %d, errors %d;"+
		" config gen %d (clients saw %d), credential rotations %d, key switches %d, outages %d; caddy %v\n",
		c.at.Round(time.Second), s.phaseName(), s.st.requests.Load(), s.st.ok.Load(), s.st.refused.total(), s.st.window.Load(),
		s.gw.violations.total(), s.st.errors.total(), s.gen.Load(), s.st.maxGen.Load(), rot, s.st.switches.Load(),
		s.st.outages.Load(), c)
}

// result is the run's verdict and what it is based on.
type result struct {
	startSample, endSample caddySample
	metrics                []string
	interrupted            bool
	loaded                 time.Duration // how long the load ran
	pass                   bool
	reasons                []string
}

// Bounds on growth between the start and end samples, both taken under
// load with no reload in the last grace period: a goroutine left behind
// by each reload would exceed the slack in a few minutes.
const (
	goroutineSlack = 5
	rssFactor      = 2
)

// judge fills in the verdict. PASS needs no refused valid request, no
// credential violation, no withdrawn key trusted, no error, every kind of
// disturbance to have happened at least once, and no leak.
func (s *soak) judge(r *result) {
	failIf := func(cond bool, format string, args ...any) {
		if cond {
			r.reasons = append(r.reasons, fmt.Sprintf(format, args...))
		}
	}
	rot, _, pending := s.gw.state()
	failIf(r.interrupted, "interrupted after %v", r.loaded.Round(time.Second))
	failIf(s.st.ok.Load() == 0, "no request succeeded")
	failIf(s.st.refused.total() > 0, "%d valid request(s) refused", s.st.refused.total())
	failIf(s.gw.violations.total() > 0, "%d gateway credential violation(s)", s.gw.violations.total())
	failIf(s.st.acceptedWithdrawn.total() > 0, "a token of a withdrawn key was accepted")
	failIf(s.st.errors.total() > 0, "%d error(s)", s.st.errors.total())
	failIf(s.st.stalls.Load() > 0, "workers were without a valid token %d time(s)", s.st.stalls.Load())
	failIf(s.gen.Load() < 2, "no config reload happened")
	failIf(rot == 0 || rot == 1 && pending, "no credential rotation was seen through")
	failIf(s.st.withdrawals.Load() == 0, "no key rotation was seen through to the withdrawal")
	failIf(s.st.outages.Load() == 0, "no issuer outage happened")
	failIf(r.endSample.err != nil || r.startSample.err != nil, "caddy not sampled: start %v, end %v", r.startSample, r.endSample)
	if r.endSample.err == nil && r.startSample.err == nil {
		failIf(r.endSample.others() > r.startSample.others()+goroutineSlack,
			"goroutines not serving a connection grew from %d to %d", r.startSample.others(), r.endSample.others())
		failIf(r.endSample.rssKB > rssFactor*r.startSample.rssKB, "RSS grew more than %dx", rssFactor)
	}
	r.pass = len(r.reasons) == 0
}

func (s *soak) printReport(w io.Writer, r result) {
	rot, slowest, _ := s.gw.state()
	fmt.Fprintf(w, "\n=== soak report: %v of load, %d workers, target %.0f req/s, %.0f%% fresh tokens, token TTL %v ===\n",
		s.o.duration, s.o.workers, s.o.rate, 100*s.o.fresh, s.o.tokenTTL)
	fmt.Fprintf(w, "requests:                   %d (%d ok)\n", s.st.requests.Load(), s.st.ok.Load())
	fmt.Fprintf(w, "refused valid requests:     %s\n", s.st.refused.String())
	fmt.Fprintf(w, "503 before the first key fetch (documented, issuer never answered yet): %d\n", s.st.window.Load())
	fmt.Fprintf(w, "401 for a withdrawn key's token: %d (by design none: old-key tokens expire before withdrawal)\n", s.st.withdrawnKey.Load())
	fmt.Fprintf(w, "credential violations:      %s (%d refusals by the stand-in gateway)\n", s.gw.violations.String(), s.st.gatewayRefused.Load())
	fmt.Fprintf(w, "withdrawn key's token accepted: %s; probes answered as expected: %d\n", s.st.acceptedWithdrawn.String(), s.st.probes.Load())
	fmt.Fprintf(w, "errors:                     %s\n", s.st.errors.String())
	fmt.Fprintf(w, "config reloads:             %d (generation %d loaded, clients saw up to %d)\n", s.gen.Load()-1, s.gen.Load(), s.st.maxGen.Load())
	fmt.Fprintf(w, "credential rotations:       %d (slowest pickup %v, reload_interval %v)\n", rot, slowest.Round(time.Millisecond), s.o.credentialLoad)
	fmt.Fprintf(w, "key rotations:              %d switched, %d old keys withdrawn and probed; issuer outages: %d of %v\n",
		s.st.switches.Load(), s.st.withdrawals.Load(), s.st.outages.Load(), s.o.outage)
	fmt.Fprintf(w, "tokens:                     %d by `caddy fed-oidc token`, %d fresh by POST, %d failed fetches (during outages), %d stalls\n",
		s.st.heldTokens.Load(), s.st.freshTokens.Load(), s.st.tokenFailures.Load(), s.st.stalls.Load())
	if e := s.lastTokenErr.Load(); e != nil {
		fmt.Fprintf(w, "                            last failed fetch: t=%v [%s] %s\n", e.at.Round(time.Second), e.phase, firstLine(e.err))
	}
	fmt.Fprintf(w, "caddy at start:             t=%v, %v\n", r.startSample.at.Round(time.Second), r.startSample)
	fmt.Fprintf(w, "caddy at end:               t=%v, %v\n", r.endSample.at.Round(time.Second), r.endSample)
	fmt.Fprintf(w, "throughput:                 %.0f req/s over %v\n", float64(s.st.requests.Load())/r.loaded.Seconds(), r.loaded.Round(time.Second))
	for _, m := range r.metrics {
		fmt.Fprintln(w, "  "+m)
	}
	for _, t := range []*tally{&s.st.refused, &s.gw.violations, &s.st.acceptedWithdrawn, &s.st.errors} {
		for _, line := range t.firstSamples() {
			fmt.Fprintln(w, "  sample: "+line)
		}
	}
	if r.pass {
		fmt.Fprintln(w, "PASS: no valid request refused, no credential violation, no error, no leak, through every disturbance")
		return
	}
	fmt.Fprintln(w, "FAIL: "+strings.Join(r.reasons, "; "))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
