// Package faults holds the means of injecting faults between Laatu and its database in tests:
// a TCP proxy on loopback that can freeze traffic (what a stopped PostgreSQL or a black-holed
// network looks like to the server) or cut every connection.
package faults

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	thaw  chan struct{} // closed while bytes flow
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy to target ("host:port"); it stops when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, thaw: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.thaw)
	t.Cleanup(func() { p.Thaw(); ln.Close(); p.Reset() })
	go p.accept()
	return p
}

// Through returns the PostgreSQL URL dsn pointed at a new proxy in front of its server.
func Through(t testing.TB, dsn string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":5432"
	}
	p := NewProxy(t, host)
	u.Host = p.ln.Addr().String()
	return u.String(), p
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		delete(p.conns, s)
		p.mu.Unlock()
		c.Close()
		s.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { p.pipe(s, c); done <- struct{}{} }()
	go func() { p.pipe(c, s); done <- struct{}{} }()
	<-done
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		thaw := p.thaw
		p.mu.Unlock()
		<-thaw
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops passing bytes in both directions, closing nothing; new connections are
// accepted and frozen too.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thaw:
		p.thaw = make(chan struct{})
	default:
	}
}

// Thaw lets bytes flow again, the held ones first.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thaw:
	default:
		close(p.thaw)
	}
}

// Reset closes every connection through the proxy (both sides), as a network cut would.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
	}
}
