// Package storetest gives tests a fresh, migrated database on each engine:
// SQLite in a temp dir and a brand-new Postgres database per test, dropped
// afterwards. Postgres being unreachable is a test failure, never a skip,
// so a CI run without Postgres cannot pass.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/tcpproxy"
	"github.com/bizbots/bizbots/store"
)

// EnvPostgres names the variable holding an admin URI of the Postgres server
// tests create their databases on.
const EnvPostgres = "BIZBOTS_TEST_POSTGRES"

// DefaultPostgres is used when EnvPostgres is unset: the local server on
// loopback as the current OS user (trust auth, as scripts/ensure-postgres.sh
// sets up).
func DefaultPostgres() string {
	name := "postgres"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return "postgres://" + url.PathEscape(name) + "@127.0.0.1:5432/postgres?sslmode=disable"
}

// Dialects are the engines every storage test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn as a subtest on a fresh, fully migrated database of every
// engine.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, New(t, d))
		})
	}
}

// New returns a fresh database of dialect d, migrated to the latest schema.
func New(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db := Empty(t, d)
	if _, _, err := db.Upgrade(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// Timeout is the database call timeout of the databases New and Empty
// open: generous, so a test's large setup on a busy machine is not cut
// off; tests of the timeouts open their own (store.OpenWith).
const Timeout = time.Minute

// Empty returns a fresh database with no schema at all.
func Empty(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db, err := store.OpenWith(context.Background(), URI(t, d), store.Options{Timeout: Timeout})
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URI makes a new empty database of dialect d and returns its URI; the
// database is removed when the test ends.
func URI(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite:" + filepath.Join(t.TempDir(), "bizbots.db")
	case store.Postgres:
		return newPostgresDB(t)
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

// Processes returns n handles on one fresh, migrated Postgres database,
// each with its own connection pool and instance id: what n bizbots
// processes sharing the database see.
func Processes(t testing.TB, n int) []*store.DB {
	t.Helper()
	uri := URI(t, store.Postgres)
	out := make([]*store.DB, n)
	for i := range out {
		db, err := store.OpenWith(context.Background(), uri, store.Options{Timeout: Timeout})
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		if _, _, err := db.Upgrade(context.Background()); err != nil {
			t.Fatalf("migrate postgres: %v", err)
		}
		out[i] = db
	}
	return out
}

// PostgresViaProxy makes a fresh, migrated Postgres database and returns
// its URI rewritten to pass through a loopback proxy the test can freeze
// (the database going silent) and thaw; the proxy closes when the test
// ends.
func PostgresViaProxy(t testing.TB) (string, *tcpproxy.Proxy) {
	t.Helper()
	uri := URI(t, store.Postgres)
	db, err := store.Open(context.Background(), uri, 0)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer db.Close()
	if _, _, err := db.Upgrade(context.Background()); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tcpproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	u.Host = p.Addr()
	return u.String(), p
}

func newPostgresDB(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		admin = DefaultPostgres()
	}
	conn, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("postgres admin URI %s: %v", EnvPostgres, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("Postgres is required for storage tests and is not reachable at %s (set %s): %v",
			redact(admin), EnvPostgres, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bbtest_" + hex.EncodeToString(b)
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := sql.Open("postgres", admin)
		if err != nil {
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := c.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return fmt.Sprint(s)
}

// Hit is a value found by Find: which table and column hold it.
type Hit struct {
	Table, Column, Needle, Value string
}

func (h Hit) String() string {
	v := h.Value
	if len(v) > 120 {
		v = v[:120] + "…"
	}
	return fmt.Sprintf("%s.%s contains %q: %q", h.Table, h.Column, h.Needle, v)
}

// Find scans every column of every row of every table in db, whatever
// the schema (tables are listed from the engine's catalog, so a table
// added later is scanned without changing this), and returns each value
// that contains one of needles, compared without regard to case. It is
// how privacy tests prove that data is gone everywhere.
func Find(t testing.TB, db *store.DB, needles ...string) []Hit {
	t.Helper()
	ctx := context.Background()
	list := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if db.Dialect == store.Postgres {
		list = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	var tables []string
	rows, err := db.QueryContext(ctx, list)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatal("find: no tables listed")
	}
	lower := make([]string, len(needles))
	for i, n := range needles {
		lower[i] = strings.ToLower(n)
	}
	var hits []Hit
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				s := strings.ToLower(string(v))
				for j, n := range lower {
					if n != "" && strings.Contains(s, n) {
						hits = append(hits, Hit{Table: table, Column: cols[i], Needle: needles[j], Value: string(v)})
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		rows.Close()
	}
	return hits
}

// OutboxContents lists the contents of room's outbox rows in the order
// they were queued, as q (the database or a transaction) sees them.
func OutboxContents(t testing.TB, q store.Querier, room string) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), `SELECT content FROM outbox WHERE room_id = $1 ORDER BY id`, room)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
