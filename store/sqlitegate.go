package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// SQLite has one writer. When two connections want to write, the second
// waits in SQLite's busy handler, which polls with sleeps of up to 100 ms:
// under load, a write that could start a millisecond later waited a tenth
// of a second, and writers were served in no order. The gate makes every
// writer of the process queue in Go instead, in order, and start the
// moment the one before it is done: a transaction (bizbots opens only
// write transactions on SQLite: _txlock=immediate) holds it from BEGIN to
// COMMIT or ROLLBACK, a write outside a transaction for its statement.
// Other processes on the same file still meet SQLite's own lock.
type writeGate struct {
	ch      chan struct{}
	timeout time.Duration
}

// enter waits for the gate, at most the database timeout.
func (g *writeGate) enter(ctx context.Context) error {
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-t.C:
		return ErrWriterBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *writeGate) leave() { <-g.ch }

// gatedConnector opens go-sqlite3 connections behind the gate.
type gatedConnector struct {
	dsn  string
	gate *writeGate
	drv  *sqlite3.SQLiteDriver
}

func (c gatedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc := conn.(*sqlite3.SQLiteConn)
	// The checkpointer copies the log into the file (checkpoint.go).
	// A log the checkpointer restarted is cut back to walSizeLimit by
	// the commit that starts it anew.
	if _, err := sc.Exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit="+strconv.Itoa(walSizeLimit), nil); err != nil {
		sc.Close()
		return nil, err
	}
	return &gatedConn{SQLiteConn: sc, gate: c.gate}, nil
}

func (c gatedConnector) Driver() driver.Driver { return c.drv }

// gatedConn is a go-sqlite3 connection whose writes pass the gate.
type gatedConn struct {
	*sqlite3.SQLiteConn
	gate *writeGate
	inTx bool
}

func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.gate.enter(ctx); err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	tx, err := c.SQLiteConn.BeginTx(ctx, opts)
	if err != nil {
		c.gate.leave()
		return nil, err
	}
	c.inTx = true
	return &gatedTx{Tx: tx, conn: c}, nil
}

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !c.inTx {
		if err := c.gate.enter(ctx); err != nil {
			return nil, err
		}
		defer c.gate.leave()
	}
	return c.SQLiteConn.ExecContext(ctx, query, args)
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.inTx || !writes(query) {
		return c.SQLiteConn.QueryContext(ctx, query, args)
	}
	if err := c.gate.enter(ctx); err != nil {
		return nil, err
	}
	rows, err := c.SQLiteConn.QueryContext(ctx, query, args)
	if err != nil {
		c.gate.leave()
		return nil, err
	}
	// An UPDATE … RETURNING writes until its rows are read and closed.
	return &gatedRows{Rows: rows, gate: c.gate}, nil
}

// Raw access (the backup) sees the driver's own connection.
func (c *gatedConn) Unwrap() *sqlite3.SQLiteConn { return c.SQLiteConn }

// writes reports whether a statement run as a query changes data. It
// runs before every query outside a transaction, and the hot path's
// queries are up to a few kilobytes long (upper-casing a copy of each
// cost about 1 % of the CPU of a message), so the answer for each text is
// remembered: the process runs the same few dozen texts again and again.
func writes(query string) bool {
	if w, ok := writingQueries.Load(query); ok {
		return w.(bool)
	}
	w := scanWrites(query)
	if writingQueriesKept.Load() < maxWritingQueries && writingQueriesKept.Add(1) <= maxWritingQueries {
		writingQueries.Store(query, w)
	}
	return w
}

// writingQueries holds writes' answers by query text; texts built at run
// time (a varying number of placeholders) are kept too, up to
// maxWritingQueries, then only scanned.
var (
	writingQueries     sync.Map // string → bool
	writingQueriesKept atomic.Int32
)

const maxWritingQueries = 1024

// scanWrites is writes without the memory: does query begin with a verb
// that writes, or return rows from a write?
func scanWrites(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	for _, verb := range [...]string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if len(q) >= len(verb) && strings.EqualFold(q[:len(verb)], verb) {
			return true
		}
	}
	return containsFold(q, "RETURNING")
}

// containsFold reports whether s contains word (upper-case ASCII) in any
// case.
func containsFold(s, word string) bool {
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == word[0]|0x20 && strings.EqualFold(s[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

type gatedTx struct {
	driver.Tx
	conn *gatedConn
}

func (t *gatedTx) Commit() error {
	defer t.done()
	return t.Tx.Commit()
}

func (t *gatedTx) Rollback() error {
	defer t.done()
	return t.Tx.Rollback()
}

func (t *gatedTx) done() {
	if t.conn.inTx {
		t.conn.inTx = false
		t.conn.gate.leave()
	}
}

type gatedRows struct {
	driver.Rows
	gate *writeGate
	once bool
}

func (r *gatedRows) Close() error {
	err := r.Rows.Close()
	if !r.once {
		r.once = true
		r.gate.leave()
	}
	return err
}
