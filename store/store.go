// Package store owns bizbots' database: opening it (SQLite, the embedded
// default, or Postgres), the schema and its in-place migrations, and small
// query helpers per table. It holds no business logic: the queue semantics
// (claim, lease, done) live here only as SQL, their callers decide when.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/mattn/go-sqlite3"
)

// Dialect is the SQL engine behind a DB.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open bizbots database.
type DB struct {
	*sql.DB
	Dialect Dialect
	// InstallID is a random id made when the schema was created; it
	// namespaces the Matrix transaction ids the sender uses.
	InstallID string
	// UpgradeProgress, if set, is told before each migration step and at
	// the end how many of the steps are done (`bizbots migrate` shows it
	// on a terminal: a step may rewrite a big table).
	UpgradeProgress func(done, total int)
	// Timeout bounds one database call (Options.Timeout); callers that
	// answer someone (intake) use it as their deadline.
	Timeout time.Duration
	// readTimeout is the deadline of every Postgres network read, in ns
	// (0: none); shared with the connections' dialer.
	readTimeout *atomic.Int64
	// group gathers GroupTx work into shared transactions.
	group group
	// maxCommitters is Options.Committers (0: the engine's default).
	maxCommitters int
	// uri is what the DB was opened with (Listen opens its own
	// connection).
	uri string
	// instance tells this handle's notifications from other processes'.
	instance string
	// checkpointer copies SQLite's log into the file (nil on Postgres).
	checkpointer *checkpointer
}

// Querier is what both *sql.DB and *sql.Tx offer; query helpers take it so
// they run inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DefaultTimeout bounds one database call when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Options tune Open.
type Options struct {
	// MaxOpenConns caps the connection pool (0: 4 for SQLite, 20 for
	// Postgres).
	MaxOpenConns int
	// Timeout bounds every database call, so a database that stops
	// answering (no refusal, just silence) makes a call fail instead of
	// hang: on Postgres it is the connect timeout, the server's
	// statement_timeout and a deadline on every network read; on SQLite
	// the busy timeout (how long a writer waits for the write lock).
	// 0 means DefaultTimeout. Migrations run without it.
	Timeout time.Duration
	// Committers is how many group transactions (GroupTx) may be open at
	// once (0: 1 on SQLite, which has one writer anyway; 2 on Postgres).
	Committers int
}

// Open connects to uri ("sqlite:path" or "postgres://…") with the default
// timeout, checks the connection and returns the DB. It does not
// migrate: call Upgrade.
func Open(ctx context.Context, uri string, maxOpen int) (*DB, error) {
	return OpenWith(ctx, uri, Options{MaxOpenConns: maxOpen})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, uri string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	maxOpen := opts.MaxOpenConns
	db := &DB{Timeout: opts.Timeout, readTimeout: new(atomic.Int64), maxCommitters: opts.Committers}
	db.readTimeout.Store(int64(opts.Timeout + time.Second))
	var connector driver.Connector
	switch {
	case strings.HasPrefix(uri, "sqlite:"), strings.HasPrefix(uri, "sqlite3:"):
		path, _ := sqlitePath(uri)
		// A typo in the path must not create a tree of directories; the
		// file itself is created on first use.
		if dir := filepath.Dir(path); dir != "." {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("database directory %s does not exist (create it, or fix database.uri)", dir)
			}
		}
		if err := stablePlans(); err != nil {
			return nil, err
		}
		// IMMEDIATE transactions take the write lock at BEGIN, so two
		// writers queue on busy_timeout instead of failing with
		// SQLITE_BUSY when a reader upgrades.
		q := url.Values{}
		q.Set("_txlock", "immediate")
		q.Set("_busy_timeout", strconv.FormatInt(opts.Timeout.Milliseconds(), 10))
		q.Set("_foreign_keys", "on")
		q.Set("_journal_mode", "WAL")
		// FULL: a commit is on disk before intake answers 200, so not even
		// a power cut loses an acknowledged transaction (NORMAL in WAL
		// mode survives a process crash only).
		q.Set("_synchronous", "FULL")
		// Prepared statements kept per connection: preparing the same few
		// dozen statements again for every event cost a fifth of the CPU.
		q.Set("_stmt_cache_size", "256")
		// 16 MB of pages per connection (SQLite's default is 2 MB): with a
		// million messages stored, the indexes a message walks no longer
		// fit in 2 MB and every step re-read pages from the OS.
		q.Set("_cache_size", "-16000")
		gc := gatedConnector{drv: &sqlite3.SQLiteDriver{}, dsn: "file:" + path + "?" + q.Encode(),
			gate: &writeGate{ch: make(chan struct{}, 1), timeout: opts.Timeout}}
		connector = gc
		cp, err := startCheckpointer(gc.drv, gc.dsn, gc.gate)
		if err != nil {
			return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
		}
		db.checkpointer = cp
		db.Dialect = SQLite
		if maxOpen == 0 {
			maxOpen = 4
		}
	case IsPostgresURI(uri):
		dsn, err := postgresDSN(uri, opts.Timeout)
		if err != nil {
			return nil, err
		}
		c, err := pq.NewConnector(dsn)
		if err != nil {
			return nil, fmt.Errorf("database uri: %w", err)
		}
		c.Dialer(deadlineDialer{timeout: db.readTimeout})
		connector = preparingConnector{c}
		db.Dialect = Postgres
		if maxOpen == 0 {
			maxOpen = 40
		}
	default:
		return nil, fmt.Errorf("database uri: use sqlite:<file> or postgres://…")
	}
	sqlDB := sql.OpenDB(connector)
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	db.DB = sqlDB
	db.uri = uri
	db.instance = strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.Itoa(os.Getpid())
	pingCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := db.Check(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database %s: %w", db.Dialect, RedactURI(uri), err)
	}
	return db, nil
}

