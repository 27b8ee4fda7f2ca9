package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// What an admin sees of the queues and what they can re-queue: the
// queries behind `bizbots status`, `bizbots retry` and the queue gauges.
// Nothing here runs on the hot path.

// Status is a snapshot of the work bizbots holds, per bot and in total. It
// is what `bizbots status --json` prints (and what an admin API serves).
type Status struct {
	// At is when the snapshot was taken (Unix ms); ages are relative to it.
	At     int64        `json:"at"`
	Inbox  QueueSummary `json:"inbox"`
	Outbox QueueSummary `json:"outbox"`
	Bots   []BotStatus  `json:"bots"`
	Parked []StuckRow   `json:"parked_events"`
	Failed []StuckRow   `json:"failed_replies"`
	// Limit is how many parked events and failed replies are listed at
	// most (the newest); the counts are always complete.
	Limit int `json:"limit"`
}

// QueueSummary counts one queue's rows that are not done.
type QueueSummary struct {
	// Waiting rows are pending: not yet handled (inbox) or sent (outbox),
	// retries included.
	Waiting int `json:"waiting"`
	// OldestWaitingSeconds is the age of the oldest waiting row, 0 if none.
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
	// Stuck rows need an admin: parked events (inbox) or failed replies
	// (outbox).
	Stuck int `json:"stuck"`
}

// BotStatus is one bot's share. Inbox rows are a room's, not a bot's: an
// event counts for every bot in its room; events in rooms no bot is in yet
// (an invite not handled yet) count under Bot "".
type BotStatus struct {
	Bot       string `json:"bot"`
	Rooms     int    `json:"rooms"`
	Customers int    `json:"customers"`
	// EventsWaiting and its oldest age: received, not yet handled.
	EventsWaiting          int     `json:"events_waiting"`
	OldestEventWaitSeconds float64 `json:"oldest_event_wait_seconds"`
	// RepliesWaiting and its oldest age: committed, not yet sent.
	RepliesWaiting         int     `json:"replies_waiting"`
	OldestReplyWaitSeconds float64 `json:"oldest_reply_wait_seconds"`
	// LastReplyError is why the oldest waiting reply is still waiting
	// (the homeserver's last answer), empty when it has not failed.
	LastReplyError string `json:"last_reply_error,omitempty"`
	ParkedEvents   int    `json:"parked_events"`
	FailedReplies  int    `json:"failed_replies"`
}

