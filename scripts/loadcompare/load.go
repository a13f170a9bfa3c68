package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/iamfixture"
)

const (
	requestTimeout = 10 * time.Second
	// expectedMaxRate sizes the per-worker latency slices up front so the
	// load loop does not grow them; 2 cores cannot serve more than this.
	expectedMaxRate = 50000
	// hardMaxRate bounds the request count of a run whatever happens, for
	// example if every request failed instantly.
	hardMaxRate = 1000000
	// freshMargin: fed-fresh does strictly more work per request than
	// fed-reused, so fed-reused's request count over the same time, plus
	// this margin, is enough fresh tokens.
	freshMargin   = 1.1
	maxErrSamples = 5
)

// newTransport returns keep-alive HTTP/1.1 transport for loopback only:
// no proxy from the environment, and a dialer that refuses any other host.
func newTransport(workers int) *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to dial %s: loopback only", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        0, // no global cap; the per-host cap below applies
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// newLoadClient is the one client all scenarios share. Every site is its
// own host:port, so each scenario gets its own pool of warm connections.
func newLoadClient(workers int) *http.Client {
	return &http.Client{Transport: newTransport(workers), Timeout: requestTimeout}
}

// tokenSource yields the Authorization header value of each request.
type tokenSource interface {
	next() (string, bool)
}

// fixedToken sends the same header every time.
type fixedToken string

func (t fixedToken) next() (string, bool) { return string(t), true }

// tokenPool hands out each pre-minted token once, to any worker.
type tokenPool struct {
	tokens []string
	used   atomic.Int64
}

func (p *tokenPool) next() (string, bool) {
	i := p.used.Add(1) - 1
	if i >= int64(len(p.tokens)) {
		return "", false
	}
	return p.tokens[i], true
}

func (p *tokenPool) count() int { return int(min(p.used.Load(), int64(len(p.tokens)))) }

// runResult is one scenario run: its measured latencies and its counts.
type runResult struct {
	Scenario   string        `json:"scenario"`
	Round      int           `json:"round"`
	Requests   int           `json:"requests"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Throughput float64       `json:"req_per_s"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	Errors     int           `json:"errors"`
	ErrSamples []string      `json:"error_samples,omitempty"`
	TokensUsed int           `json:"fresh_tokens_used,omitempty"`
	PoolSize   int           `json:"fresh_pool_size,omitempty"`
	Exhausted  bool          `json:"fresh_pool_exhausted,omitempty"`
	Profiled   bool          `json:"profiled,omitempty"`
	CPU        *cpuUsage     `json:"cpu,omitempty"`
}

// workerResult is what one worker measured; only that worker writes it.
type workerResult struct {
	latencies  []time.Duration
	lastDone   time.Time
	errors     int
	errSamples []string
	exhausted  bool
}

// window is one run's timeline: requests started before measureFrom are
// warm-up; no request starts at or after end.
type window struct {
	measureFrom, end time.Time
}

// runRounds runs the scenario sequence o.Rounds times, back to back.
func runRounds(ctx context.Context, o options, client *http.Client, c *caddyProc, iss *issuer, reused string) ([]runResult, error) {
	var runs []runResult
	printRunHeader(os.Stdout)
	for round := 1; round <= o.Rounds; round++ {
		if round > 1 {
			// A round can outlast what is left of the token's lifetime.
			var err error
			if reused, err = iss.mint("reused-" + strconv.Itoa(round)); err != nil {
				return nil, fmt.Errorf("minting the reused token: %w", err)
			}
		}
		var reusedReqs int
		for _, name := range o.Scenarios {
			sc, pool, err := prepareScenario(ctx, o, c, iss, name, round, reused, reusedReqs)
			if err != nil {
				return nil, err
			}
			profile := o.ProfileDir != "" && round == 1 && slices.Contains(o.ProfileScenarios, name)
			r, err := runScenario(ctx, o, client, sc, c, profile)
			if err != nil {
				return nil, err
			}
			r.Round = round
			if pool != nil {
				r.TokensUsed, r.PoolSize = pool.count(), len(pool.tokens)
			}
			if name == scenarioFedReused {
				reusedReqs = r.totalIssued(o)
			}
			printRun(os.Stdout, r)
			runs = append(runs, r)
			// Start each run with a clean heap so one run's garbage does
			// not cost the next one GC time.
			runtime.GC()
		}
	}
	return runs, nil
}

