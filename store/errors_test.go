package store_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"github.com/bizbots/bizbots/store"
)

// Lost connections and a server that is restarting are worth waiting
// for; a wrong statement or a constraint is not.
func TestIsUnreachable(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("read schema version: %w", driver.ErrBadConn): true,
		&net.OpError{Op: "read", Err: syscall.ECONNRESET}:        true,
		fmt.Errorf("begin: %w", io.EOF):                          true,
		&pq.Error{Code: "57P01"}:                                 true,  // admin_shutdown
		&pq.Error{Code: "57P03"}:                                 true,  // cannot_connect_now
		&pq.Error{Code: "08006"}:                                 true,  // connection_failure
		&pq.Error{Code: "42601"}:                                 false, // syntax_error
		&pq.Error{Code: "23505"}:                                 false,
		errors.New("upgrade to v3: no such column"):              false,
	} {
		if got := store.IsUnreachable(err); got != want {
			t.Errorf("IsUnreachable(%v) = %v, want %v", err, got, want)
		}
	}
}
