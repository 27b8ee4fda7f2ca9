package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Commits do not copy SQLite's log into the database file themselves (that
// stalled every writer in a large database); the checkpointer does, in the
// background, so the file takes in what was committed within seconds and
// the log does not grow for ever.
func TestSQLiteLogReachesTheFileInTheBackground(t *testing.T) {
	ctx := context.Background()
	uri := storetest.URI(t, store.SQLite)
	db, err := store.Open(ctx, uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	var auto int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v: commits would checkpoint themselves", auto, err)
	}
	path := strings.TrimPrefix(uri, "sqlite:")
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	payload := strings.Repeat("x", 4000)
	for i := 0; i < 500; i++ { // about 2 MB, 500 commits
		if _, err := db.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, $2)`, fmt.Sprintf("fill-%d", i), payload); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for size() < before+1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes (from %d) after 2 MB of commits: nothing checkpoints the log", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
