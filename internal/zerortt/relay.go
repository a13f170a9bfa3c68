package zerortt

import (
	"net"
	"sync"
)

// relay forwards UDP datagrams between the client and a QUIC server, both
// on loopback. While it holds, the server's datagrams are queued instead
// of delivered: the client then cannot finish its handshake, so whatever
// the server does with a request meanwhile, it does before its own
// handshake completes, as it would on early data an attacker replays.
type relay struct {
	front *net.UDPConn // where the client sends
	back  *net.UDPConn // connected to the server

	mu     sync.Mutex
	client *net.UDPAddr // the last client address seen
	held   bool
	queue  [][]byte
}

func newRelay(server string) (*relay, error) {
	to, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, err
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	back, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, to)
	if err != nil {
		front.Close()
		return nil, err
	}
	r := &relay{front: front, back: back}
	go r.toServer()
	go r.toClient()
	return r, nil
}

func (r *relay) addr() net.Addr { return r.front.LocalAddr() }

func (r *relay) toServer() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.client = from
		r.mu.Unlock()
		_, _ = r.back.Write(buf[:n])
	}
}

func (r *relay) toClient() {
	for {
		buf := make([]byte, 64<<10)
		n, err := r.back.Read(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.held {
			r.queue = append(r.queue, buf[:n])
		} else if r.client != nil {
			_, _ = r.front.WriteToUDP(buf[:n], r.client)
		}
		r.mu.Unlock()
	}
}

func (r *relay) hold() {
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
}

// release delivers what it held, in order, and forwards from then on.
func (r *relay) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = false
	for _, d := range r.queue {
		if r.client != nil {
			_, _ = r.front.WriteToUDP(d, r.client)
		}
	}
	r.queue = nil
}

func (r *relay) close() {
	r.front.Close()
	r.back.Close()
}
