package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// QuestionAskedOf returns who a bot message in room was an answer to: the
// sender of the event that caused it (a customer's message, or the timer
// of their conversation). "" when nobody in particular: no cause (a
// welcome), or the cause already pruned or erased.
func QuestionAskedOf(ctx context.Context, q Querier, room, eventID string) (string, error) {
	var who string
	err := q.QueryRowContext(ctx, `SELECT i.sender FROM outbox o JOIN inbox i ON i.event_id = o.cause_event_id
		WHERE o.event_id = $1 AND o.room_id = $2 AND o.cause_event_id <> ''`, eventID, room).Scan(&who)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find who a question was for: %w", err)
	}
	return who, nil
}