// totalIssued estimates the requests sent in warm-up and measurement
// together, from the measured rate.
func (r runResult) totalIssued(o options) int {
	return int(r.Throughput * (o.Warmup + o.Duration).Seconds())
}

// deployBody is what the PUT scenarios send: 4 KiB, naming staging.
var deployBody = iamfixture.DeployBody()

type scenario struct {
	name   string
	method string
	url    string
	body   []byte // sent with every request; nil for none
	tokens tokenSource
}

// prepareScenario picks the site, request and tokens for a run. For
// fed-fresh it mints the run's pool first, outside any timed window.
func prepareScenario(ctx context.Context, o options, c *caddyProc, iss *issuer, name string, round int, reused string, reusedReqs int) (scenario, *tokenPool, error) {
	get := func(url string) (scenario, *tokenPool, error) {
		return scenario{name, http.MethodGet, url, nil, fixedToken(reused)}, nil, nil
	}
	put := func(port int) (scenario, *tokenPool, error) {
		return scenario{name, http.MethodPut, loopbackURL(port, deployPath), deployBody, fixedToken(reused)}, nil, nil
	}
	switch name {
	case scenarioPlain:
		return get(c.plainURL())
	case scenarioFedReused:
		return get(c.fedURL())
	case scenarioFedIAM:
		return get(c.iamURL())
	case scenarioPlainPut:
		return put(c.plain)
	case scenarioFedIAMPut:
		return put(c.iam)
	}
	n := freshPoolSize(o, reusedReqs)
	fmt.Printf("  minting %d fresh tokens for round %d (untimed)...", n, round)
	start := time.Now()
	tokens, err := iss.mintPool(ctx, "r"+strconv.Itoa(round)+"-", n)
	if err != nil {
		fmt.Println()
		return scenario{}, nil, fmt.Errorf("minting: %w", err)
	}
	fmt.Printf(" %.1fs\n", time.Since(start).Seconds())
	pool := &tokenPool{tokens: tokens}
	return scenario{name, http.MethodGet, c.fedURL(), nil, pool}, pool, nil
}

// freshPoolSize is -fresh-pool, cut down to what fed-reused suggests the
// run can use, since minting is slow (about a millisecond of CPU per RSA
// signature).
func freshPoolSize(o options, reusedReqs int) int {
	if reusedReqs <= 0 {
		return o.FreshPool
	}
	need := int(math.Ceil(float64(reusedReqs)*freshMargin)) + o.Workers
	return min(o.FreshPool, need)
}

// runScenario drives closed-loop load at one site for warm-up plus
// duration and returns the measured part.
func runScenario(ctx context.Context, o options, client *http.Client, sc scenario, c *caddyProc, profile bool) (runResult, error) {
	start := time.Now()
	w := window{measureFrom: start.Add(o.Warmup), end: start.Add(o.Warmup + o.Duration)}
	perWorkerCap := int((o.Warmup+o.Duration).Seconds()*expectedMaxRate)/o.Workers + 1
	maxPerWorker := int((o.Warmup+o.Duration).Seconds()*hardMaxRate)/o.Workers + 1

	var prof *profileJob
	if profile {
		prof = startProfile(ctx, o, c, sc.name, w.measureFrom)
	}
	results := make([]workerResult, o.Workers)
	var wg sync.WaitGroup
	for i := range results {
		results[i].latencies = make([]time.Duration, 0, perWorkerCap)
		wg.Go(func() { worker(ctx, client, sc, w, maxPerWorker, &results[i]) })
	}
	// CPU times are sampled over the measured part only.
	select {
	case <-time.After(time.Until(w.measureFrom)):
	case <-ctx.Done():
	}
	before := sampleCPU(c.cmd.Process.Pid)
	wg.Wait()
	after := sampleCPU(c.cmd.Process.Pid)
	if err := ctx.Err(); err != nil {
		return runResult{}, err
	}
	r := mergeResults(sc.name, w, results)
	if u, ok := cpuBetween(before, after, r.Requests); ok {
		r.CPU = &u
	}
	if prof != nil {
		if err := prof.wait(); err != nil {
			return runResult{}, fmt.Errorf("CPU profile: %w", err)
		}
		r.Profiled = true
	}
	return r, nil
}

