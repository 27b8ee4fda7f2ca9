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
// plaintext: any failure here is retried. counted says the first attempt
// was counted with the seal (one commit for both), so the caller sends at
// once.
func (s *Sender) seal(ctx context.Context, row *store.OutboxRow, content json.RawMessage, txnID string, log zerolog.Logger) (_ json.RawMessage, counted bool, _ error) {
	bot, room := id.UserID(row.BotUserID), id.RoomID(row.RoomID)
	enc, err := s.opts.Encrypter.Encrypted(ctx, bot, room)
	if err != nil {
		return nil, false, fmt.Errorf("room encryption state: %w", err)
	}
	if !enc {
		return content, false, nil
	}
	var sealed json.RawMessage
	var ok bool
	for try := 1; ; try++ {
		var persist func(context.Context, store.Tx) error
		sealed, persist, err = s.opts.Encrypter.Encrypt(ctx, bot, room, row.Type, content)
		if err != nil {
			return nil, false, err
		}
		ok, err = s.db.SealOutboxRow(ctx, row.ID, row.Type, encryptedType, sealed, persist)
		if err == nil {
			break
		}
		if try == 2 {
			return nil, false, err
		}
		// The ciphertext could not be kept, as when another process moved
		// the room's session on meanwhile: encrypt again at once.
		log.Debug().Err(err).Msg("encrypted reply not kept; encrypting it again")
	}
	if !ok {
		// Sent, failed or attempted in plaintext meanwhile (the room was
		// not encrypted then): never send it in plaintext now.
		return nil, false, fmt.Errorf("the reply was attempted before the room was encrypted; not sending it in plaintext")
	}
	sealedRow := *row
	sealedRow.Type, sealedRow.Content = encryptedType, sealed
	*row = sealedRow
	log.Debug().Msg("reply encrypted and kept for sending")
	content, err = s.content(row, txnID)
	return content, true, err
}
