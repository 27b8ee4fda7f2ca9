package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The queues rooms are leased for.
const (
	QueueInbox  = "inbox"
	QueueOutbox = "outbox"
)

// AcquireLease takes the room for owner until now+ttl, if it is free, its
// lease expired or owner holds it already (then it is renewed). Several
// processes may race here; the primary key makes exactly one win.
func (db *DB) AcquireLease(ctx context.Context, queue, roomID, owner string, ttlMillis int64) (bool, error) {
	ok, _, err := db.TakeLease(ctx, queue, roomID, owner, ttlMillis)
	return ok, err
}

// TakeLease is AcquireLease that also reports whether the room was taken
// over from another owner whose lease had expired without being given
// back: it died (or was found dead by ReleaseStaleLeases), or stalled for
// longer than its lease, possibly in the middle of an attempt. Nothing
// writes an attempt before making it (that would cost a commit for every
// message and every reply), so the taker is the one who knows:
//
//   - taking an inbox room over counts, in the same transaction, one
//     attempt of the room's oldest pending event, if it was due: the one
//     the dead dispatcher was handling, if any. An event that kills every
//     process that runs it is so given up after a bounded number of
//     deaths (dispatcher.max_deaths);
//   - a sender that takes an outbox room over looks for the room's first
//     pending reply among the bot's events before sending it (the dead
//     sender may have delivered it; replies go out one at a time, in
//     order, so no other can have been in flight).
func (db *DB) TakeLease(ctx context.Context, queue, roomID, owner string, ttlMillis int64) (held, tookOver bool, err error) {
	now := Now()
	err = db.Tx(ctx, func(tx Tx) error {
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT owner FROM room_lease WHERE queue = $1 AND room_id = $2`, queue, roomID).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (queue, room_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE room_lease.expires_at < $5 OR room_lease.owner = excluded.owner`, queue, roomID, owner, now+ttlMillis, now)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		held = n == 1
		tookOver = held && prev != "" && prev != owner
		if !tookOver || queue != QueueInbox {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE inbox SET attempts = attempts + 1 WHERE `+db.dueHead(), roomID, now)
		return err
	})
	if err != nil {
		return false, false, fmt.Errorf("acquire %s lease: %w", queue, err)
	}
	return held, tookOver, nil
}

// CheckLease returns ErrLeaseLost unless owner holds room's lease in
// queue, as tx sees it: the fence of a commit (roll back, do not commit).
// It writes nothing; Leases renews the leases a process holds.
func CheckLease(ctx context.Context, tx Querier, queue, roomID, owner string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM room_lease WHERE queue = $1 AND room_id = $2 AND owner = $3`,
		queue, roomID, owner).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrLeaseLost
	case err != nil:
		return fmt.Errorf("check %s lease: %w", queue, err)
	}
	return nil
}

