package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Origins of inbox rows: only the timers table writes OriginTimer.
const (
	OriginHomeserver = "homeserver"
	OriginTimer      = "timer"
)

// NextInboxEvent returns a room's oldest pending event (nil when there is
// none), whether it is due or waits for a retry (RetryAt). Reading it
// writes nothing: an event's attempts count the attempts known to have
// failed, and a process that dies while handling one has it counted by
// whoever takes the room over (see TakeLease), so an event that kills
// every process that runs it is still given up after a bounded number of
// deaths, without a commit before every event.
func (db *DB) NextInboxEvent(ctx context.Context, roomID string) (*InboxEvent, error) {
	e, err := scanInboxEvent(db.QueryRowContext(ctx, `SELECT `+inboxColumns+`
		FROM inbox`+db.indexedBy("inbox_pending_idx")+` WHERE room_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1`, roomID))
	if err != nil {
		return nil, fmt.Errorf("read next inbox event: %w", err)
	}
	return e, nil
}

// NextDueInboxEvent is a room's oldest pending event if it is due at now,
// nil otherwise, read in q (the dispatcher reads it in the transaction
// that commits the room's previous event).
func (db *DB) NextDueInboxEvent(ctx context.Context, q Querier, roomID string, now int64) (*InboxEvent, error) {
	e, err := scanInboxEvent(q.QueryRowContext(ctx, `SELECT `+inboxColumns+` FROM inbox WHERE `+db.dueHead(), roomID, now))
	if err != nil {
		return nil, fmt.Errorf("read next inbox event: %w", err)
	}
	return e, nil
}

// dueHead is the condition on inbox rows that finds room $1's oldest
// pending event if it is due at $2.
//
// A room's first pending row is read with ORDER BY … LIMIT 1, here and in
// the finish statements, not min(): without fresh statistics (autovacuum
// off, or not yet run on a growing table) Postgres computes min() by
// reading every entry of the room in the pending index, which keeps one
// for each row that was pending until it is vacuumed: about 100 entries
// and heap pages an event in the benchmark.
func (db *DB) dueHead() string {
	return `seq = (SELECT seq FROM inbox` + db.indexedBy("inbox_pending_idx") + ` WHERE room_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1)
		AND status = 'pending' AND retry_at <= $2`
}

const inboxColumns = `seq, event_id, room_id, sender, event_type, state_key, origin_ts, event,
	txn_id, received_at, attempts, retry_at, origin`

// scanInboxEvent scans one row of inboxColumns; nil when there is none.
func scanInboxEvent(row *sql.Row) (*InboxEvent, error) {
	var n nullInboxEvent
	err := row.Scan(n.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return n.event(), nil
}

// FailInboxEvent records a failed attempt (the event's attempts count
// it): the event stays pending until retryAt, or is parked with reason.
func FailInboxEvent(ctx context.Context, tx Querier, seq int64, retryAt int64, reason string, park bool) error {
	status := "pending"
	if park {
		status = "parked"
	}
	_, err := tx.ExecContext(ctx, `UPDATE inbox SET attempts = attempts + 1, retry_at = $1, last_error = $2, status = $3
		WHERE seq = $4 AND status = 'pending'`, retryAt, Clean(reason), status, seq)
	if err != nil {
		return fmt.Errorf("record inbox failure: %w", err)
	}
	return nil
}

// PostponeInboxEvent keeps an event that was not really tried (the
// process is stopping, the event waits for something outside it such as
// its bot being registered, or its handler chose a time) pending until
// retryAt, with reason as its last error (kept as it was when reason is
// empty). It counts no attempt.
func PostponeInboxEvent(ctx context.Context, q Querier, seq int64, retryAt int64, reason string) error {
	_, err := q.ExecContext(ctx, `UPDATE inbox SET retry_at = $1,
			last_error = CASE WHEN $2 = '' THEN last_error ELSE $2 END
		WHERE seq = $3 AND status = 'pending'`, retryAt, Clean(reason), seq)
	if err != nil {
		return fmt.Errorf("postpone inbox event: %w", err)
	}
	return nil
}
