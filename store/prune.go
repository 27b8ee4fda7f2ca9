package store

import (
	"context"
	"fmt"
	"time"
)

// Pruned counts what Prune deleted.
type Pruned struct {
	Transactions, Inbox, Outbox int64
	// Batches is how many delete statements (each its own short
	// transaction) the prune ran.
	Batches int
}

// PruneBatch is how many rows one prune statement deletes at most. Each
// batch is its own transaction, so on SQLite the write lock intake needs
// is held for one batch at a time (milliseconds), never for the whole
// prune.
const PruneBatch = 500

// pruneYield is the pause between two prune batches, in which intake and
// the workers get the database (SQLite's write lock) first.
const pruneYield = 5 * time.Millisecond

// pruneTable says how to prune one table by its primary key k. page finds
// the key range of the next batch after a cursor ($1 cursor, $2 before,
// $3 batch size): the first and last key and how many rows. del deletes
// the rows of that range that are still prunable ($1 first, $2 last,
// $3 before), re-checking the condition because a row may have been
// requeued meanwhile. Walking the key in order means no statement reads
// what an earlier batch deleted (on Postgres those dead rows would be
// read again by every batch, making the prune quadratic once more).
type pruneTable struct {
	name      string
	textKey   bool
	count     func(*Pruned) *int64
	page, del string
}

var pruneTables = []pruneTable{
	{
		name: "as_txn", textKey: true, count: func(p *Pruned) *int64 { return &p.Transactions },
		page: `SELECT min(txn_id), max(txn_id), count(*) FROM (SELECT txn_id FROM as_txn
			WHERE txn_id > $1 AND received_at < $2 ORDER BY txn_id LIMIT $3) b`,
		del: `DELETE FROM as_txn WHERE txn_id >= $1 AND txn_id <= $2 AND received_at < $3`,
	},
	{
		name: "inbox", count: func(p *Pruned) *int64 { return &p.Inbox },
		page: `SELECT min(seq), max(seq), count(*) FROM (SELECT seq FROM inbox
			WHERE seq > $1 AND status <> 'pending' AND received_at < $2 ORDER BY seq LIMIT $3) b`,
		del: `DELETE FROM inbox WHERE seq >= $1 AND seq <= $2 AND status <> 'pending' AND received_at < $3`,
	},
	{
		// A row stays while a pending child still needs its event id.
		name: "outbox", count: func(p *Pruned) *int64 { return &p.Outbox },
		page: `SELECT min(id), max(id), count(*) FROM (SELECT o.id FROM outbox o
			WHERE o.id > $1 AND o.status <> 'pending' AND o.created_at < $2
			  AND NOT EXISTS (SELECT 1 FROM outbox c WHERE c.parent_id = o.id AND c.status = 'pending')
			ORDER BY o.id LIMIT $3) b`,
		del: `DELETE FROM outbox WHERE id >= $1 AND id <= $2 AND status <> 'pending' AND created_at < $3
			AND NOT EXISTS (SELECT 1 FROM outbox c WHERE c.parent_id = outbox.id AND c.status = 'pending')`,
	},
}

// Prune deletes bookkeeping older than before (Unix ms): transaction ids,
// handled or parked inbox events and sent or failed outbox rows. Pending
// work is never touched. Deduplication needs these rows only while a
// homeserver may still resend (minutes to hours), so a retention of days
// is safe; a reaction to a bot question older than that is no longer
// understood as an answer. It deletes in batches of at most PruneBatch
// rows, each in its own transaction, pausing between them, so its time
// grows with the rows it deletes and nothing waits for the whole prune.
func (db *DB) Prune(ctx context.Context, before int64) (Pruned, error) {
	var p Pruned
	for _, t := range pruneTables {
		if err := db.pruneTable(ctx, t, before, &p); err != nil {
			return p, fmt.Errorf("prune %s: %w", t.name, err)
		}
	}
	return p, nil
}

func (db *DB) pruneTable(ctx context.Context, t pruneTable, before int64, p *Pruned) error {
	var cursor any = int64(0)
	if t.textKey {
		cursor = ""
	}
	for {
		var first, last any
		var n int
		var err error
		if t.textKey {
			var f, l *string
			err = db.QueryRowContext(ctx, t.page, cursor, before, PruneBatch).Scan(&f, &l, &n)
			if f != nil {
				first, last = *f, *l
			}
		} else {
			var f, l *int64
			err = db.QueryRowContext(ctx, t.page, cursor, before, PruneBatch).Scan(&f, &l, &n)
			if f != nil {
				first, last = *f, *l
			}
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		res, err := db.ExecContext(ctx, t.del, first, last, before)
		if err != nil {
			return err
		}
		p.Batches++
		deleted, _ := res.RowsAffected()
		*t.count(p) += deleted
		if n < PruneBatch {
			return nil
		}
		cursor = last
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pruneYield):
		}
	}
}
