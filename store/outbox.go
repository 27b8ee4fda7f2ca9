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

// MarkOutboxSent records the event id the homeserver gave a sent row.
// No attempt is recorded before a send (see TakeLease), so a reply costs
// one commit, this one.
func (db *DB) MarkOutboxSent(ctx context.Context, id int64, eventID string) error {
	now := Now()
	// Committed with other rooms' sender records of the moment, in one
	// statement for every row the group records.
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) error {
		markOutboxLater(ctx, outboxMark{id: id, eventID: eventID, sentAt: now})
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark outbox row sent: %w", err)
	}
	return nil
}

// markOutboxSent records row id as sent as eventID at now.
func markOutboxSent(ctx context.Context, tx Tx, id int64, eventID string, now int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'sent', event_id = $1, sent_at = $2
		WHERE id = $3 AND status = 'pending'`, eventID, now, id)
	return err
}

// MarkOutboxFailed records a row that can never be sent, with the reason
// and the number of attempts made (0: refused before any).
func (db *DB) MarkOutboxFailed(ctx context.Context, id int64, attempts int, reason string) error {
	_, err := db.ExecContext(ctx, `UPDATE outbox SET status = 'failed', last_error = $1,
			attempts = CASE WHEN attempts < $2 THEN $2 ELSE attempts END
		WHERE id = $3 AND status = 'pending'`, reason, attempts, id)
	if err != nil {
		return fmt.Errorf("mark outbox row failed: %w", err)
	}
	return nil
}

// RetryOutboxRow records a failed attempt, the row's attempts-th, and when
// to try again.
func (db *DB) RetryOutboxRow(ctx context.Context, id int64, attempts int, retryAt int64, reason string) error {
	_, err := db.ExecContext(ctx, `UPDATE outbox SET retry_at = $1, last_error = $2,
			attempts = CASE WHEN attempts < $3 THEN $3 ELSE attempts END
		WHERE id = $4 AND status = 'pending'`, retryAt, reason, attempts, id)
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
