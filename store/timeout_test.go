package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// A Postgres that stops answering (the link goes silent; nothing is
// refused) makes a call fail within the timeout instead of hanging for
// the whole outage, and the pool recovers when the link does.
func TestPostgresSilenceIsBounded(t *testing.T) {
	ctx := context.Background()
	uri, proxy := storetest.PostgresViaProxy(t)
	const timeout = time.Second
	db, err := store.OpenWith(ctx, uri, store.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.Freeze()

	start := time.Now()
	_, _, err = db.StoreTransaction(ctx, "t1", []store.IncomingEvent{msg("!r:x", "$1")})
	if err == nil {
		t.Fatal("stored a transaction through a frozen link")
	}
	// The call ends at the read deadline (the timeout plus a second); the
	// bound leaves room for a busy machine, a hang lasts until the
	// test's own timeout.
	if took := time.Since(start); took > 10*timeout {
		t.Fatalf("a call to a silent database took %v (timeout %v)", took, timeout)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start = time.Now()
	err = db.Check(checkCtx)
	cancel()
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Check of a silent database: %v after %v", err, time.Since(start))
	}
	// Opening a connection through a silent link fails within the
	// connect timeout too.
	start = time.Now()
	if db2, err := store.OpenWith(ctx, uri, store.Options{Timeout: timeout}); err == nil {
		db2.Close()
		t.Fatal("opened a database through a frozen link")
	}
	if took := time.Since(start); took > 10*timeout {
		t.Fatalf("opening through a silent link took %v", took)
	}

	proxy.Thaw()
	waitFor(t, "the database to answer again", func() bool {
		c, cancel := context.WithTimeout(ctx, 2*timeout)
		defer cancel()
		return db.Check(c) == nil
	})
	if _, _, err := db.StoreTransaction(ctx, "t2", []store.IncomingEvent{msg("!r:x", "$2")}); err != nil {
		t.Fatalf("after the link came back: %v", err)
	}
}

// A statement the server runs longer than the timeout is ended by the
// server (statement_timeout), and migrations are exempt.
func TestPostgresStatementTimeout(t *testing.T) {
	ctx := context.Background()
	uri := storetest.URI(t, store.Postgres)
	db, err := store.OpenWith(ctx, uri, store.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if _, err := db.ExecContext(ctx, `SELECT pg_sleep(5)`); err == nil {
		t.Fatal("a 5 s statement ran to the end with a 500 ms timeout")
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("statement ended after %v", took)
	}
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatalf("migrate with a short statement timeout: %v", err)
	}
}

// On SQLite a writer waits for the write lock at most the timeout.
func TestSQLiteBusyIsBounded(t *testing.T) {
	ctx := context.Background()
	uri := storetest.URI(t, store.SQLite)
	const timeout = 300 * time.Millisecond
	db, err := store.OpenWith(ctx, uri, store.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	holder, err := db.BeginTx(ctx, nil) // IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	start := time.Now()
	if _, _, err := db.StoreTransaction(ctx, "t1", []store.IncomingEvent{msg("!r:x", "$1")}); err == nil {
		t.Fatal("wrote while another transaction held the write lock")
	}
	if took := time.Since(start); took < timeout || took > 20*timeout {
		t.Fatalf("waited %v for the write lock, want about %v", took, timeout)
	}
}
