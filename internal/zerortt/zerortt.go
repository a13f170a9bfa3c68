// Package zerortt sends HTTP/3 requests in QUIC 0-RTT early data, for
// tests of what a server does with them. Everything binds 127.0.0.1.
package zerortt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Client talks HTTP/3 to one server through a relay it controls, and
// keeps the server's session tickets so that later requests can go in
// 0-RTT.
type Client struct {
	base    string // https://name:port
	relay   *relay
	udp     *net.UDPConn
	quic    *quic.Transport
	tlsConf *tls.Config
	tickets *ticketCache
}

// Response is what a request got.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Used0RTT is quic-go's report that the server accepted the
	// connection's 0-RTT data.
	Used0RTT bool
}

// New returns a client for the HTTP/3 server on the UDP address addr
// (host:port), which it reaches as https://serverName:port and whose
// certificate it verifies against roots.
func New(addr, serverName string, roots *x509.CertPool) (*Client, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	r, err := newRelay(addr)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		r.close()
		return nil, err
	}
	tickets := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(8), stored: make(chan struct{}, 1)}
	return &Client{
		base:  "https://" + net.JoinHostPort(serverName, port),
		relay: r,
		udp:   udp,
		quic:  &quic.Transport{Conn: udp},
		tlsConf: &tls.Config{
			RootCAs:            roots,
			ServerName:         serverName,
			NextProtos:         []string{http3.NextProtoH3},
			MinVersion:         tls.VersionTLS13,
			ClientSessionCache: tickets,
		},
		tickets: tickets,
	}, nil
}

// Close releases the client's sockets.
func (c *Client) Close() {
	_ = c.quic.Close()
	c.udp.Close()
	c.relay.close()
}

// Get sends a GET after a complete handshake, and returns once the server
// has also sent a session ticket, so that the next request can be early.
func (c *Client) Get(ctx context.Context, path string, header http.Header) (*Response, error) {
	conn, err := c.quic.Dial(ctx, c.relay.addr(), c.tlsConf, &quic.Config{})
	if err != nil {
		return nil, fmt.Errorf("quic handshake: %w", err)
	}
	defer conn.CloseWithError(0, "")
	resp, err := c.roundTrip(ctx, conn, http.MethodGet, path, header)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.tickets.stored:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a session ticket: %w", ctx.Err())
	}
	return resp, nil
}

// GetEarly resumes the session from an earlier Get and sends a GET in
// 0-RTT. Until decided returns, the relay keeps the server's packets from
// the client: the client cannot complete the handshake, so the server
// must act on the request with its handshake incomplete. decided should
// return once the server has acted (a counter moved, a log line, the
// upstream was hit), or with an error when it never does.
func (c *Client) GetEarly(ctx context.Context, path string, header http.Header, decided func(context.Context) error) (*Response, error) {
	c.relay.hold()
	held := true
	defer func() {
		if held {
			c.relay.release()
		}
	}()
	conn, err := c.quic.DialEarly(ctx, c.relay.addr(), c.tlsConf, &quic.Config{})
	if err != nil {
		return nil, fmt.Errorf("quic 0-RTT dial (no session ticket that allows early data?): %w", err)
	}
	defer conn.CloseWithError(0, "")
	select {
	case <-conn.HandshakeComplete():
		return nil, errors.New("the handshake completed before the request was sent")
	default:
	}
	type result struct {
		resp *Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.roundTrip(ctx, conn, http3.MethodGet0RTT, path, header)
		done <- result{resp, err}
	}()
	if err := decided(ctx); err != nil {
		return nil, fmt.Errorf("waiting for the server to act on the early request: %w", err)
	}
	c.relay.release()
	held = false
	res := <-done
	if res.err != nil {
		return nil, res.err
	}
	select {
	case <-conn.HandshakeComplete():
	case <-ctx.Done():
		return nil, fmt.Errorf("completing the handshake: %w", ctx.Err())
	}
	res.resp.Used0RTT = conn.ConnectionState().Used0RTT
	return res.resp, nil
}

func (c *Client) roundTrip(ctx context.Context, conn *quic.Conn, method, path string, header http.Header) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http3.Transport{}).NewClientConn(conn).RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("http3 request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Used0RTT: conn.ConnectionState().Used0RTT}, nil
}

// ticketCache signals each session the server sends.
type ticketCache struct {
	tls.ClientSessionCache
	stored chan struct{}
}

func (t *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	t.ClientSessionCache.Put(key, cs)
	if cs != nil {
		select {
		case t.stored <- struct{}{}:
		default:
		}
	}
}
