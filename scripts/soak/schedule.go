package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// rotateKeys runs key rotations until ctx ends. Each one is designed so
// that every token a client holds stays valid:
//
//	publish  the next key beside the current one, which still signs, for
//	         two JWKS refreshes, so fed_oidc knows it before any token does
//	switch   signing to the next key; the old one stays published until
//	         every token it signed has expired (token TTL + clock_skew);
//	         the issuer is down for -outage in this phase
//	withdraw the old key; a long-lived token it signed (the probe) must
//	         now be refused, having been accepted before
func (s *soak) rotateKeys(ctx context.Context, cur *signingKey) {
	if !sleep(ctx, firstSteady) {
		return
	}
	for n := 2; ctx.Err() == nil; n++ {
		next, err := newSigningKey("soak-" + strconv.Itoa(n))
		if err != nil {
			s.controlFailed("generating a key", err)
			return
		}
		s.setPhase(fmt.Sprintf("publish: %s signs, %s published", cur.kid, next.kid))
		if err := s.keys.publish(ctx, cur, next); err != nil {
			s.controlFailed("publishing the next key", err)
			return
		}
		probe, err := s.cliToken(probeClient)
		if err != nil || probe.kid != cur.kid {
			s.controlFailed("getting the probe token", fmt.Errorf("kid %q, %v", probe.kid, err))
			return
		}
		s.probe(ctx, probe, http.StatusOK)
		if !sleep(ctx, 2*jwksRefresh+phaseMargin) {
			return
		}

		s.setPhase(fmt.Sprintf("switch: %s signs, %s still published", next.kid, cur.kid))
		if err := s.keys.publish(ctx, next, cur); err != nil {
			s.controlFailed("switching signing", err)
			return
		}
		if err := s.keys.confirmSigning(ctx, next.kid); err != nil {
			s.controlFailed("switching signing", err)
			return
		}
		switched := time.Now()
		s.st.switches.Add(1)
		if !sleep(ctx, outageAfter) || !s.outage(ctx) {
			return
		}
		// Every token signed by cur was issued before switched.
		if !sleep(ctx, time.Until(switched.Add(s.o.tokenTTL+clockSkew+phaseMargin))) {
			return
		}

		s.setPhase(fmt.Sprintf("withdrawn: %s signs, %s withdrawn", next.kid, cur.kid))
		if err := s.keys.publish(ctx, next); err != nil {
			s.controlFailed("withdrawing the old key", err)
			return
		}
		s.keys.withdraw(cur.kid)
		wait := 2*jwksRefresh + phaseMargin
		if !sleep(ctx, wait) {
			return
		}
		s.probe(ctx, probe, http.StatusUnauthorized)
		s.st.withdrawals.Add(1)
		cur = next
		s.setPhase("steady: " + cur.kid + " signs, alone")
		if !sleep(ctx, steadyDwell-wait) {
			return
		}
	}
}

// outage stops the IdP for -outage and starts it again on the same port,
// with the same keys. It reports whether the soak goes on.
func (s *soak) outage(ctx context.Context) bool {
	s.issuerEpoch.Add(1)
	s.stack.StopProcess("idp")
	s.st.outages.Add(1)
	live := sleep(ctx, s.o.outage)
	// Started again even when the run is ending: the end sample and the
	// settling load need the issuer up.
	err := s.stack.StartIdP(context.Background())
	s.issuerEpoch.Add(1)
	if err != nil {
		s.st.errors.add("issuer control", "restarting the IdP: "+err.Error(), s.elapsed(), s.phaseName())
		return false
	}
	return live
}

// probe sends the probe token and checks its answer: 200 while its key
// is published (anything else refuses a valid token), 401 once the key
// has been withdrawn (anything else trusts a withdrawn key).
func (s *soak) probe(ctx context.Context, t token, want int) {
	status, hdr, err := s.get(ctx, t.authz)
	if ctx.Err() != nil {
		return
	}
	at, phase := s.elapsed(), s.phaseName()
	detail := fmt.Sprintf("probe token (kid %s): status %d, want %d, %s", t.kid, status, want, hdr.Get("WWW-Authenticate"))
	switch {
	case err != nil:
		s.st.errors.add("probe", err.Error(), at, phase)
	case status == want:
		s.st.probes.Add(1)
	case want == http.StatusOK:
		s.st.refused.add("probe "+strconv.Itoa(status), detail, at, phase)
	default:
		s.st.acceptedWithdrawn.add("probe "+strconv.Itoa(status), detail, at, phase)
	}
}

// reloadConfig gives Caddy a new Caddyfile every -reload-every, each
// with the next generation number in a response header.
func (s *soak) reloadConfig(ctx context.Context) {
	for sleep(ctx, s.o.reloadEvery) {
		gen := s.gen.Load() + 1
		if out, err := s.stack.ReloadCaddy(s.caddyfile(gen)); err != nil {
			if ctx.Err() == nil {
				s.st.errors.add("caddy reload", fmt.Sprintf("%v: %s", err, out), s.elapsed(), s.phaseName())
			}
			continue
		}
		s.gen.Store(gen)
	}
}

// rotateCredential swaps the gateway's secret every -credential-every.
func (s *soak) rotateCredential(ctx context.Context) {
	for sleep(ctx, s.o.credentialEvery) {
		if err := s.gw.rotate(); err != nil {
			s.st.errors.add("credential rotation", err.Error(), s.elapsed(), s.phaseName())
		}
	}
}

func (s *soak) controlFailed(what string, err error) {
	if s.runCtx.Err() == nil {
		s.st.errors.add("issuer control", what+": "+err.Error(), s.elapsed(), s.phaseName())
	}
}
