package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// What the end-to-end encryption layer (appservice/e2ee) keeps in
// bizbots' own tables. The Olm and Megolm state itself lives in the
// mautrix crypto store's tables (crypto_*), which that store migrates.

// WakeEncrypted makes a room's deferred encrypted events due now (a room
// key arrived) and reports whether there were any.
func (db *DB) WakeEncrypted(ctx context.Context, roomID string) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE inbox`+db.indexedBy("inbox_pending_idx")+` SET retry_at = 0
		WHERE room_id = $1 AND status = 'pending' AND event_type = 'm.room.encrypted' AND retry_at > 0`, roomID)
	if err != nil {
		return false, fmt.Errorf("wake encrypted events: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Meta reads a value of bb_meta ("" when unset).
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM bb_meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

// SetMeta writes a value of bb_meta.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	_, err := db.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// MetaOrSet returns the value of a bb_meta key, writing value first when
// the key has none. Processes racing to set a key all get the one value
// written first (a secret generated once for an installation).
func (db *DB) MetaOrSet(ctx context.Context, key, value string) (string, error) {
	_, err := db.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING`, key, value)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	return db.Meta(ctx, key)
}

// SealOutboxRow replaces a pending row's content with its encrypted form
// before the row's first send, so every attempt sends the same event, and
// counts that first attempt, which the caller makes next (a sealed reply
// may reach the homeserver from then on). It reports false when the row
// was sealed, sent or attempted meanwhile (by another process): the
// caller must then re-read the row. with (may be nil) runs in the same
// transaction once the row is sealed: what must be durable together with
// the ciphertext (the encryption's ratchet state).
func (db *DB) SealOutboxRow(ctx context.Context, id int64, plainType, sealedType string, sealed []byte, with func(context.Context, Tx) error) (bool, error) {
	var ok bool
	// Committed with other rooms' work of the moment (group commit).
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) (err error) {
		if ok, err = sealOutboxRow(ctx, tx, id, plainType, sealedType, sealed); err != nil || !ok || with == nil {
			return err
		}
		return with(ctx, tx)
	})
	if err != nil {
		return false, fmt.Errorf("seal outbox row: %w", err)
	}
	return ok, nil
}

// sealOutboxRow is SealOutboxRow's statement: false when the row is no
// longer an unattempted pending row of plainType.
func sealOutboxRow(ctx context.Context, tx Tx, id int64, plainType, sealedType string, sealed []byte) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET event_type = $1, content = $2, attempts = 1
		WHERE id = $3 AND status = 'pending' AND attempts = 0 AND event_type = $4`,
		sealedType, string(sealed), id, plainType)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// MarkOutboxSentThenSeal is MarkOutboxSent for row id that also keeps, in
// the same commit, the room's next row (next) sealed as SealOutboxRow
// would, its first attempt counted: one commit per encrypted reply
// instead of two while a room has a queue. It changes nothing and fails
// when next could not be sealed (it was attempted, sealed or sent
// meanwhile, or with fails, as when the room's session moved on); the
// caller then records the sent row alone.
func (db *DB) MarkOutboxSentThenSeal(ctx context.Context, id int64, eventID string, next int64, plainType, sealedType string, sealed []byte, with func(context.Context, Tx) error) error {
	now := Now()
	err := db.GroupTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := markOutboxSent(ctx, tx, id, eventID, now); err != nil {
			return err
		}
		ok, err := sealOutboxRow(ctx, tx, next, plainType, sealedType, sealed)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("outbox row %d is no longer an unattempted %s", next, plainType)
		case with == nil:
			return nil
		}
		return with(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("mark outbox row sent and seal the next: %w", err)
	}
	return nil
}

// SharedRooms lists the rooms where user is a joined or invited member
// and a bot is joined (whose encryption keys user's devices must get).
func (db *DB) SharedRooms(ctx context.Context, userID string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT m.room_id FROM room_members m
		JOIN bot_rooms b ON b.room_id = m.room_id AND b.membership = 'join'
		WHERE m.user_id = $1 AND m.membership IN ('join', 'invite')`, userID)
	return scanStrings(rows, err, "list shared rooms")
}

// RoomRecipients lists the users whose devices get a room's keys: joined
// and invited members, and the bots joined to it.
func (db *DB) RoomRecipients(ctx context.Context, roomID string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT user_id FROM room_members WHERE room_id = $1 AND membership IN ('join', 'invite')
		UNION SELECT bot_user_id FROM bot_rooms WHERE room_id = $1 AND membership = 'join'`, roomID)
	return scanStrings(rows, err, "list room members")
}

func scanStrings(rows *sql.Rows, err error, what string) ([]string, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
