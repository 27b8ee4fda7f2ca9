package loopport

import (
	"net"
	"strconv"
	"testing"
)

// Ports stay out of the range the kernel gives outgoing connections, which
// could take one between a kill and the restart (50 picks: one inside the
// range would be luck).
func TestFreeIsOutsideTheEphemeralRange(t *testing.T) {
	lo, hi := Ephemeral()
	for range 50 {
		addr, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		if host != "127.0.0.1" || port < 1024 || port > 65535 || (port >= lo && port <= hi) {
			t.Fatalf("Free gave %s; want a loopback port outside the ephemeral range %d-%d", addr, lo, hi)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the port Free gave cannot be listened on: %v", err)
		}
		ln.Close()
	}
}
