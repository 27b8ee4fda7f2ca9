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

// ClaimInboxEvent starts an attempt at a room's oldest pending event: when
// it is due at now, its attempt count is raised (and committed) before the
// caller runs any code for it, so an event that kills the process mid-way
// still counts as tried and cannot crash every restart for ever. It returns
// nil when the room has nothing pending, and the head event unclaimed
// (RetryAt > now, Attempts unchanged) when it waits for a retry.
func (db *DB) ClaimInboxEvent(ctx context.Context, roomID string, now int64) (*InboxEvent, error) {
	var e *InboxEvent
	// The claim is committed with other rooms' work of the moment.
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) (err error) {
		e, err = db.ClaimDueInboxEvent(ctx, tx, roomID, now)
		return err
	})
	if err != nil || e != nil {
		return e, err
	}
	// Nothing claimed: the room is empty or its head waits for a retry.
	e, err = scanInboxEvent(db.QueryRowContext(ctx, `SELECT `+inboxColumns+`
		FROM inbox`+db.indexedBy("inbox_pending_idx")+` WHERE room_id = $1 AND status = 'pending' ORDER BY seq LIMIT 1`, roomID))
	if err != nil {
		return nil, fmt.Errorf("read next inbox event: %w", err)
	}
	return e, nil
}

// ClaimDueInboxEvent is ClaimInboxEvent's claim alone: the room's oldest
// pending event, if it is due at now, with its attempt counted; nil
// otherwise. The dispatcher runs it in the transaction that commits the
// room's previous event, so counting attempts costs no commit of its own.
func (db *DB) ClaimDueInboxEvent(ctx context.Context, q Querier, roomID string, now int64) (*InboxEvent, error) {
	e, err := scanInboxEvent(q.QueryRowContext(ctx, `UPDATE inbox SET attempts = attempts + 1
		WHERE seq = (SELECT min(seq) FROM inbox`+db.indexedBy("inbox_pending_idx")+` WHERE room_id = $1 AND status = 'pending')
			AND status = 'pending' AND retry_at <= $2
		RETURNING `+inboxColumns, roomID, now))
	if err != nil {
		return nil, fmt.Errorf("claim inbox event: %w", err)
	}
	return e, nil
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

// FailInboxEvent records the outcome of a failed attempt claimed with
// ClaimInboxEvent (which counted it): the event stays pending until
// retryAt, or is parked with reason.
func FailInboxEvent(ctx context.Context, tx Querier, seq int64, retryAt int64, reason string, park bool) error {
	status := "pending"
	if park {
		status = "parked"
	}
	_, err := tx.ExecContext(ctx, `UPDATE inbox SET retry_at = $1, last_error = $2, status = $3
		WHERE seq = $4 AND status = 'pending'`, retryAt, Clean(reason), status, seq)
	if err != nil {
		return fmt.Errorf("record inbox failure: %w", err)
	}
	return nil
}

// UnclaimInboxEvent takes back the attempt ClaimInboxEvent counted, for
// an event that was not really tried (the process is stopping, or the
// event waits for something outside it such as its bot being registered),
// and keeps it pending until retryAt with reason as its last error (kept
// as it was when reason is empty).
func UnclaimInboxEvent(ctx context.Context, q Querier, seq int64, retryAt int64, reason string) error {
	_, err := q.ExecContext(ctx, `UPDATE inbox SET attempts = attempts - 1, retry_at = $1,
			last_error = CASE WHEN $2 = '' THEN last_error ELSE $2 END
		WHERE seq = $3 AND status = 'pending' AND attempts > 0`, retryAt, Clean(reason), seq)
	if err != nil {
		return fmt.Errorf("give back inbox attempt: %w", err)
	}
	return nil
}
