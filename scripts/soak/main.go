// Command soak runs steady load through the real Caddy binary with
// fed_oidc and reverse_proxy for a while (default 10 minutes) and, all the
// while, does to it what a cluster does:
//
//   - the issuer (the real oidc-provider of e2e/idp) rotates its signing
//     key: it publishes the next key beside the current one, switches
//     signing to it, and withdraws the old key once every token signed by
//     it has expired;
//   - the issuer goes down and comes back on the same port (-outage);
//   - the gateway credential rotates through the kubelet's ..data symlink
//     swap, and the upstream checks that the new one arrives within
//     reload_interval;
//   - the config is reloaded with `caddy reload` (-reload-every), each time
//     with a changed header, which the clients check.
//
// Clients keep a token like real clients: each worker gets one with
// `caddy fed-oidc token` and gets the next once half its life is gone; a
// fraction of requests (-fresh) uses a token just issued, by a direct
// client-credentials POST. The upstream is a recording stand-in for the
// gateway, since the real one reads its credential only at start.
//
// Every 30 s it prints the phase and the counts; at the end a report and
// a last line PASS or FAIL with the reason (exit status 1 on FAIL). A
// refused valid request is any refusal of a token that was valid when
// sent, except the 503 that fed_oidc documents while the issuer has never
// answered (Caddy starts before the issuer here). Everything binds
// 127.0.0.1 on free ports; all state is in a temp dir, removed unless
// -keep. Usage, normally through scripts/soak.sh:
//
//	go run ./scripts/soak -bin bin [-duration 10m] [-workers 8] [-rate 200]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

type options struct {
	bin             string
	duration        time.Duration
	workers         int
	rate            float64
	fresh           float64
	tokenTTL        time.Duration
	outage          time.Duration
	reloadEvery     time.Duration
	credentialEvery time.Duration
	credentialLoad  time.Duration
	keep            bool
}

// Settings of the fed_oidc site that the schedule's phases are timed by.
const (
	clockSkew       = 5 * time.Second
	jwksRefresh     = 5 * time.Second
	jwksMinRefresh  = 2 * time.Second
	progressEvery   = 30 * time.Second
	sendMargin      = 2 * time.Second // a worker never sends a token this close to exp
	phaseMargin     = 5 * time.Second
	firstSteady     = 10 * time.Second
	steadyDwell     = 20 * time.Second
	outageAfter     = 5 * time.Second // into the switch phase
	warmup          = 5 * time.Second // after the first 200, before the start sample
	gracePeriod     = 10 * time.Second
	settle          = gracePeriod + 2*time.Second // after the last disturbance, before the end sample
	requestTimeout  = 10 * time.Second
	maxOutageOfLife = 5 * time.Second // the outage must leave a token this much of its second half
)

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the caddy binary to test")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load runs")
	fs.IntVar(&o.workers, "workers", 8, "concurrent clients, each keeping its own token")
	fs.Float64Var(&o.rate, "rate", 200, "requests per second of all workers together (0: as fast as they can)")
	fs.Float64Var(&o.fresh, "fresh", 0.02, "fraction of requests sent with a token just issued")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 60*time.Second, "the issuer's access token lifetime (IDP_TOKEN_TTL)")
	fs.DurationVar(&o.outage, "outage", 20*time.Second, "how long the issuer is down in each key rotation")
	fs.DurationVar(&o.reloadEvery, "reload-every", 30*time.Second, "interval between config reloads")
	fs.DurationVar(&o.credentialEvery, "credential-every", 45*time.Second, "interval between gateway credential rotations")
	fs.DurationVar(&o.credentialLoad, "credential-reload", 2*time.Second, "fed_oidc's gateway_basic_auth reload_interval")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, Caddyfile, secrets) and print its path")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, o.validate()
}

func (o options) validate() error {
	switch {
	case o.duration < 10*time.Second:
		return errors.New("-duration must be at least 10s")
	case o.workers < 1 || o.workers > 256:
		return errors.New("-workers must be 1..256")
	case o.rate < 0:
		return errors.New("-rate must not be negative")
	case o.fresh < 0 || o.fresh > 1:
		return errors.New("-fresh must be between 0 and 1")
	case o.tokenTTL < 20*time.Second || o.tokenTTL%time.Second != 0:
		return errors.New("-token-ttl must be whole seconds, at least 20s")
	case o.outage < time.Second || o.outage > o.tokenTTL/2-maxOutageOfLife:
		// Workers renew at half life: a longer outage would leave them
		// without a valid token, and the load would stop, not be refused.
		return fmt.Errorf("-outage must be between 1s and half of -token-ttl less %v (%v)", maxOutageOfLife, o.tokenTTL/2-maxOutageOfLife)
	case o.reloadEvery < time.Second || o.credentialEvery < time.Second:
		return errors.New("-reload-every and -credential-every must be at least 1s")
	case o.credentialLoad < 100*time.Millisecond:
		return errors.New("-credential-reload must be at least 100ms")
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	os.Exit(run(o))
}
