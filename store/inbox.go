package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// InboxEvent is one received event as stored in the inbox.
type InboxEvent struct {
	Seq        int64
	EventID    string
	RoomID     string
	Sender     string
	Type       string
	StateKey   *string
	OriginTS   int64
	JSON       []byte
	TxnID      string
	ReceivedAt int64
	Attempts   int
	RetryAt    int64
	// Origin says who made the row: OriginHomeserver (intake) or
	// OriginTimer (FireDueTimers). Only the latter is a fired timer.
	Origin string
}

// IncomingEvent is what intake appends for one event of a transaction.
type IncomingEvent struct {
	EventID  string
	RoomID   string
	Sender   string
	Type     string
	StateKey *string
	OriginTS int64
	JSON     []byte
}

// insertBatch is how many events go into one INSERT (9 parameters each,
// well under SQLite's and Postgres' limits).
const insertBatch = 100

// StoreTransaction records a homeserver transaction and appends its events
// to the inbox in one database transaction. Events already in the inbox
// (same event_id) are skipped, so a replay, or a resent txn id carrying
// extra events, adds each event exactly once. It returns how many events
// were new and whether the txn id had been seen before.
func (db *DB) StoreTransaction(ctx context.Context, txnID string, events []IncomingEvent) (added int, replay bool, err error) {
	now := Now()
	// Shared with the dispatcher's and sender's commits of the moment.
	err = db.GroupTx(ctx, func(ctx context.Context, tx Tx) error {
		added, replay = 0, false
		res, err := tx.ExecContext(ctx, `INSERT INTO as_txn (txn_id, received_at, event_count) VALUES ($1, $2, $3)
			ON CONFLICT (txn_id) DO NOTHING`, txnID, now, len(events))
		if err != nil {
			return fmt.Errorf("record txn: %w", err)
		}
		n, _ := res.RowsAffected()
		replay = n == 0
		if len(events) == 0 {
			return nil
		}
		// Multi-row inserts, a statement per batch: one round trip for a
		// typical transaction instead of one per event.
		for start := 0; start < len(events); start += insertBatch {
			batch := events[start:min(start+insertBatch, len(events))]
			var q strings.Builder
			q.WriteString(`INSERT INTO inbox (event_id, room_id, sender, event_type, state_key, origin_ts, event, txn_id, received_at) VALUES `)
			args := make([]any, 0, len(batch)*9)
			for i, e := range batch {
				if i > 0 {
					q.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
				args = append(args, e.EventID, e.RoomID, e.Sender, e.Type, e.StateKey, e.OriginTS, string(e.JSON), txnID, now)
			}
			q.WriteString(` ON CONFLICT (event_id) DO NOTHING`)
			res, err := tx.ExecContext(ctx, q.String(), args...)
			if err != nil {
				return fmt.Errorf("append events to inbox: %w", err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		if added == 0 {
			return nil
		}
		return db.notify(ctx, tx, ChannelInbox, RoomsOf(events))
	})
	return added, replay, err
}

// RoomsOf lists the rooms of events, each once, in order of appearance.
func RoomsOf(events []IncomingEvent) []string {
	seen := make(map[string]bool, len(events))
	var rooms []string
	for _, e := range events {
		if !seen[e.RoomID] {
			seen[e.RoomID] = true
			rooms = append(rooms, e.RoomID)
		}
	}
	return rooms
}

// PendingRooms lists up to limit rooms with work due now in queue, oldest
// work first. A room is due when its oldest pending row is: rows behind
// one waiting for a retry wait with it (order), so listing such a room
// would only make workers claim it and give it back in a busy loop.
func (db *DB) PendingRooms(ctx context.Context, queue string, limit int) ([]string, error) {
	return db.PendingRoomsAt(ctx, queue, Now(), limit)
}

// PendingRoomsAt is PendingRooms with the caller's clock (Unix ms): the
// dispatcher's, which handler tests move.
func (db *DB) PendingRoomsAt(ctx context.Context, queue string, now int64, limit int) ([]string, error) {
	// Only a room's head row counts: a head waiting for its retry keeps
	// the whole room waiting, to preserve order.
	var q string
	switch queue {
	case QueueInbox:
		q = `SELECT i.room_id FROM inbox i WHERE i.status = 'pending' AND i.retry_at <= $1
			AND i.seq = (SELECT min(j.seq) FROM inbox j WHERE j.room_id = i.room_id AND j.status = 'pending')
			ORDER BY i.seq LIMIT $2`
	case QueueOutbox:
		q = `SELECT o.room_id FROM outbox o WHERE o.status = 'pending' AND o.retry_at <= $1
			AND o.id = (SELECT min(p.id) FROM outbox p WHERE p.room_id = o.room_id AND p.status = 'pending')
			ORDER BY o.id LIMIT $2`
	default:
		return nil, fmt.Errorf("unknown queue %q", queue)
	}
	if db.Dialect == Postgres {
		q = pgPendingRooms(queue)
	}
	// A room's head comes from the pending index (see indexedBy).
	q = strings.Replace(q, "FROM inbox j", "FROM inbox j"+db.indexedBy("inbox_pending_idx"), 1)
	q = strings.Replace(q, "FROM outbox p", "FROM outbox p"+db.indexedBy("outbox_pending_idx"), 1)
	rows, err := db.QueryContext(ctx, q, now, limit)
	if err != nil {
		return nil, fmt.Errorf("list rooms with %s work: %w", queue, err)
	}
	defer rows.Close()
	var rooms []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	return rooms, rows.Err()
}

// pgPendingRooms is PendingRoomsAt's query on Postgres: it walks the
// queue's pending index (room, id) from room to room, one descent per room
// with work (a loose index scan), instead of checking every pending row
// against its room's head. Under a backlog of thousands of events in a few
// rooms the latter took 50 ms a poll; this costs what the rooms cost.
func pgPendingRooms(queue string) string {
	table, key := "inbox", "seq"
	if queue == QueueOutbox {
		table, key = "outbox", "id"
	}
	return strings.NewReplacer("TABLE", table, "KEY", key).Replace(`WITH RECURSIVE heads(room_id, head) AS (
			(SELECT room_id, KEY FROM TABLE WHERE status = 'pending' ORDER BY room_id, KEY LIMIT 1)
			UNION ALL
			SELECT n.room_id, n.KEY FROM heads h CROSS JOIN LATERAL (
				SELECT room_id, KEY FROM TABLE WHERE status = 'pending' AND room_id > h.room_id ORDER BY room_id, KEY LIMIT 1) n
		)
		SELECT h.room_id FROM heads h JOIN TABLE t ON t.KEY = h.head
		WHERE t.retry_at <= $1 ORDER BY h.head LIMIT $2`)
}

// MarkInboxDone marks a pending event handled. It is meant to run in the
// transaction that commits the event's effects: ErrAlreadyHandled means
// someone else committed it first and the caller must roll back. note is
// kept in last_error (for a handler error answered politely).
func MarkInboxDone(ctx context.Context, tx Querier, seq int64, note string) error {
	res, err := tx.ExecContext(ctx, `UPDATE inbox SET status = 'done', handled_at = $1, last_error = $2
		WHERE seq = $3 AND status = 'pending'`, Now(), Clean(note), seq)
	if err != nil {
		return fmt.Errorf("mark inbox event done: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrAlreadyHandled
	}
	return nil
}

// FinishInboxEvent is, for the transaction that commits an event's
// outcome, CheckLease of the inbox lease on room, MarkInboxDone, and
// NextDueInboxEvent of the room's next event (due at now): it returns
// that event, or nil when none is due. On Postgres it is one statement
// (one round trip instead of three); the event is marked only when the
// lease is this owner's, and the next event read only once it is, as
// when they run one after the other.
func (db *DB) FinishInboxEvent(ctx context.Context, tx Querier, room, owner string, seq int64, note string, now int64) (*InboxEvent, error) {
	if db.Dialect != Postgres {
		if err := CheckLease(ctx, tx, QueueInbox, room, owner); err != nil {
			return nil, err
		}
		if err := MarkInboxDone(ctx, tx, seq, note); err != nil {
			return nil, err
		}
		return db.NextDueInboxEvent(ctx, tx, room, now)
	}
	at := Now()
	var leased, done int
	var next nullInboxEvent
	// The next event is the room's oldest pending one other than the head
	// (seq), which this statement's snapshot still sees pending. It may
	// have a lower seq than the head: concurrent intake commits take seqs
	// in one order and commit in another, so an earlier seq can become
	// visible after a later one of its room was read. It is read by its
	// seq alone (no status test: see finishAll).
	err := tx.QueryRowContext(ctx, strings.Replace(`WITH lease AS (
			SELECT 1 FROM room_lease WHERE queue = 'inbox' AND room_id = $1 AND owner = $2
		), done AS (
			UPDATE inbox SET status = 'done', handled_at = $3, last_error = $4
			WHERE seq = $5 AND status = 'pending' AND EXISTS (SELECT 1 FROM lease) RETURNING 1
		), next AS (
			SELECT INBOX_COLUMNS FROM inbox
			WHERE seq = (SELECT seq FROM inbox WHERE room_id = $1 AND status = 'pending' AND seq <> $5 ORDER BY seq LIMIT 1)
				AND retry_at <= $6 AND EXISTS (SELECT 1 FROM done)
		)
		SELECT (SELECT count(*) FROM lease), (SELECT count(*) FROM done), next.* FROM (SELECT 1) AS one LEFT JOIN next ON true`,
		"INBOX_COLUMNS", inboxColumns, 1),
		room, owner, at, Clean(note), seq, now).Scan(append([]any{&leased, &done}, next.dest()...)...)
	switch {
	case err != nil:
		return nil, fmt.Errorf("mark inbox event done: %w", err)
	case leased != 1:
		return nil, ErrLeaseLost
	case done != 1:
		return nil, ErrAlreadyHandled
	}
	return next.event(), nil
}

// nullInboxEvent scans inboxColumns, which may all be NULL (an outer
// join that found no row): the one place that knows their order.
type nullInboxEvent struct {
	seq, originTS, receivedAt, attempts, retryAt sql.NullInt64
	eventID, roomID, sender, typ, js, txnID, o   sql.NullString
	stateKey                                     sql.NullString
}

func (n *nullInboxEvent) dest() []any {
	return []any{&n.seq, &n.eventID, &n.roomID, &n.sender, &n.typ, &n.stateKey, &n.originTS, &n.js,
		&n.txnID, &n.receivedAt, &n.attempts, &n.retryAt, &n.o}
}

func (n *nullInboxEvent) event() *InboxEvent {
	if !n.seq.Valid {
		return nil
	}
	e := &InboxEvent{Seq: n.seq.Int64, EventID: n.eventID.String, RoomID: n.roomID.String, Sender: n.sender.String,
		Type: n.typ.String, OriginTS: n.originTS.Int64, JSON: []byte(n.js.String), TxnID: n.txnID.String,
		ReceivedAt: n.receivedAt.Int64, Attempts: int(n.attempts.Int64), RetryAt: n.retryAt.Int64, Origin: n.o.String}
	if n.stateKey.Valid {
		e.StateKey = &n.stateKey.String
	}
	return e
}

// InboxCounts reports how many events are in each status (for metrics and
// `bizbots status`).
func (db *DB) InboxCounts(ctx context.Context) (map[string]int, error) {
	return countByStatus(ctx, db, "inbox")
}

func countByStatus(ctx context.Context, q Querier, table string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT status, count(*) FROM `+table+` GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
