package caddyfedauth

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A config reload must not turn a valid request away: with steady traffic
// from 8 clients, ten reloads (each a new config generation) refuse
// nothing, and the running key source is taken over, not fetched anew.
// An issuer that is new in a config may answer 503 until its first fetch,
// and the source of an issuer no config uses any more stops.
func TestReloadRefusesNothing(t *testing.T) {
	ti := newTestIssuer(t)
	key := ti.addKey(t, "k1", "RS256", "rsa2048")
	claims := ti.claims("fed-gw.tenant1")
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	tok := ti.token(t, key, claims)
	gw := newGatewayStandIn(t)
	site := func(gen int, issuer string) string {
		return fmt.Sprintf(`
	http://localhost:{http} {
		header X-Generation %d
		fed_oidc {
			issuer %s
			audience fed-gw.tenant1
			jwks_refresh_interval 1h
		}
		reverse_proxy %s
	}`, gen, issuer, gw.srv.URL)
	}
	tester := newInProcessCaddy(t, site(0, ti.URL()))
	waitFor(t, "keys in the running config", func() bool {
		return do(t, tester, "GET", "localhost", "/system/info", "Bearer "+tok).StatusCode == http.StatusOK
	})
	fetches := ti.jwksHits.Load()

	var (
		stop              atomic.Bool
		served, refused   atomic.Int64
		failed            atomic.Int64
		mu                sync.Mutex
		generations       = map[string]bool{}
		firstRefusal      string
		wg                sync.WaitGroup
		client            = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
		generationsServed = func() int { mu.Lock(); defer mu.Unlock(); return len(generations) }
	)
	defer client.CloseIdleConnections()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Do(newReq(t, "GET", "localhost", "/system/functions", "Bearer "+tok))
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstRefusal == "" {
						firstRefusal = err.Error()
					}
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusOK {
					served.Add(1)
					generations[resp.Header.Get("X-Generation")] = true
				} else {
					refused.Add(1)
					if firstRefusal == "" {
						firstRefusal = resp.Status
					}
				}
				mu.Unlock()
			}
		}()
	}
	for gen := 1; gen <= 10; gen++ {
		time.Sleep(100 * time.Millisecond)
		reloadInProcessCaddy(t, site(gen, ti.URL()))
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	gw.take()

	t.Logf("%d requests served across %d generations, %d refused, %d failed", served.Load(), generationsServed(), refused.Load(), failed.Load())
	if refused.Load() != 0 || failed.Load() != 0 {
		t.Errorf("%d valid requests refused and %d failed during reloads (first: %s)", refused.Load(), failed.Load(), firstRefusal)
	}
	if generationsServed() < 5 {
		t.Errorf("requests were served by %d config generations; the reloads did not take effect", generationsServed())
	}
	if n := ti.jwksHits.Load() - fetches; n != 0 {
		t.Errorf("reloads fetched the JWKS %d times; the running key source was not taken over", n)
	}

	// A new issuer: its source starts with the config, and the old
	// issuer's stops once no config uses it.
	other := newTestIssuer(t)
	okey := other.addKey(t, "k2", "ES256", "p256")
	otok := other.token(t, okey, other.claims("fed-gw.tenant1"))
	reloadInProcessCaddy(t, site(11, other.URL()))
	waitFor(t, "the new issuer's keys", func() bool {
		return do(t, tester, "GET", "localhost", "/system/info", "Bearer "+otok).StatusCode == http.StatusOK
	})
	if resp := do(t, tester, "GET", "localhost", "/system/info", "Bearer "+tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old issuer's token after it left the config: %d, want 401", resp.StatusCode)
	}
	waitFor(t, "the old issuer's key source to stop", func() bool { return countPooled(ti.URL()) == 0 })
}
