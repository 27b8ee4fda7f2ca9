package tcpproxy_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/tcpproxy"
)

// echo serves a line echo server on loopback.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestFreezeHoldsAndThawForwards(t *testing.T) {
	p, err := tcpproxy.Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("before freezing: %q %v", got, err)
	}
	p.Freeze()
	if got, err := roundTrip(c, r, 200*time.Millisecond); err == nil {
		t.Fatalf("frozen proxy answered %q", got)
	}
	// A new connection is accepted but gets nothing either.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("frozen proxy refused a connection: %v", err)
	}
	defer c2.Close()
	r2 := bufio.NewReader(c2)
	if got, err := roundTrip(c2, r2, 200*time.Millisecond); err == nil {
		t.Fatalf("frozen proxy answered a new connection %q", got)
	}
	p.Thaw()
	// What was held back arrives: the first connection's pending ping.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("after thawing: %q %v", got, err)
	}
}

// connected starts a proxy to an echo server and a connection through it
// that has made one round trip.
func connected(t *testing.T) (*tcpproxy.Proxy, net.Conn, *bufio.Reader) {
	t.Helper()
	p, err := tcpproxy.Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("first round trip: %q %v", got, err)
	}
	return p, c, r
}

func TestCutDropsConnectionsUntilThaw(t *testing.T) {
	p, c, r := connected(t)
	p.Cut()
	if got, err := roundTrip(c, r, 5*time.Second); err == nil {
		t.Fatalf("a cut connection answered %q", got)
	}
	// A new connection is closed at once (EOF, not a timeout).
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer c2.Close()
		if got, err := roundTrip(c2, bufio.NewReader(c2), 5*time.Second); err == nil {
			t.Fatalf("a connection made during the cut answered %q", got)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("a connection made during the cut hung instead of closing: %v", err)
		}
	}
	p.Thaw()
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, bufio.NewReader(c3), 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after the cut: %q %v", got, err)
	}
}
