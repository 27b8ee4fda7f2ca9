package store

import (
	"context"
	"fmt"
)

// RetryEvent makes the inbox event eventID of room due again now, for the
// business console's retry button: an event waiting for its next retry
// keeps its attempt count; one already handled (a delivery given up) or
// parked starts afresh. Like RequeueParkedEvents, an event handled again
// is handled out of its room's order. It reports false when there is no
// such event, or it is due already.
func RetryEvent(ctx context.Context, q Querier, room, eventID string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE inbox SET retry_at = 0, last_error = '', handled_at = NULL,
			attempts = CASE WHEN status = 'pending' THEN attempts ELSE 0 END, status = 'pending'
		WHERE event_id = $1 AND room_id = $2 AND (status <> 'pending' OR retry_at > 0)`, eventID, room)
	if err != nil {
		return false, fmt.Errorf("retry event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("retry event: %w", err)
	}
	return n == 1, nil
}
