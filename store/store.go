// Package store owns bizbots' database: opening it (SQLite, the embedded
// default, or Postgres), the schema and its in-place migrations, and small
// query helpers per table. It holds no business logic: the queue semantics
// (claim, lease, done) live here only as SQL, their callers decide when.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/lib/pq"           // Postgres driver
	_ "github.com/mattn/go-sqlite3" // SQLite driver
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
}

// Querier is what both *sql.DB and *sql.Tx offer; query helpers take it so
// they run inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open connects to uri ("sqlite:path" or "postgres://…"), checks the
// connection and returns the DB. It does not migrate: call Upgrade.
func Open(ctx context.Context, uri string, maxOpen int) (*DB, error) {
	var (
		driver, dsn string
		dialect     Dialect
	)
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
		// IMMEDIATE transactions take the write lock at BEGIN, so two
		// writers queue on busy_timeout instead of failing with
		// SQLITE_BUSY when a reader upgrades.
		q := url.Values{}
		q.Set("_txlock", "immediate")
		q.Set("_busy_timeout", "30000")
		q.Set("_foreign_keys", "on")
		q.Set("_journal_mode", "WAL")
		// FULL: a commit is on disk before intake answers 200, so not even
		// a power cut loses an acknowledged transaction (NORMAL in WAL
		// mode survives a process crash only).
		q.Set("_synchronous", "FULL")
		driver, dsn, dialect = "sqlite3", "file:"+path+"?"+q.Encode(), SQLite
		if maxOpen == 0 {
			maxOpen = 4
		}
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		driver, dsn, dialect = "postgres", uri, Postgres
		if maxOpen == 0 {
			maxOpen = 20
		}
	default:
		return nil, fmt.Errorf("database uri: use sqlite:<file> or postgres://…")
	}
	sqlDB, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{DB: sqlDB, Dialect: dialect}, nil
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
