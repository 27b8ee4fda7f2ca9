package store

import (
	"context"
	"database/sql"
	"fmt"
)

// OutgoingEvent is a message a bot will send; appended by handlers'
// commits, delivered by the sender.
type OutgoingEvent struct {
	RoomID       string
	BotUserID    string
	Type         string
	Content      []byte
	CauseEventID string
	Meta         []byte
	// ParentIndex, when ≥ 0, points at an earlier entry of the same
	// AppendOutbox call whose sent event id fills m.relates_to.event_id.
	ParentIndex int
}

// OutboxRow is one stored outgoing event.
type OutboxRow struct {
	ID            int64
	RoomID        string
	BotUserID     string
	Type          string
	Content       []byte
	ParentID      *int64
	ParentEventID string
	ParentStatus  string
	CauseEventID  string
	Attempts      int
	RetryAt       int64
	CreatedAt     int64
}

// AppendOutbox inserts events in order inside tx and returns their ids.
func AppendOutbox(ctx context.Context, tx Querier, events []OutgoingEvent) ([]int64, error) {
	ids := make([]int64, len(events))
	now := Now()
	for i, e := range events {
		var parent *int64
		if e.ParentIndex >= 0 {
			if e.ParentIndex >= i {
				return nil, fmt.Errorf("outbox entry %d: parent %d is not earlier", i, e.ParentIndex)
			}
			parent = &ids[e.ParentIndex]
		}
		meta := string(e.Meta)
		err := tx.QueryRowContext(ctx, `INSERT INTO outbox (room_id, bot_user_id, event_type, content, parent_id, cause_event_id, meta, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			e.RoomID, e.BotUserID, e.Type, string(e.Content), parent, e.CauseEventID, meta, now).Scan(&ids[i])
		if err != nil {
			return nil, fmt.Errorf("append to outbox: %w", err)
		}
	}
	return ids, nil
}

// PendingOutboxRows returns up to limit of a room's pending rows, oldest
// first, each with its parent's sent event id when the parent was sent.
func (db *DB) PendingOutboxRows(ctx context.Context, roomID string, limit int) ([]*OutboxRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT o.id, o.room_id, o.bot_user_id, o.event_type, o.content, o.parent_id,
			p.event_id, p.status, o.cause_event_id, o.attempts, o.retry_at, o.created_at
		FROM outbox o`+db.indexedBy("outbox_pending_idx")+` LEFT JOIN outbox p ON p.id = o.parent_id
		WHERE o.room_id = $1 AND o.status = 'pending' ORDER BY o.id LIMIT $2`, roomID, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending outbox rows: %w", err)
	}
	defer rows.Close()
	var out []*OutboxRow
	for rows.Next() {
		var r OutboxRow
		var content string
		var parentEvent, parentStatus sql.NullString
		if err := rows.Scan(&r.ID, &r.RoomID, &r.BotUserID, &r.Type, &content, &r.ParentID,
			&parentEvent, &parentStatus, &r.CauseEventID, &r.Attempts, &r.RetryAt, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("read pending outbox rows: %w", err)
		}
		r.Content = []byte(content)
		r.ParentEventID = parentEvent.String
		r.ParentStatus = parentStatus.String
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read pending outbox rows: %w", err)
	}
	return out, nil
}

// MarkOutboxAttempt counts a send attempt before it is made, so after a
// crash the sender knows an earlier attempt's outcome is unknown.
func (db *DB) MarkOutboxAttempt(ctx context.Context, id int64) error {
	// Committed with other rooms' sender bookkeeping of the moment.
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) error {
		return markOutboxLater(ctx, tx, outboxMark{id: id})
	})
	if err != nil {
		return fmt.Errorf("count outbox attempt: %w", err)
	}
	return nil
}

// MarkOutboxSent records the event id the homeserver gave a sent row.
func (db *DB) MarkOutboxSent(ctx context.Context, id int64, eventID string) error {
	return db.MarkOutboxSentThenAttempt(ctx, id, eventID, 0)
}

// MarkOutboxSentThenAttempt is MarkOutboxSent that also counts, in the
// same commit, the attempt about to be made of the room's next row
// (next; 0: none), as MarkOutboxAttempt would in a commit of its own.
func (db *DB) MarkOutboxSentThenAttempt(ctx context.Context, id int64, eventID string, next int64) error {
	now := Now()
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) error {
		// One statement for every row the group records.
		if err := markOutboxLater(ctx, tx, outboxMark{id: id, sent: true, eventID: eventID, sentAt: now}); err != nil || next == 0 {
			return err
		}
		return markOutboxLater(ctx, tx, outboxMark{id: next})
	})
	if err != nil {
		return fmt.Errorf("mark outbox row sent: %w", err)
	}
	return nil
}

// markOutboxSent records row id as sent as eventID at now and counts the
// attempt of row next (0: none), in one statement (no row has id 0).
func markOutboxSent(ctx context.Context, tx Tx, id int64, eventID string, now, next int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET
			status = CASE WHEN id = $1 THEN 'sent' ELSE status END,
			event_id = CASE WHEN id = $1 THEN $2 ELSE event_id END,
			sent_at = CASE WHEN id = $1 THEN $3 ELSE sent_at END,
			attempts = CASE WHEN id = $1 THEN attempts ELSE attempts + 1 END
		WHERE id IN ($1, $4) AND status = 'pending'`, id, eventID, now, next)
	return err
}

// MarkOutboxFailed records a row that can never be sent, with the reason.
func (db *DB) MarkOutboxFailed(ctx context.Context, id int64, reason string) error {
	_, err := db.ExecContext(ctx, `UPDATE outbox SET status = 'failed', last_error = $1
		WHERE id = $2 AND status = 'pending'`, reason, id)
	if err != nil {
		return fmt.Errorf("mark outbox row failed: %w", err)
	}
	return nil
}

// RetryOutboxRow records a failed attempt and when to try again.
func (db *DB) RetryOutboxRow(ctx context.Context, id int64, retryAt int64, reason string) error {
	_, err := db.ExecContext(ctx, `UPDATE outbox SET retry_at = $1, last_error = $2
		WHERE id = $3 AND status = 'pending'`, retryAt, reason, id)
	if err != nil {
		return fmt.Errorf("record outbox failure: %w", err)
	}
	return nil
}

// OutboxCounts reports how many rows are in each status.
func (db *DB) OutboxCounts(ctx context.Context) (map[string]int, error) {
	return countByStatus(ctx, db, "outbox")
}

// MatrixTxnID is the transaction id the sender uses for outbox row id: the
// same on every resend, different across databases.
func (db *DB) MatrixTxnID(id int64) string {
	return fmt.Sprintf("bb.%s.%d", db.InstallID, id)
}
