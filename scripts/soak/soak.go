package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/e2e"
)

const (
	// tokenClient is what the workers use; probeClient gets long-lived
	// tokens, to show that a withdrawn key's tokens are refused.
	tokenClient = e2e.KeycloakClient
	probeClient = "soak-probe"
	probeTTL    = time.Hour
)

// run does the whole soak; everything it starts is stopped, and the temp
// dir removed (unless -keep), before it returns.
func run(o options) int {
	// Ctrl-C ends the run early; the report and the cleanup still happen.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "fedauth-soak-")
	if err != nil {
		return fail("creating a temp dir", err)
	}
	if o.keep {
		defer fmt.Println("state kept in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	s, err := newSoak(o, dir)
	if err != nil {
		return fail("setting up", err)
	}
	defer s.stack.Stop()
	if err := s.start(ctx); err != nil {
		s.printLogs()
		return fail("starting", err)
	}
	defer s.gw.close()
	r := s.soak(ctx)
	s.printReport(os.Stdout, r)
	if !r.pass {
		s.printLogs()
		return 1
	}
	return 0
}

func fail(what string, err error) int {
	fmt.Fprintf(os.Stderr, "soak: %s: %v\nFAIL: %s\n", what, err, what)
	return 1
}

// soak is one run: the stack, the stand-in gateway, and what was counted.
type soak struct {
	o            options
	stack        *e2e.Stack
	gw           *gateway
	keys         *issuerKeys
	firstKey     *signingKey
	client       *http.Client // the load, to Caddy
	tokenClient  *http.Client // to the IdP
	clientSecret string

	runCtx    context.Context // the disturbances': errors after its end are not counted
	began     time.Time       // the run, for the t= of events
	loadStart time.Time
	phase     atomic.Pointer[string]
	// issuerEpoch counts the IdP's stops and starts: odd while it is down.
	issuerEpoch atomic.Int64
	gen         atomic.Int64 // the config generation Caddy last loaded
	firstOK     atomic.Int64 // UnixNano of the first 200, 0 before

	lastTokenErr atomic.Pointer[tokenErr]
	st           stats
}

// stats: what the run counted. Tallies keep samples for the report.
type stats struct {
	requests, ok      atomic.Int64
	window            atomic.Int64 // 503 while the issuer had never answered
	withdrawnKey      atomic.Int64 // 401 for a token signed by a withdrawn key
	gatewayRefused    atomic.Int64 // 401 from the stand-in gateway
	refused           tally        // valid tokens refused
	acceptedWithdrawn tally        // a withdrawn key's token accepted
	errors            tally
	heldTokens        atomic.Int64
	freshTokens       atomic.Int64
	tokenFailures     atomic.Int64
	stalls            atomic.Int64
	maxGen            atomic.Int64
	switches          atomic.Int64
	withdrawals       atomic.Int64 // and probed
	outages           atomic.Int64
	probes            atomic.Int64
}

func newSoak(o options, dir string) (*soak, error) {
	stack, err := e2e.New(o.bin, dir)
	if err != nil {
		return nil, err
	}
	s := &soak{
		o:           o,
		stack:       stack,
		runCtx:      context.Background(),
		client:      &http.Client{Transport: loopbackTransport(o.workers), Timeout: requestTimeout},
		tokenClient: &http.Client{Transport: loopbackTransport(o.workers), Timeout: requestTimeout},
		began:       time.Now(),
	}
	s.setPhase("start: issuer not started")
	if s.clientSecret, err = readSecret(stack.SecretFile(tokenClient)); err != nil {
		return nil, err
	}
	s.gw = newGateway(s, stack.GatewaySecrets, stack.GatewayPassword, o.credentialLoad+time.Second)
	s.keys = &issuerKeys{s: s, file: filepath.Join(dir, "idp-jwks.json"), withdrawn: make(map[string]bool)}
	if s.firstKey, err = newSigningKey("soak-1"); err != nil {
		return nil, err
	}
	if err := s.keys.write(s.firstKey); err != nil {
		return nil, err
	}
	idpConfig, err := s.writeIdPClients()
	if err != nil {
		return nil, err
	}
	stack.IdPEnv = []string{"IDP_JWKS_FILE=" + s.keys.file, "IDP_CONFIG_JSON=" + idpConfig,
		fmt.Sprintf("IDP_TOKEN_TTL=%d", int(o.tokenTTL.Seconds()))}
	return s, nil
}

// writeIdPClients returns the IdP's client config: the workers' client
// as e2e.New set it up, and the probe client, whose secret it writes
// where Stack.Token looks for it.
func (s *soak) writeIdPClients() (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	probeSecret := hex.EncodeToString(b)
	if err := os.WriteFile(s.stack.SecretFile(probeClient), []byte(probeSecret+"\n"), 0o600); err != nil {
		return "", err
	}
	cfg, err := json.Marshal(map[string]any{"clients": []map[string]any{
		{"client_id": tokenClient, "client_secret": s.clientSecret, "shape": "keycloak"},
		{"client_id": probeClient, "client_secret": probeSecret, "shape": "keycloak",
			"audience": tokenClient, "token_ttl": int(probeTTL.Seconds())},
	}})
	return string(cfg), err
}

func loopbackTransport(conns int) *http.Transport {
	return &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second}
}

// start brings up the stand-in gateway, then Caddy while the issuer is
// still down, then the issuer: the first requests meet an issuer that has
// never answered, the one case fed_oidc answers 503 by design.
func (s *soak) start(ctx context.Context) error {
	if err := s.gw.listen(strings.TrimPrefix(s.stack.GatewayURL, "http://")); err != nil {
		return fmt.Errorf("stand-in gateway: %w", err)
	}
	s.gen.Store(1)
	if err := s.stack.StartCaddyWith(ctx, s.caddyfile(1)); err != nil {
		return fmt.Errorf("caddy: %w", err)
	}
	if err := s.stack.StartIdP(ctx); err != nil {
		return fmt.Errorf("IdP: %w", err)
	}
	return nil
}

// caddyfile is the config of generation gen: only the header differs.
func (s *soak) caddyfile(gen int64) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%[1]s
	metrics
	persist_config off
	skip_install_trust
	storage file_system %[2]s
	grace_period %[14]v
}

