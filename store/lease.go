package store

import (
	"context"
	"fmt"
)

// The queues rooms are leased for.
const (
	QueueInbox  = "inbox"
	QueueOutbox = "outbox"
)

// AcquireLease takes the room for owner until now+ttl, if it is free or
// its lease expired. Several processes may race here; the primary key
// makes exactly one win.
func (db *DB) AcquireLease(ctx context.Context, queue, roomID, owner string, ttlMillis int64) (bool, error) {
	now := Now()
	res, err := db.ExecContext(ctx, `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (queue, room_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE room_lease.expires_at < $5`, queue, roomID, owner, now+ttlMillis, now)
	if err != nil {
		return false, fmt.Errorf("acquire %s lease: %w", queue, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
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

// ReleaseLease gives the room back (only if owner still holds it).
func (db *DB) ReleaseLease(ctx context.Context, queue, roomID, owner string) error {
	_, err := db.ExecContext(ctx, `DELETE FROM room_lease WHERE queue = $1 AND room_id = $2 AND owner = $3`, queue, roomID, owner)
	if err != nil {
		return fmt.Errorf("release %s lease: %w", queue, err)
	}
	return nil
}
