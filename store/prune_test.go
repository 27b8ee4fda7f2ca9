package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// fillPrunable adds n old transaction ids, n handled inbox events and n sent
// outbox rows, every second one a reaction whose parent is the row before
// it (as a bot's question and its pre-added reaction are).
func fillPrunable(t *testing.T, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	series := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) `
	for _, q := range []string{
		series + `INSERT INTO as_txn (txn_id, received_at, event_count) SELECT 't' || i, 1, 1 FROM n`,
		series + `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at, status)
			SELECT '$e' || i, '!r' || (i % 100), '@a:x', 'm.room.message', 1, '{}', 't' || i, 1, 'done' FROM n`,
		series + `INSERT INTO outbox (room_id, bot_user_id, event_type, content, parent_id, status, event_id, created_at)
			SELECT '!r' || (i % 100), '@b:x', 'm.room.message', '{}', CASE WHEN i % 2 = 0 THEN i - 1 END, 'sent', '$s' || i, 1 FROM n`,
	} {
		if _, err := db.ExecContext(ctx, q, n); err != nil {
			t.Fatalf("fill %d rows: %v", n, err)
		}
	}
}

// The hourly prune deletes a week of bookkeeping in short batches, and its
// time grows with the rows deleted: deleting an outbox row used to scan
// the whole outbox for children (quadratic: 5 k rows 3.4 s, 20 k 35 s, all
// under SQLite's write lock so intake answered 500).
func TestPruneGrowsLinearly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, _ *store.DB) {
		d := store.SQLite
		if t.Name()[len(t.Name())-len("postgres"):] == "postgres" {
			d = store.Postgres
		}
		// Each size is pruned twice on fresh data and the faster run
		// counts, so one stall of a shared machine does not decide.
		took := map[int]time.Duration{}
		for _, n := range []int{5000, 20000} {
			for range 2 {
				db := storetest.New(t, d)
				fillPrunable(t, db, n)
				start := time.Now()
				p, err := db.Prune(context.Background(), 2)
				elapsed := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if p.Transactions != int64(n) || p.Inbox != int64(n) || p.Outbox != int64(n) {
					t.Fatalf("pruned %+v, want %d of each", p, n)
				}
				// Every delete takes at most PruneBatch rows, in its own
				// transaction.
				if want := 3 * ((n + store.PruneBatch - 1) / store.PruneBatch); p.Batches != want {
					t.Errorf("%d rows pruned in %d batches, want %d", n, p.Batches, want)
				}
				if took[n] == 0 || elapsed < took[n] {
					took[n] = elapsed
				}
				t.Logf("%s: pruned %d rows of each table in %v (%d batches)", d, n, elapsed, p.Batches)
			}
		}
		// Four times the rows: linear is about 4×, quadratic 16×. This
		// machine is shared and its load swings, so the bound only catches
		// a return to quadratic; the exact guards are the batch count above
		// and TestHotPathQueriesUseIndexes (the foreign key's SET NULL and
		// every prune statement go through an index).
		if ratio := float64(took[20000]) / float64(took[5000]); ratio > 12 {
			t.Errorf("pruning 20 k rows took %.1f× as long as 5 k (%v vs %v): not linear", ratio, took[20000], took[5000])
		}
	})
}
