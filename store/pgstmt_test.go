package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// preparedOn counts the statements the server keeps prepared for conn's
// session whose text is query.
func preparedOn(t *testing.T, ctx context.Context, conn *sql.Conn, query string) int {
	t.Helper()
	var n int
	// No arguments: the simple protocol, so this query is not kept itself.
	q := fmt.Sprintf(`SELECT count(*) FROM pg_prepared_statements WHERE statement = '%s'`, query)
	if err := conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// On Postgres a statement with arguments is prepared once per connection
// and run again from there (one round trip, no new parse); the number kept
// is bounded; one the server lost is prepared again; statements without
// arguments still take several at once.
func TestPostgresKeepsStatementsPrepared(t *testing.T) {
	ctx := context.Background()
	db := storetest.New(t, store.Postgres)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	const q = `SELECT count(*) FROM inbox WHERE room_id = $1`
	for range 3 {
		var n int
		if err := conn.QueryRowContext(ctx, q, "!r:x").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if n := preparedOn(t, ctx, conn, q); n != 1 {
		t.Fatalf("statement prepared %d times on the connection, want once", n)
	}

	// A pooler may drop the session's statements: the next use fails
	// (inside a transaction there is nothing else to do) and the one
	// after prepares it again.
	if _, err := conn.ExecContext(ctx, `DEALLOCATE ALL`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, q, "!r:x").Scan(&n); err == nil {
		t.Fatal("a statement the server dropped ran without an error")
	}
	if err := conn.QueryRowContext(ctx, q, "!r:x").Scan(&n); err != nil {
		t.Fatalf("statement not prepared again after the server dropped it: %v", err)
	}

	// Many distinct statements: the oldest are closed on the server.
	for i := range 300 {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`SELECT $1::int + %d`, i), i); err != nil {
			t.Fatal(err)
		}
	}
	var kept int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept > 128 {
		t.Fatalf("%d statements kept prepared on one connection, want at most 128", kept)
	}

	// Without arguments: the simple protocol, several statements at once.
	if _, err := conn.ExecContext(ctx, `CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT sum(x) FROM t WHERE x > $1`, 0).Scan(&n); err != nil || n != 3 {
		t.Fatalf("sum = %d, %v; want 3", n, err)
	}
}
