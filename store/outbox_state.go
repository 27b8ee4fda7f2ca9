package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OutboxState is where one outbox row stands: pending, sent (with the
// event id the homeserver gave it) or failed (with why).
type OutboxState struct {
	Status    string
	EventID   string
	LastError string
	SentAt    int64
}

// LoadOutboxState reads the state of outbox row id; nil when there is
// none (pruned).
func LoadOutboxState(ctx context.Context, q Querier, id int64) (*OutboxState, error) {
	var s OutboxState
	var sentAt sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT status, event_id, last_error, sent_at FROM outbox WHERE id = $1`, id).
		Scan(&s.Status, &s.EventID, &s.LastError, &sentAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox row state: %w", err)
	}
	s.SentAt = sentAt.Int64
	return &s, nil
}

// BotInRoom says whether bot is joined to room.
func BotInRoom(ctx context.Context, q Querier, bot, room string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM bot_rooms WHERE bot_user_id = $1 AND room_id = $2 AND membership = 'join'`, bot, room).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check bot membership: %w", err)
	}
	return n > 0, nil
}
