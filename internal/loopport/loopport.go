// Package loopport picks loopback ports for test and benchmark processes
// that are killed and started again on the same address.
package loopport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
)

// Free returns a loopback address whose port is free right now and lies
// outside the kernel's ephemeral range. A process restarted on its address
// after a kill needs that: a port from 127.0.0.1:0 comes from the range
// outgoing connections (to Postgres, the homeserver…) take their local
// ports from, so one of them could hold it by the next start ("address
// already in use"). A random pick checked by binding keeps parallel
// processes apart.
func Free() (string, error) {
	lo, hi := listenPorts()
	if lo > hi {
		return "", fmt.Errorf("the ephemeral port range leaves no port from 20000 up to listen on")
	}
	var err error
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo+1)))
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port in %d-%d: %w", lo, hi, err)
}

// listenPorts is the range Free picks from: 20000 up to just below the
// ephemeral range, or up to 32767 below Linux's default range
// (32768-60999) where /proc does not tell. Should the ephemeral range
// start lower, the ports above it are used instead.
func listenPorts() (lo, hi int) {
	elo, ehi := Ephemeral()
	if elo > 20000 {
		return 20000, elo - 1
	}
	return ehi + 1, 65535
}

// Ephemeral is the kernel's range of local ports for outgoing connections
// (and for listening on port 0).
func Ephemeral() (lo, hi int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768, 60999
	}
	if _, err := fmt.Sscan(string(data), &lo, &hi); err != nil || lo < 1 || lo > hi || hi > 65535 {
		return 32768, 60999
	}
	return lo, hi
}