// Close closes the database (and stops SQLite's checkpointer).
func (db *DB) Close() error {
	if db.checkpointer != nil {
		db.checkpointer.close()
	}
	return db.DB.Close()
}

// IsPostgresURI says whether uri names a Postgres database.
func IsPostgresURI(uri string) bool {
	return strings.HasPrefix(uri, "postgres://") || strings.HasPrefix(uri, "postgresql://")
}

// postgresDSN adds bizbots' timeouts to a Postgres URI, unless the URI
// sets them itself: connect_timeout (whole seconds) and statement_timeout,
// so the server ends a statement that runs too long.
func postgresDSN(uri string, timeout time.Duration) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("database uri: %w", err)
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", strconv.Itoa(max(1, int(timeout.Round(time.Second)/time.Second))))
	}
	if q.Get("statement_timeout") == "" {
		q.Set("statement_timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// RedactURI is uri without its password, for logs and errors.
func RedactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Check asks the database for an answer within ctx's deadline, and
// returns when the deadline passes even if the driver is still waiting
// (the read deadline ends that call a little later).
func (db *DB) Check(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		var one int
		done <- db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("database did not answer: %w", ctx.Err())
	}
}

// Tx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise (also on panic, which is re-raised).
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// indexedBy names, on SQLite, the index a query must use. Its planner
// has no statistics to go on and, given a partial index of a room's
// pending rows and an index of all the room's rows (the console's), picks
// the latter, which walks every handled row of the room before the first
// pending one: the claim of each event grew with the room's history.
// Postgres plans from statistics and needs no hint.
func (db *DB) indexedBy(index string) string {
	if db.Dialect == SQLite {
		return " INDEXED BY " + index
	}
	return ""
}

// ErrWriterBusy means a SQLite transaction waited longer than the
// database timeout for the one before it to finish.
var ErrWriterBusy = errors.New("database is busy: another write transaction held it for the whole timeout")

// ErrLeaseLost means another process took over a room: the caller's
// transaction was rolled back and its work must not be committed.
var ErrLeaseLost = errors.New("room lease lost")

// ErrAlreadyHandled means the inbox row is no longer pending: another
// worker (or an earlier attempt) committed it.
var ErrAlreadyHandled = errors.New("inbox event already handled")

// Now is the clock the store uses, in Unix milliseconds.
func Now() int64 { return time.Now().UnixMilli() }

// Tx is the transaction type the store's helpers run in.
type Tx = *sql.Tx