// worker sends one request at a time until the window ends, the token
// pool runs dry, or maxRequests is reached.
func worker(ctx context.Context, client *http.Client, sc scenario, w window, maxRequests int, res *workerResult) {
	for range maxRequests {
		start := time.Now()
		if !start.Before(w.end) || ctx.Err() != nil {
			return
		}
		authz, ok := sc.tokens.next()
		if !ok {
			res.exhausted = true
			return
		}
		err := doRequest(ctx, client, sc, authz)
		done := time.Now()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			res.errors++
			if len(res.errSamples) < maxErrSamples {
				res.errSamples = append(res.errSamples, err.Error())
			}
			continue
		}
		if start.Before(w.measureFrom) {
			continue
		}
		res.latencies = append(res.latencies, done.Sub(start))
		res.lastDone = done
	}
}

// doRequest sends the scenario's request and reads the whole answer, so
// the connection goes back to the pool; anything but 200 is an error.
func doRequest(ctx context.Context, client *http.Client, sc scenario, authz string) error {
	var body io.Reader
	if sc.body != nil {
		body = bytes.NewReader(sc.body)
	}
	req, err := http.NewRequestWithContext(ctx, sc.method, sc.url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", authz)
	if sc.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d (%s)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return err
}

// mergeResults pools the workers' samples. Throughput is measured
// requests over the time from measureFrom to the last measured reply, so
// a run cut short by an exhausted token pool is still rated correctly.
func mergeResults(name string, w window, results []workerResult) runResult {
	r := runResult{Scenario: name}
	var all []time.Duration
	last := w.measureFrom
	for _, wr := range results {
		all = append(all, wr.latencies...)
		r.Errors += wr.errors
		r.Exhausted = r.Exhausted || wr.exhausted
		for _, s := range wr.errSamples {
			if len(r.ErrSamples) < maxErrSamples {
				r.ErrSamples = append(r.ErrSamples, s)
			}
		}
		if wr.lastDone.After(last) {
			last = wr.lastDone
		}
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.Elapsed = last.Sub(w.measureFrom)
	if r.Elapsed > 0 {
		r.Throughput = float64(r.Requests) / r.Elapsed.Seconds()
	}
	r.P50, r.P90, r.P99 = percentile(all, 50), percentile(all, 90), percentile(all, 99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// profileJob is a CPU profile of Caddy taken through its admin API
// during the measured part of a run.
type profileJob struct {
	done chan struct{}
	err  error
}

func startProfile(ctx context.Context, o options, c *caddyProc, name string, from time.Time) *profileJob {
	j := &profileJob{done: make(chan struct{})}
	secs := min(o.ProfileSeconds, max(int(o.Duration.Seconds()), 1))
	go func() {
		defer close(j.done)
		select {
		case <-time.After(time.Until(from)):
		case <-ctx.Done():
			j.err = ctx.Err()
			return
		}
		j.err = fetchProfile(ctx, c, secs, filepath.Join(o.ProfileDir, name+".pprof"))
	}()
	return j
}

func (j *profileJob) wait() error {
	<-j.done
	return j.err
}

func fetchProfile(ctx context.Context, c *caddyProc, secs int, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	client := &http.Client{Transport: newTransport(1), Timeout: time.Duration(secs+10) * time.Second}
	defer client.CloseIdleConnections()
	url := loopbackURL(c.admin, "/debug/pprof/profile?seconds="+strconv.Itoa(secs))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("admin API: " + resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	fmt.Printf("  CPU profile of Caddy (%ds) written to %s\n", secs, path)
	return f.Close()
}
