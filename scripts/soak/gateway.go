package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddy-fedauth/caddy-fedauth/internal/kubesecret"
)

const gatewayUser = "admin"

// gateway stands in for the OpenFaaS gateway: it answers /system/ calls
// that carry the credential of its basic-auth secret, as the gateway
// does, and counts every other credential as a violation. Unlike the real
// gateway it follows a rotation at once, so it can tell whether fed_oidc
// did: the previous credential is accepted only for grace after the swap.
type gateway struct {
	s       *soak
	secrets string // the kubelet-style secret directory fed_oidc reads
	grace   time.Duration
	srv     *http.Server

	mu        sync.Mutex
	cur, prev string    // Authorization values
	swapStart time.Time // when the current swap began
	swapped   time.Time // when it completed; zero while under way
	seenCur   bool      // the current credential has arrived since
	pickup    time.Duration

	violations tally
	rotations  int
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func newGateway(s *soak, secrets, password string, grace time.Duration) *gateway {
	return &gateway{s: s, secrets: secrets, grace: grace, cur: basicAuth(gatewayUser, password), seenCur: true}
}

func (g *gateway) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return nil
}

func (g *gateway) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.srv.Shutdown(ctx)
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if kind, ok := g.check(r.Header.Get("Authorization"), time.Now()); !ok {
		g.violations.add(kind, r.Method+" "+r.URL.Path, g.s.elapsed(), g.s.phaseName())
		w.Header().Set("WWW-Authenticate", `Basic realm="Restricted"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `[{"name":"nodeinfo","replicas":1}]`)
}

// check decides on one request's credential, and notes when the current
// one first arrives after a rotation.
func (g *gateway) check(got string, now time.Time) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case got == g.cur:
		if !g.seenCur {
			g.seenCur = true
			g.pickup = max(g.pickup, now.Sub(g.swapStart))
		}
		return "", true
	case got == g.prev && (g.swapped.IsZero() || now.Sub(g.swapped) <= g.grace):
		return "", true
	case got == g.prev:
		return "previous credential after the grace", false
	case got == "":
		return "no credential", false
	case strings.HasPrefix(got, "Bearer "):
		return "the caller's bearer token", false
	}
	return "unknown credential", false
}

// rotate writes a new password the way the kubelet updates a mounted
// secret. The new credential is expected from the moment the swap
// begins, the previous one until grace after it completed.
func (g *gateway) rotate() error {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	pass := hex.EncodeToString(b)
	g.mu.Lock()
	g.prev, g.cur = g.cur, basicAuth(gatewayUser, pass)
	g.swapStart, g.swapped, g.seenCur = time.Now(), time.Time{}, false
	g.mu.Unlock()
	err := kubesecret.Write(g.secrets, map[string]string{"basic-auth-user": gatewayUser + "\n", "basic-auth-password": pass + "\n"})
	g.mu.Lock()
	g.swapped = time.Now()
	g.rotations++
	g.mu.Unlock()
	return err
}

// state returns the rotations done, the slowest pickup seen, and whether
// the last rotation's credential has arrived yet.
func (g *gateway) state() (rotations int, slowest time.Duration, pending bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rotations, g.pickup, !g.seenCur
}