// RenewLease extends owner's lease inside tx. ErrLeaseLost means another
// process took the room over: roll back, do not commit.
func RenewLease(ctx context.Context, tx Querier, queue, roomID, owner string, ttlMillis int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE room_lease SET expires_at = $1
		WHERE queue = $2 AND room_id = $3 AND owner = $4`, Now()+ttlMillis, queue, roomID, owner)
	if err != nil {
		return fmt.Errorf("renew %s lease: %w", queue, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// RenewLeases extends every lease owner holds in queue and names the
// rooms it holds: true when renewed, false when the room's lease row is
// in another transaction right now. That is almost always one of owner's
// own commits, which renews the lease itself; it is not waited for,
// since a commit can hold one room's row and need another's (the commits
// of failed and deferred events renew their room's lease, in no set
// order with other rooms'):
// waiting, this statement and the commit would deadlock, the database
// would abort one of them, and a failed renewal lets every lease lapse.
// A room taken over by another process meanwhile is not named.
func (db *DB) RenewLeases(ctx context.Context, queue, owner string, ttlMillis int64) (map[string]bool, error) {
	q := `UPDATE room_lease SET expires_at = $1 WHERE queue = $2 AND owner = $3
		RETURNING room_id, true`
	if db.Dialect == Postgres {
		q = `WITH renewed AS (
				UPDATE room_lease l SET expires_at = $1 FROM (
					SELECT room_id FROM room_lease WHERE queue = $2 AND owner = $3 FOR UPDATE SKIP LOCKED
				) free
				WHERE l.queue = $2 AND l.room_id = free.room_id RETURNING l.room_id
			), mine AS (
				SELECT room_id FROM room_lease WHERE queue = $2 AND owner = $3
			)
			SELECT mine.room_id, renewed.room_id IS NOT NULL FROM mine LEFT JOIN renewed ON renewed.room_id = mine.room_id`
	}
	rows, err := db.QueryContext(ctx, q, Now()+ttlMillis, queue, owner)
	if err != nil {
		return nil, fmt.Errorf("renew %s leases: %w", queue, err)
	}
	defer rows.Close()
	kept := map[string]bool{}
	for rows.Next() {
		var r string
		var renewed bool
		if err := rows.Scan(&r, &renewed); err != nil {
			return nil, fmt.Errorf("renew %s leases: %w", queue, err)
		}
		kept[r] = renewed
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renew %s leases: %w", queue, err)
	}
	return kept, nil
}

// ReleaseLeases gives back the rooms owner holds among rooms (on Postgres,
// those not in a transaction right now).
func (db *DB) ReleaseLeases(ctx context.Context, queue, owner string, rooms []string) error {
	for start := 0; start < len(rooms); start += 500 {
		batch := rooms[start:min(start+500, len(rooms))]
		args := []any{queue, owner}
		var in strings.Builder
		for i, r := range batch {
			if i > 0 {
				in.WriteString(", ")
			}
			args = append(args, r)
			fmt.Fprintf(&in, "$%d", len(args))
		}
		q := `DELETE FROM room_lease WHERE queue = $1 AND owner = $2 AND room_id IN (` + in.String() + `)`
		if db.Dialect == Postgres {
			// A row in a transaction right now is left alone, not waited
			// for (see RenewLeases): the room is being taken again.
			q = `DELETE FROM room_lease WHERE queue = $1 AND room_id IN (
				SELECT room_id FROM room_lease WHERE queue = $1 AND owner = $2 AND room_id IN (` + in.String() + `)
				FOR UPDATE SKIP LOCKED)`
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("release %s leases: %w", queue, err)
		}
	}
	return nil
}

// ReleaseLease gives the room back (only if owner still holds it).
func (db *DB) ReleaseLease(ctx context.Context, queue, roomID, owner string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM room_lease WHERE queue = $1 AND room_id = $2 AND owner = $3`, queue, roomID, owner)
	if err != nil {
		return fmt.Errorf("release %s lease: %w", queue, err)
	}
	return nil
}

// ReleaseStaleLeases ends the leases of owners stale reports true for (a
// process on this host that no longer runs), so a restarted process need
// not wait for its predecessor's leases to expire; their rooms are then
// taken over as from any dead owner (see TakeLease). It returns how many
// leases it ended.
func (db *DB) ReleaseStaleLeases(ctx context.Context, stale func(owner string) bool) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT owner FROM room_lease`)
	if err != nil {
		return 0, fmt.Errorf("list lease owners: %w", err)
	}
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return 0, err
		}
		owners = append(owners, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	released := 0
	for _, o := range owners {
		if !stale(o) {
			continue
		}
		// A stale owner died: its leases are expired, not deleted, so
		// that whoever takes its rooms takes them over (TakeLease).
		res, err := db.ExecContext(ctx, `UPDATE room_lease SET expires_at = 0 WHERE owner = $1`, o)
		if err != nil {
			return released, fmt.Errorf("release stale leases: %w", err)
		}
		n, _ := res.RowsAffected()
		released += int(n)
	}
	return released, nil
}