// StuckRow is a parked event or a failed reply.
type StuckRow struct {
	// ID is the inbox seq (events) or the outbox id (replies): what
	// `bizbots retry --event/--reply` takes.
	ID     int64  `json:"id"`
	Bot    string `json:"bot"`
	RoomID string `json:"room_id"`
	Type   string `json:"type"`
	// At is when it was received (events) or committed (replies), Unix ms.
	At       int64  `json:"at"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
}

// DefaultStatusLimit is how many parked events and failed replies Status
// lists when asked for no other number.
const DefaultStatusLimit = 50

// Status reports the queues per bot. bots are the configured bot user ids:
// they are listed even with nothing to report. limit caps the listed
// parked events and failed replies (≤ 0: DefaultStatusLimit).
func (db *DB) Status(ctx context.Context, bots []string, limit int) (*Status, error) {
	if limit <= 0 {
		limit = DefaultStatusLimit
	}
	now := Now()
	st := &Status{At: now, Limit: limit, Parked: []StuckRow{}, Failed: []StuckRow{}}
	byBot := map[string]*BotStatus{}
	bot := func(id string) *BotStatus {
		b := byBot[id]
		if b == nil {
			b = &BotStatus{Bot: id}
			byBot[id] = b
		}
		return b
	}
	for _, b := range bots {
		bot(b)
	}
	age := func(at int64) float64 {
		if at <= 0 {
			return 0
		}
		return float64(max(now-at, 0)) / 1000
	}
	type perBot struct {
		q    string
		scan func(b string, n int, oldest int64)
	}
	for _, p := range []perBot{
		{`SELECT bot_user_id, count(*), 0 FROM bot_rooms WHERE membership = 'join' GROUP BY bot_user_id`,
			func(b string, n int, _ int64) { bot(b).Rooms = n }},
		{`SELECT bot_user_id, count(*), 0 FROM customers GROUP BY bot_user_id`,
			func(b string, n int, _ int64) { bot(b).Customers = n }},
		{`SELECT COALESCE(r.bot_user_id, ''), count(*), min(i.received_at) FROM inbox i
			LEFT JOIN bot_rooms r ON r.room_id = i.room_id WHERE i.status = 'pending' GROUP BY COALESCE(r.bot_user_id, '')`,
			func(b string, n int, oldest int64) {
				bot(b).EventsWaiting, bot(b).OldestEventWaitSeconds = n, age(oldest)
			}},
		{`SELECT COALESCE(r.bot_user_id, ''), count(*), 0 FROM inbox i
			LEFT JOIN bot_rooms r ON r.room_id = i.room_id WHERE i.status = 'parked' GROUP BY COALESCE(r.bot_user_id, '')`,
			func(b string, n int, _ int64) { bot(b).ParkedEvents = n }},
		{`SELECT bot_user_id, count(*), min(created_at) FROM outbox WHERE status = 'pending' GROUP BY bot_user_id`,
			func(b string, n int, oldest int64) {
				bot(b).RepliesWaiting, bot(b).OldestReplyWaitSeconds = n, age(oldest)
			}},
		{`SELECT bot_user_id, count(*), 0 FROM outbox WHERE status = 'failed' GROUP BY bot_user_id`,
			func(b string, n int, _ int64) { bot(b).FailedReplies = n }},
	} {
		if err := scanGroups(ctx, db, p.q, p.scan); err != nil {
			return nil, err
		}
	}
	// Why each bot's oldest waiting reply waits.
	rows, err := db.QueryContext(ctx, `SELECT o.bot_user_id, o.last_error FROM outbox o
		WHERE o.status = 'pending' AND o.last_error <> ''
		AND o.id = (SELECT min(p.id) FROM outbox p WHERE p.bot_user_id = o.bot_user_id AND p.status = 'pending')`)
	if err != nil {
		return nil, fmt.Errorf("status: read reply errors: %w", err)
	}
	for rows.Next() {
		var b, reason string
		if err := rows.Scan(&b, &reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("status: read reply errors: %w", err)
		}
		bot(b).LastReplyError = reason
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("status: read reply errors: %w", err)
	}

	if st.Inbox, err = db.queueSummary(ctx, QueueInbox, now); err != nil {
		return nil, err
	}
	if st.Outbox, err = db.queueSummary(ctx, QueueOutbox, now); err != nil {
		return nil, err
	}
	if st.Parked, err = db.stuckRows(ctx, `SELECT i.seq, COALESCE(r.bot_user_id, ''), i.room_id, i.event_type, i.received_at, i.attempts, i.last_error
		FROM inbox i LEFT JOIN bot_rooms r ON r.room_id = i.room_id
		WHERE i.status = 'parked' ORDER BY i.seq DESC LIMIT $1`, limit); err != nil {
		return nil, err
	}
	if st.Failed, err = db.stuckRows(ctx, `SELECT id, bot_user_id, room_id, event_type, created_at, attempts, last_error
		FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT $1`, limit); err != nil {
		return nil, err
	}
	for _, b := range byBot {
		if b.Bot == "" && b.EventsWaiting == 0 && b.ParkedEvents == 0 {
			continue // every waiting event is in a room a bot is in
		}
		st.Bots = append(st.Bots, *b)
	}
	sort.Slice(st.Bots, func(i, j int) bool { return st.Bots[i].Bot < st.Bots[j].Bot })
	return st, nil
}

// scanGroups runs a query of (bot, count, oldest) rows.
func scanGroups(ctx context.Context, q Querier, query string, fn func(bot string, n int, oldest int64)) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b      string
			n      int
			oldest int64
		)
		if err := rows.Scan(&b, &n, &oldest); err != nil {
			return fmt.Errorf("status: %w", err)
		}
		fn(b, n, oldest)
	}
	return rows.Err()
}

func (db *DB) stuckRows(ctx context.Context, query string, limit int) ([]StuckRow, error) {
	rows, err := db.QueryContext(ctx, query, limit)
	if err != nil {
		return nil, fmt.Errorf("status: list stuck work: %w", err)
	}
	defer rows.Close()
	out := []StuckRow{}
	for rows.Next() {
		var r StuckRow
		if err := rows.Scan(&r.ID, &r.Bot, &r.RoomID, &r.Type, &r.At, &r.Attempts, &r.Reason); err != nil {
			return nil, fmt.Errorf("status: list stuck work: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// QueueDepths summarises both queues (for the gauges, which are read at
// every scrape: three cheap aggregates per queue, no per-bot split).
func (db *DB) QueueDepths(ctx context.Context) (inbox, outbox QueueSummary, err error) {
	now := Now()
	if inbox, err = db.queueSummary(ctx, QueueInbox, now); err != nil {
		return inbox, outbox, err
	}
	outbox, err = db.queueSummary(ctx, QueueOutbox, now)
	return inbox, outbox, err
}

func (db *DB) queueSummary(ctx context.Context, queue string, now int64) (QueueSummary, error) {
	var q string
	switch queue {
	case QueueInbox:
		q = `SELECT (SELECT count(*) FROM inbox WHERE status = 'pending'),
			(SELECT COALESCE(min(received_at), 0) FROM inbox WHERE status = 'pending'),
			(SELECT count(*) FROM inbox WHERE status = 'parked')`
	case QueueOutbox:
		q = `SELECT (SELECT count(*) FROM outbox WHERE status = 'pending'),
			(SELECT COALESCE(min(created_at), 0) FROM outbox WHERE status = 'pending'),
			(SELECT count(*) FROM outbox WHERE status = 'failed')`
	default:
		return QueueSummary{}, fmt.Errorf("unknown queue %q", queue)
	}
	var s QueueSummary
	var oldest int64
	if err := db.QueryRowContext(ctx, q).Scan(&s.Waiting, &oldest, &s.Stuck); err != nil {
		return s, fmt.Errorf("summarise %s: %w", queue, err)
	}
	if oldest > 0 {
		s.OldestWaitingSeconds = float64(max(now-oldest, 0)) / 1000
	}
	return s, nil
}

// Selection is what an admin re-queues: one row by id, one room's rows, or
// all of them. Exactly one of the three is set.
type Selection struct {
	ID     int64
	RoomID string
	All    bool
}

// ErrBadSelection means a Selection names none or more than one of id,
// room and all.
var ErrBadSelection = errors.New("select exactly one of an id, a room or all")

func (s Selection) check() error {
	n := 0
	if s.ID > 0 {
		n++
	}
	if s.RoomID != "" {
		n++
	}
	if s.All {
		n++
	}
	if n != 1 {
		return ErrBadSelection
	}
	return nil
}

// RequeueBatch is how many rows one statement re-queues, so a large retry
// neither holds SQLite's write lock for long nor goes without progress.
const RequeueBatch = 500

// RequeueFailedReplies puts failed outbox rows back to pending, to be sent
// in their room's order at the sender's next poll. Their attempt count is
// kept, so the sender first looks for an earlier delivery before sending
// again. progress, when not nil, is told after each batch. It returns how
// many rows were re-queued.
func (db *DB) RequeueFailedReplies(ctx context.Context, sel Selection, progress func(done, total int)) (int, error) {
	return db.requeue(ctx, sel, progress, "outbox", "id", "failed",
		`status = 'pending', retry_at = 0, last_error = ''`)
}

// RequeueParkedEvents puts parked inbox events back to pending with a fresh
// attempt count; the dispatcher handles them at its next poll, before the
// room's later pending events (a re-queued event is handled out of its
// original order: the events after it were handled while it was parked).
// progress and the result are as for RequeueFailedReplies.
func (db *DB) RequeueParkedEvents(ctx context.Context, sel Selection, progress func(done, total int)) (int, error) {
	return db.requeue(ctx, sel, progress, "inbox", "seq", "parked",
		`status = 'pending', attempts = 0, retry_at = 0, last_error = '', handled_at = NULL`)
}

func (db *DB) requeue(ctx context.Context, sel Selection, progress func(done, total int), table, key, status, set string) (int, error) {
	if err := sel.check(); err != nil {
		return 0, err
	}
	where := `status = '` + status + `'`
	var arg any
	switch {
	case sel.ID > 0:
		where += ` AND ` + key + ` = $1`
		arg = sel.ID
	case sel.RoomID != "":
		where += ` AND room_id = $1`
		arg = sel.RoomID
	default:
		where += ` AND $1 = 1`
		arg = 1
	}
	var total int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE `+where, arg).Scan(&total); err != nil {
		return 0, fmt.Errorf("count %s %s rows: %w", status, table, err)
	}
	done := 0
	for done < total {
		res, err := db.ExecContext(ctx, `UPDATE `+table+` SET `+set+` WHERE `+key+` IN
			(SELECT `+key+` FROM `+table+` WHERE `+where+` ORDER BY `+key+` LIMIT `+fmt.Sprint(RequeueBatch)+`)`, arg)
		if err != nil {
			return done, fmt.Errorf("re-queue %s %s rows: %w", status, table, err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			break // someone else re-queued or pruned the rest
		}
		done += int(n)
		if progress != nil {
			progress(done, max(total, done))
		}
	}
	return done, nil
}
