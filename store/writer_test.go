package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// A typo in a SQLite path must not quietly create a tree of directories.
func TestOpenSQLiteRefusesMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no", "such")
	_, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "x.db"), 0)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v, want one naming the missing directory", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created %s", dir)
	}
}

// SQLite serves one process; a second `serve` on the same file is refused
// with the holder's pid, and the file is free again once released.
func TestSingleWriterOnSQLite(t *testing.T) {
	uri := "sqlite:" + filepath.Join(t.TempDir(), "bizbots.db")
	release, err := store.LockWriter(uri)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.LockWriter(uri)
	if !errors.Is(err, store.ErrWriterRunning) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second writer: err = %v, want ErrWriterRunning naming pid %d", err, os.Getpid())
	}
	release()
	again, err := store.LockWriter(uri)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

// Postgres coordinates any number of processes itself: no lock.
func TestNoWriterLockOnPostgres(t *testing.T) {
	uri := "postgres://nobody@127.0.0.1:1/none"
	r1, err := store.LockWriter(uri)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := store.LockWriter(uri)
	if err != nil {
		t.Fatal(err)
	}
	r1()
	r2()
}

// The pool sizes docs/admin.md and the config template give as the
// defaults of database.max_open_conns (0): 4 on SQLite, 40 on Postgres.
func TestDefaultPoolSizes(t *testing.T) {
	for d, want := range map[store.Dialect]int{store.SQLite: 4, store.Postgres: 40} {
		db, err := store.OpenWith(context.Background(), storetest.URI(t, d), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := db.Stats().MaxOpenConnections; got != want {
			t.Errorf("%s: %d connections by default, the docs say %d", d, got, want)
		}
		db.Close()
	}
}
