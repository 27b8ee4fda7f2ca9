package faults

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
)

// CheckOnce fails t when an event produced more than one outbox row or
// when the database recorded another number of transactions than txns. It
// returns how many events had several outbox rows.
func CheckOnce(t testing.TB, db *store.DB, txns int) int {
	t.Helper()
	var multi, seen int
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT cause_event_id FROM outbox
		WHERE cause_event_id <> '' GROUP BY cause_event_id HAVING count(*) > 1) m`).Scan(&multi); err != nil {
		t.Fatal(err)
	}
	if multi != 0 {
		t.Errorf("%d messages produced more than one outbox row", multi)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM as_txn`).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	if seen != txns {
		t.Errorf("%d transactions recorded, want %d", seen, txns)
	}
	return multi
}

// Queues counts the inbox and outbox rows by status; both are nil when
// the database does not answer within 5 s (it may be away on purpose).
func Queues(db *store.DB) (inbox, outbox map[string]int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	inbox, err1 := db.InboxCounts(ctx)
	outbox, err2 := db.OutboxCounts(ctx)
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	return inbox, outbox
}

// Idle says whether nothing is pending in the inbox or the outbox.
func Idle(db *store.DB) bool {
	in, out := Queues(db)
	return in != nil && in["pending"] == 0 && out["pending"] == 0
}
