package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// fill stores n events so a backup has something to carry.
func fill(t *testing.T, db *store.DB, n int) {
	t.Helper()
	var evs []store.IncomingEvent
	for i := range n {
		raw, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("$e%d", i), "room_id": "!r:example.org",
			"sender": "@ana:example.org", "type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 500)}})
		evs = append(evs, store.IncomingEvent{EventID: fmt.Sprintf("$e%d", i), RoomID: "!r:example.org",
			Sender: "@ana:example.org", Type: "m.room.message", OriginTS: int64(i), JSON: raw})
	}
	if _, _, err := db.StoreTransaction(context.Background(), "txn-fill", evs); err != nil {
		t.Fatal(err)
	}
}

func countInbox(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM inbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An online SQLite backup is a complete, consistent database that opens
// at the same schema, and it reports its progress.
func TestBackupSQLite(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	fill(t, db, 2000)
	dest := filepath.Join(t.TempDir(), "backup.db")
	var calls, lastDone, lastTotal int
	err := store.BackupSQLite(context.Background(), db, dest, func(done, total int) {
		calls++
		lastDone, lastTotal = done, total
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls < 2 || lastDone != lastTotal || lastTotal == 0 {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
	restored, err := store.Open(context.Background(), "sqlite:"+dest, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if v, err := restored.Version(context.Background()); err != nil || v != store.LatestVersion() {
		t.Errorf("restored schema version %d (%v)", v, err)
	}
	if got := countInbox(t, restored); got != 2000 {
		t.Errorf("restored inbox has %d events, want 2000", got)
	}
	// It never overwrites a file.
	if err := store.BackupSQLite(context.Background(), db, dest, nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second backup onto the same file: %v", err)
	}
}

// The Postgres procedure docs/admin.md gives (pg_dump -Fc, pg_restore into
// a fresh database) brings back a database bizbots serves as it was.
func TestBackupPostgresProcedure(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed for the documented Postgres backup: %v", tool, err)
		}
	}
	db := storetest.New(t, store.Postgres)
	fill(t, db, 500)
	dump := filepath.Join(t.TempDir(), "bizbots.dump")
	src := storetest.URI(t, store.Postgres) // a second, empty database to restore into
	srcURI := pgURI(t, db)
	if out, err := exec.Command("pg_dump", "--format=custom", "--file="+dump, srcURI).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	if out, err := exec.Command("pg_restore", "--no-owner", "--dbname="+src, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	restored, err := store.Open(context.Background(), src, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if from, to, err := restored.Upgrade(context.Background()); err != nil || from != to {
		t.Errorf("restored database needed migrating %d→%d (%v)", from, to, err)
	}
	if got := countInbox(t, restored); got != 500 {
		t.Errorf("restored inbox has %d events, want 500", got)
	}
	if _, err := os.Stat(dump); err != nil {
		t.Fatal(err)
	}
}

// pgURI finds the URI of an open Postgres test database.
func pgURI(t *testing.T, db *store.DB) string {
	t.Helper()
	var name string
	if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	admin := os.Getenv(storetest.EnvPostgres)
	if admin == "" {
		admin = storetest.DefaultPostgres()
	}
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}
