// Package tcpproxy is a loopback TCP proxy for fault tests: it forwards
// connections to a target and can be frozen, after which it keeps every
// connection open and accepts new ones but forwards nothing, the way a
// database behind a stalled network link or a hung load balancer looks to
// a client (no refusal, no reset, just silence). Thawing forwards what
// was held back. It is test equipment, not for production traffic.
package tcpproxy

import (
	"fmt"
	"net"
	"sync"
)

// Proxy forwards connections from Addr to a target.
type Proxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	gate   chan struct{} // closed while forwarding; open (blocking) while frozen
	conns  map[net.Conn]bool
	closed bool
	cut    bool // connections are dropped until Thaw

	done chan struct{}
	wg   sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target
// ("host:port"). Close it when done.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, gate: make(chan struct{}), conns: map[net.Conn]bool{}, done: make(chan struct{})}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Freeze stops forwarding bytes in both directions, on open connections
// and on new ones, until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already frozen
	}
}

// Cut drops every open connection and closes new ones at once, until
// Thaw: a database that restarted or went away (resets and refusals, not
// silence).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Thaw forwards again, starting with what was held back, and ends a Cut.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// wait blocks while the proxy is frozen; false when it is closing.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
		return true
	case <-p.done:
		return false
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.cut {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			continue // cut: this one is dropped, the next may not be
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	if !p.wait() {
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); p.pipe(server, client) }()
	go func() { defer pipes.Done(); p.pipe(client, server) }()
	pipes.Wait()
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
// When either side ends, both are closed.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, reset or closed: the other direction ends too
		}
	}
}
