package store

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// deadlineDialer opens Postgres connections on which every read and write
// must complete within timeout. lib/pq waits for the server's answer in a
// plain socket read that a cancelled context does not interrupt, so a
// database behind a link that went silent (a proxy or firewall that stops
// forwarding) would hold the call, and intake's answer to the homeserver,
// for the whole outage. A read only waits while a statement is in flight,
// so an idle pooled connection is never timed out; a timed-out one is
// discarded by the driver.
type deadlineDialer struct {
	timeout *atomic.Int64 // ns; 0 means no deadline (migrations)
}

func (d deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, timeout: d.timeout}, nil
}

type deadlineConn struct {
	net.Conn
	timeout *atomic.Int64
}

func (c *deadlineConn) deadline() time.Time {
	if t := time.Duration(c.timeout.Load()); t > 0 {
		return time.Now().Add(t)
	}
	return time.Time{}
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
