package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// stmtCacheSize bounds the statements kept prepared on one Postgres
// connection. The hot path uses a few dozen; queries built with a varying
// number of placeholders come and go through the least recently used slot.
const stmtCacheSize = 128

// preparingConnector keeps, on each Postgres connection, the statements it
// ran prepared on the server. lib/pq otherwise sends a statement with
// arguments as an unnamed one every time: one round trip to parse and
// describe it, a second to run it, and the server plans it again. A kept
// statement runs in one round trip without being parsed again, which on
// the hot path (twenty-odd statements per message) is most of what a
// message costs the database. Statements without arguments go through the
// simple protocol as before (they may hold several statements).
//
// Behind PgBouncer this needs session pooling, or PgBouncer 1.21 or later
// with max_prepared_statements set (docs/admin.md).
type preparingConnector struct{ driver.Connector }

func (c preparingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &preparingConn{pq: conn, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

// pqConn is what lib/pq's connection offers and preparingConn passes on.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// preparingConn is one connection and its prepared statements. database/sql
// uses a connection from one goroutine at a time, so it needs no lock.
type preparingConn struct {
	pq    driver.Conn
	stmts map[string]*list.Element // query → element of lru holding *cachedStmt
	lru   *list.List               // most recently used first
}

type cachedStmt struct {
	query string
	stmt  driver.Stmt
}

func (c *preparingConn) conn() pqConn { return c.pq.(pqConn) }

// stmt returns query prepared on this connection, preparing it (and
// closing the least recently used one beyond the bound) when new.
func (c *preparingConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if el, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cachedStmt).stmt, nil
	}
	st, err := c.conn().PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.lru.PushFront(&cachedStmt{query: query, stmt: st})
	if c.lru.Len() > stmtCacheSize {
		c.forget(c.lru.Back())
	}
	return st, nil
}

// forget closes a kept statement. The connection stays usable if the
// close fails; the server frees the statement with the connection.
func (c *preparingConn) forget(el *list.Element) {
	cs := c.lru.Remove(el).(*cachedStmt)
	delete(c.stmts, cs.query)
	_ = cs.stmt.Close()
}

// stale reports an error that means the kept statement no longer exists
// on the server (a pooler in between dropped it), so it must be prepared
// again.
func stale(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "26000" // invalid_sql_statement_name
}

func (c *preparingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.conn().ExecContext(ctx, query, args)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	if err != nil && stale(err) {
		c.forget(c.stmts[query])
	}
	return res, err
}

func (c *preparingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.conn().QueryContext(ctx, query, args)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil && stale(err) {
		c.forget(c.stmts[query])
	}
	return rows, err
}

func (c *preparingConn) Prepare(query string) (driver.Stmt, error) { return c.pq.Prepare(query) }
func (c *preparingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn().PrepareContext(ctx, query)
}
func (c *preparingConn) Begin() (driver.Tx, error) {
	return c.conn().BeginTx(context.Background(), driver.TxOptions{})
}
func (c *preparingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn().BeginTx(ctx, opts)
}
func (c *preparingConn) Ping(ctx context.Context) error         { return c.conn().Ping(ctx) }
func (c *preparingConn) ResetSession(ctx context.Context) error { return c.conn().ResetSession(ctx) }
func (c *preparingConn) IsValid() bool                          { return c.conn().IsValid() }
func (c *preparingConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.conn().CheckNamedValue(nv)
}

// Close closes the connection; its prepared statements end with it on the
// server.
func (c *preparingConn) Close() error { return c.pq.Close() }
