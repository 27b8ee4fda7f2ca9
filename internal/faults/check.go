package faults

import (
	"context"
	"testing"

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
