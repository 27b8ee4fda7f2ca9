package sender

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// Encrypter seals replies for end-to-end encrypted rooms (appservice/e2ee
// implements it).
type Encrypter interface {
	// Encrypted reports whether room is encrypted (asking as bot).
	Encrypted(ctx context.Context, bot id.UserID, room id.RoomID) (bool, error)
	// Encrypt returns the m.room.encrypted content for content, and what
	// must commit in the transaction that keeps it (may be nil); the
	// ciphertext is sent only if that commits.
	Encrypt(ctx context.Context, bot id.UserID, room id.RoomID, eventType string, content json.RawMessage) (sealed json.RawMessage, persist func(context.Context, store.Tx) error, err error)
}

// encryptedType is the event type of a sealed row.
const encryptedType = "m.room.encrypted"

// seal encrypts a row bound for an encrypted room once, before its first
// attempt, and keeps the ciphertext in the row: every later attempt sends
// the very same event (same txn id, same content), so the homeserver's
// deduplication and the lost-response check (the txn marker stays a
// top-level, unencrypted field of the m.room.encrypted content) hold as
// for plaintext. Nothing bound for an encrypted room is ever sent in
// plaintext: any failure here is retried. The seal's commit counts the
// first attempt, which the caller makes at once.
func (s *Sender) seal(ctx context.Context, row *store.OutboxRow, content json.RawMessage, txnID string, log zerolog.Logger) (json.RawMessage, error) {
	bot, room := id.UserID(row.BotUserID), id.RoomID(row.RoomID)
	enc, err := s.opts.Encrypter.Encrypted(ctx, bot, room)
	if err != nil {
		return nil, fmt.Errorf("room encryption state: %w", err)
	}
	if !enc {
		return content, nil
	}
	var sealed json.RawMessage
	var ok bool
	for try := 1; ; try++ {
		var persist func(context.Context, store.Tx) error
		sealed, persist, err = s.opts.Encrypter.Encrypt(ctx, bot, room, row.Type, content)
		if err != nil {
			return nil, err
		}
		ok, err = s.db.SealOutboxRow(ctx, row.ID, row.Type, encryptedType, sealed, persist)
		if err == nil {
			break
		}
		if try == 2 {
			return nil, err
		}
		// The ciphertext could not be kept, as when another process moved
		// the room's session on meanwhile: encrypt again at once.
		log.Debug().Err(err).Msg("encrypted reply not kept; encrypting it again")
	}
	if !ok {
		// Sent, failed or attempted in plaintext meanwhile (the room was
		// not encrypted then): never send it in plaintext now.
		return nil, fmt.Errorf("the reply was attempted before the room was encrypted; not sending it in plaintext")
	}
	sealedRow := *row
	sealedRow.Type, sealedRow.Content = encryptedType, sealed
	*row = sealedRow
	log.Debug().Msg("reply encrypted and kept for sending")
	return s.content(row, txnID)
}

// sealAhead is the room's next row, to be sealed (encrypted, kept, its
// first attempt counted) in the commit that records the row before it as
// sent, so that an encrypted reply costs one commit, not two, while a
// room has a queue. sent holds the event ids of the batch's sent rows
// (for a parent).
type sealAhead struct {
	row  *store.OutboxRow
	sent map[int64]id.EventID
}

// sealNext encrypts a.row, the row after prev (just sent as eventID), and
// records prev as sent and a.row sealed in one commit. It returns false,
// having recorded nothing, when the row cannot be sealed now (its room is
// not encrypted, its parent not sent, the encryption or the commit
// failed): the caller records prev alone and a.row is sealed on its turn,
// encrypted anew (a ciphertext that was not kept is never sent).
func (s *Sender) sealNext(ctx context.Context, prev *store.OutboxRow, eventID id.EventID, a *sealAhead, log zerolog.Logger) bool {
	next := *a.row
	if next.ParentID != nil && *next.ParentID == prev.ID && next.ParentEventID == "" {
		next.ParentEventID, next.ParentStatus = eventID.String(), "sent"
	}
	withParent(&next, a.sent)
	bot, room := id.UserID(next.BotUserID), id.RoomID(next.RoomID)
	sctx, cancel := s.requestContext(ctx)
	defer cancel()
	if enc, err := s.opts.Encrypter.Encrypted(sctx, bot, room); err != nil || !enc {
		return false
	}
	// Fails when its parent was not sent (yet).
	content, err := s.content(&next, s.db.MatrixTxnID(next.ID))
	if err != nil {
		return false
	}
	sealed, persist, err := s.opts.Encrypter.Encrypt(sctx, bot, room, next.Type, content)
	if err != nil {
		return false
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer rcancel()
	if err := s.db.MarkOutboxSentThenSeal(rctx, prev.ID, eventID.String(), next.ID, next.Type, encryptedType, sealed, persist); err != nil {
		log.Debug().Err(err).Int64("next_outbox_id", next.ID).Msg("next reply not sealed with this one's record; it is sealed on its turn")
		return false
	}
	sends.WithLabelValues("sent").Inc()
	next.Type, next.Content = encryptedType, sealed
	*a.row = next
	return true
}
