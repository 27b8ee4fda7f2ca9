package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// TimerEventType is the inbox event type of a fired timer.
const TimerEventType = "org.bizbots.timer"

// EndTimerName names the timer that tells a bot's handler its
// conversation was closed by staff (its payload is the reason): the
// dispatcher gives it to handlers.Ender, never to Handle.
const EndTimerName = "org.bizbots.ended"

// AddTimer schedules a timer for a conversation.
func AddTimer(ctx context.Context, q Querier, bot, room, user, name, payload string, dueAt int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO timers (bot_user_id, room_id, user_id, name, payload, due_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, bot, room, user, name, payload, dueAt, Now())
	if err != nil {
		return fmt.Errorf("add timer: %w", err)
	}
	return nil
}

// FireDueTimers moves up to limit timers due at now into the inbox as events of
// type TimerEventType, each in one transaction with marking it fired, so a
// timer fires exactly once even with several processes. It returns how
// many fired.
func (db *DB) FireDueTimers(ctx context.Context, now int64, limit int) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, bot_user_id, room_id, user_id, name, payload, due_at
		FROM timers WHERE status = 'pending' AND due_at <= $1 ORDER BY due_at LIMIT $2`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("read due timers: %w", err)
	}
	type timer struct {
		id                             int64
		bot, room, user, name, payload string
		due                            int64
	}
	var due []timer
	for rows.Next() {
		var t timer
		if err := rows.Scan(&t.id, &t.bot, &t.room, &t.user, &t.name, &t.payload, &t.due); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fired := 0
	for _, t := range due {
		eventID := fmt.Sprintf("$bizbots-timer-%s-%d", db.InstallID, t.id)
		raw, _ := json.Marshal(map[string]any{
			"type": TimerEventType, "event_id": eventID, "room_id": t.room, "sender": t.user,
			"origin_server_ts": t.due,
			"content":          map[string]string{"bot": t.bot, "name": t.name, "payload": t.payload},
		})
		err := db.Tx(ctx, func(tx Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE timers SET status = 'fired' WHERE id = $1 AND status = 'pending'`, t.id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil // another process fired it
			}
			fired++
			_, err = tx.ExecContext(ctx, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at, origin)
				VALUES ($1, $2, $3, $4, $5, $6, 'timer', $7, $8) ON CONFLICT (event_id) DO NOTHING`,
				eventID, t.room, t.user, TimerEventType, t.due, string(raw), Now(), OriginTimer)
			return err
		})
		if err != nil {
			return fired, fmt.Errorf("fire timer %d: %w", t.id, err)
		}
	}
	return fired, nil
}
