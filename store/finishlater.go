package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// finish is one member's FinishInboxEventLater, made with the group's.
type finish struct {
	member      int
	room, owner string
	seq         int64
	note        string
	now         int64
	next        **InboxEvent
}

// memberError is a deferred write that failed for one member's own reason
// (its lease was lost, its event handled elsewhere): GroupTx answers that
// member with err and commits the others without it.
type memberError struct {
	member int
	err    error
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// FinishInboxEventLater is FinishInboxEvent made at the end of the
// caller's group transaction: on Postgres, one statement finishes every
// member's event of the group. *next is set then to the room's next
// event, read (nil when none is due). A lost lease or an event already
// handled fails the caller's GroupTx alone, with ErrLeaseLost or
// ErrAlreadyHandled. On SQLite, where a statement costs no round trip,
// and outside GroupTx, it is FinishInboxEvent at once.
func (db *DB) FinishInboxEventLater(ctx context.Context, tx Tx, room, owner string, seq int64, note string, now int64, next **InboxEvent) error {
	*next = nil
	l := laterOf(ctx)
	if l == nil || db.Dialect != Postgres {
		ev, err := db.FinishInboxEvent(ctx, tx, room, owner, seq, note, now)
		*next = ev
		return err
	}
	l.finishes = append(l.finishes, finish{member: l.member, room: room, owner: owner, seq: seq,
		note: Clean(note), now: now, next: next})
	return nil
}

// flushFinishes runs the group's finishes, one statement per lease owner
// (a process has one): per event, the FinishInboxEvent statement's three
// steps, its room's next event read only once the event is marked. A
// room whose lease was lost fails its member, which rolls the transaction
// back (see finishAll). Rows are found through their keys given as arrays
// (= ANY), with no condition a partial index of pending rows could serve,
// so the plan reads them through the primary key whatever the tables'
// statistics say.
func (l *later) flushFinishes(ctx context.Context, tx Tx) error {
	fs := l.finishes
	l.finishes = nil
	var failed error
	for len(fs) > 0 {
		owner := fs[0].owner
		var mine, rest []finish
		for _, f := range fs {
			if f.owner == owner {
				mine = append(mine, f)
			} else {
				rest = append(rest, f)
			}
		}
		fs = rest
		if err := finishAll(ctx, tx, owner, mine); err != nil {
			var own *memberError
			if !errors.As(err, &own) {
				return err
			}
			failed = cmp.Or(failed, err)
		}
	}
	return failed
}

// finishAll finishes fs, all of one lease owner, in one statement. An
// event whose room's lease was lost is marked too, but then the statement
// reports that member's ErrLeaseLost, and GroupTx rolls the whole
// transaction back and goes on without the member: the events are found by
// their seq alone, which keeps the plan on the primary key.
func finishAll(ctx context.Context, tx Tx, owner string, fs []finish) error {
	rooms, notes := make(pq.StringArray, len(fs)), make(pq.StringArray, len(fs))
	seqs := make(pq.Int64Array, len(fs))
	byRoom := make(map[string]int, len(fs))
	var now int64
	for i, f := range fs {
		rooms[i], notes[i], seqs[i] = f.room, f.note, f.seq
		now = max(now, f.now)
		byRoom[f.room] = i
	}
	// Rows found by seq must be found through the primary key: with the
	// statistics of a quiet hour (no pending rows) the planner takes a
	// test of status = 'pending' as a reason to walk every room's pending
	// rows instead (TestRoomPendingLookupsReadOnlyTheRoom). So the update
	// tests the status as "neither done nor parked" (the same, by the
	// column's CHECK, but no use of the pending index), and the next
	// events, which the subquery took from the pending rows of this
	// statement's snapshot, are read by their seq alone.
	// The lease is read, not renewed: Leases renews every lease the
	// process holds each TTL/4, and a takeover committed after this
	// statement's snapshot cannot finish these events twice (its own
	// finish waits for this transaction's row locks on them, then finds
	// them done).
	rows, err := tx.QueryContext(ctx, strings.Replace(`WITH lease AS (
			SELECT room_id FROM room_lease
			WHERE queue = 'inbox' AND room_id = ANY(CAST($1 AS text[])) AND owner = $2
		), done AS (
			UPDATE inbox SET status = 'done', handled_at = $3,
				last_error = (CAST($4 AS text[]))[array_position(CAST($5 AS bigint[]), seq)]
			WHERE seq = ANY(CAST($5 AS bigint[])) AND status NOT IN ('done', 'parked')
			RETURNING seq, room_id
		), next AS (
			SELECT INBOX_COLUMNS FROM inbox
			WHERE seq = ANY(ARRAY(SELECT (SELECT j.seq FROM inbox j
					WHERE j.room_id = d.room_id AND j.status = 'pending' AND j.seq <> d.seq ORDER BY j.seq LIMIT 1) FROM done d))
				AND retry_at <= $6
		)
		SELECT r, r IN (SELECT room_id FROM lease), r IN (SELECT room_id FROM done), next.*
		FROM unnest(CAST($1 AS text[])) AS r LEFT JOIN next ON next.room_id = r`, "INBOX_COLUMNS", inboxColumns, 1),
		rooms, owner, Now(), notes, seqs, now)
	if err != nil {
		return fmt.Errorf("mark inbox events done: %w", err)
	}
	defer rows.Close()
	var failed error
	for rows.Next() {
		var room string
		var leased, done bool
		var n nullInboxEvent
		if err := rows.Scan(append([]any{&room, &leased, &done}, n.dest()...)...); err != nil {
			return fmt.Errorf("mark inbox events done: %w", err)
		}
		f := fs[byRoom[room]]
		switch {
		case !leased:
			failed = cmp.Or(failed, error(&memberError{member: f.member, err: ErrLeaseLost}))
		case !done:
			failed = cmp.Or(failed, error(&memberError{member: f.member, err: ErrAlreadyHandled}))
		default:
			*f.next = n.event()
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mark inbox events done: %w", err)
	}
	return failed
}
