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

// migratedSQLite opens a fresh, migrated SQLite database as bizbots does
// (with its checkpointer) and returns it with the path of its file.
func migratedSQLite(t *testing.T) (*store.DB, string) {
	t.Helper()
	uri := storetest.URI(t, store.SQLite)
	db, err := store.Open(context.Background(), uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, strings.TrimPrefix(uri, "sqlite:")
}

// Commits do not copy SQLite's log into the database file themselves (that
// stalled every writer in a large database); the checkpointer does, in the
// background, so the file takes in what was committed within seconds and
// the log does not grow for ever.
func TestSQLiteLogReachesTheFileInTheBackground(t *testing.T) {
	ctx := context.Background()
	db, path := migratedSQLite(t)
	var auto int
	if err := db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v: commits would checkpoint themselves", auto, err)
	}
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

// Under sustained writes the checkpointer must still bound SQLite's log:
// a checkpoint that runs while commits go on copies all but the latest
// frames, and a log that is never copied to its end is never started
// again from the beginning, so it grew by every page ever written (660 MB
// after 15 s of the benchmark) and every read searched all of it.
func TestSQLiteLogStaysBoundedUnderSustainedWrites(t *testing.T) {
	ctx := context.Background()
	// Past about 4 MB, so 60 MB of writes show whether it restarts.
	store.SetRestartFrames(t, 1000)
	db, path := migratedSQLite(t)
	payload := strings.Repeat("x", 4000)
	// A writer commits without pause (about 100 kB a commit) and a reader
	// reads, while the checkpointer runs every 10 commits: 60 MB in all.
	const rounds, commitsPerRound, rowsPerCommit = 60, 10, 25
	committed := make(chan struct{})
	writerDone := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(committed)
		for c := 0; c < rounds*commitsPerRound; c++ {
			err := db.Tx(ctx, func(tx store.Tx) error {
				for r := 0; r < rowsPerCommit; r++ {
					if _, err := tx.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, $2)`, fmt.Sprintf("fill-%d-%d", c, r), payload); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				writerDone <- err
				return
			}
			select {
			case committed <- struct{}{}:
			case <-stop:
				writerDone <- nil
				return
			}
		}
		writerDone <- nil
	}()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			_ = db.QueryRowContext(ctx, `SELECT count(*) FROM bb_meta`).Scan(&n)
		}
	}()
	wal := path + "-wal"
	var largest int64
	n := 0
	for range committed {
		n++
		if n%commitsPerRound != 0 {
			continue
		}
		// Not waiting for the writer: the checkpoint meets commits in
		// flight, as it does in production.
		db.Checkpoint()
		if st, err := os.Stat(wal); err == nil {
			largest = max(largest, st.Size())
		}
	}
	close(stop)
	<-readerDone
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	// Between two checkpoints 10 commits write about 1 MB of pages;
	// allow a few times that.
	if largest > 16<<20 {
		t.Fatalf("SQLite's log reached %d MB while %d commits (about 60 MB of pages) went on beside the checkpointer: it is never started again from the beginning", largest>>20, rounds*commitsPerRound)
	}
	t.Logf("largest log %.1f MB", float64(largest)/(1<<20))
}