http://127.0.0.1:%[3]s {
	bind 127.0.0.1
	header %[4]s %[5]d
	fed_oidc {
		issuer %[6]s
		audience %[7]s
		clock_skew %[8]v
		jwks_refresh_interval %[9]v
		jwks_min_refresh_interval %[10]v
		gateway_basic_auth %[11]s/basic-auth-user %[11]s/basic-auth-password {
			reload_interval %[12]v
		}
	}
	reverse_proxy %[13]s {
		transport fed_oidc
	}
}
`, port(s.stack.AdminURL), filepath.Join(s.stack.Dir, "caddy-data"), port(s.stack.InvokeURL), generationHdr, gen,
		s.stack.IdPURL, tokenClient, clockSkew, jwksRefresh, jwksMinRefresh, s.stack.GatewaySecrets, s.o.credentialLoad,
		s.stack.GatewayURL, gracePeriod)
}

func port(u string) string { return u[strings.LastIndexByte(u, ':')+1:] }

// soak runs the load and the schedule for -duration and returns the
// verdict.
func (s *soak) soak(parent context.Context) result {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sched, stopSched := context.WithCancel(ctx)
	defer stopSched()
	s.runCtx = sched
	s.loadStart = time.Now()
	s.setPhase("steady: soak-1 signs, alone")
	var load, disturbances sync.WaitGroup
	for range s.o.workers {
		load.Go(func() { s.worker(ctx) })
	}
	disturbances.Go(func() { s.rotateKeys(sched, s.firstKey) })
	disturbances.Go(func() { s.reloadConfig(sched) })
	disturbances.Go(func() { s.rotateCredential(sched) })

	r := result{}
	r.startSample = s.waitWarm(ctx)
	s.printProgress(r.startSample)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	end := time.NewTimer(time.Until(s.loadStart.Add(s.o.duration)))
	defer end.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-end.C:
			done = true
		case <-tick.C:
			s.printProgress(s.sampleCaddy())
		}
	}
	r.interrupted = parent.Err() != nil
	// The end sample is taken under the same load as the start sample,
	// once the last reload's old config has had its grace period.
	stopSched()
	disturbances.Wait()
	s.setPhase("settle: disturbances stopped, load goes on")
	sleep(ctx, settle)
	r.endSample = s.sampleCaddy()
	r.metrics = s.fedMetrics()
	r.loaded = time.Since(s.loadStart)
	cancel()
	load.Wait()
	s.client.CloseIdleConnections()
	s.tokenClient.CloseIdleConnections()
	s.judge(&r)
	return r
}

// waitWarm waits for the first 200 and a few seconds more, so the start
// sample sees every worker connected and the keys loaded.
func (s *soak) waitWarm(ctx context.Context) caddySample {
	for s.firstOK.Load() == 0 && sleep(ctx, 50*time.Millisecond) {
	}
	sleep(ctx, warmup)
	return s.sampleCaddy()
}

func (s *soak) setPhase(p string) { s.phase.Store(&p) }

func (s *soak) phaseName() string {
	p := *s.phase.Load()
	if s.issuerEpoch.Load()%2 == 1 {
		p += "; issuer down"
	}
	return p
}

func (s *soak) elapsed() time.Duration { return time.Since(s.began) }

// printLogs shows the end of Caddy's and the IdP's logs, for a failure.
func (s *soak) printLogs() {
	for _, name := range []string{"caddy", "idp"} {
		fmt.Fprintf(os.Stderr, "--- end of the %s log ---\n%s\n", name, s.stack.Log(name))
	}
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSuffix(string(b), "\n"), err
}
