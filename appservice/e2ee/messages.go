package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// Decrypt opens an m.room.encrypted room event with the device of a bot in
// the room. record must run in the transaction that commits what becomes
// of the plain event: it makes the event's Megolm message index durable,
// so that no other event can use it (replay protection), and fails with
// ErrReplayed if another event took it meanwhile.
//
// wait is true when it cannot be read yet: no bot has its room key (yet),
// or the bot's device is not set up yet, or the database failed; err says
// which. With wait false, err means the event can never be read
// (malformed, replayed, not Megolm).
func (c *Crypto) Decrypt(ctx context.Context, evt *event.Event) (plain *event.Event, record func(context.Context, store.Tx) error, wait bool, err error) {
	var lastErr error
	var tried id.UserID
	if len(c.bots) == 1 {
		// Most processes serve one bot: its device is tried before asking
		// which bots are in the room (a query per event). A device that
		// holds the room's key for this session was given it by the
		// sender, so it may read the event.
		if dev, err := c.device(c.bots[0]); err == nil {
			tried = c.bots[0]
			plain, record, err := decryptWith(ctx, dev, evt)
			if err == nil {
				return plain, record, false, nil
			}
			wait, lastErr = waitsForKey(err), err
		}
	}
	bots, err := c.db.BotsInRoom(ctx, evt.RoomID.String())
	if err != nil {
		return nil, nil, true, err
	}
	if len(bots) == 0 {
		return nil, nil, false, fmt.Errorf("no bot in the room to decrypt with")
	}
	for _, b := range bots {
		if id.UserID(b.BotUserID) == tried {
			continue
		}
		dev, err := c.device(id.UserID(b.BotUserID))
		if err != nil {
			wait, lastErr = true, err
			continue
		}
		plain, record, err := decryptWith(ctx, dev, evt)
		if err == nil {
			return plain, record, false, nil
		}
		wait = wait || waitsForKey(err)
		lastErr = err
	}
	return nil, nil, wait, lastErr
}

// decryptWith decrypts evt with dev, the writes it makes held for record.
// A session kept in memory that cannot decrypt the event is read again
// from the database, which may know earlier messages.
func decryptWith(ctx context.Context, dev *device, evt *event.Event) (*event.Event, func(context.Context, store.Tx) error, error) {
	pctx, p := withPending(ctx)
	plain, err := dev.mach.DecryptMegolmEvent(pctx, evt)
	if err != nil {
		content, _ := evt.Content.Parsed.(*event.EncryptedEventContent)
		if content == nil || !staleInbound(dev.store, p, evt.RoomID, content.SessionID, err) {
			return nil, nil, err
		}
		pctx, p = withPending(ctx)
		if plain, err = dev.mach.DecryptMegolmEvent(pctx, evt); err != nil {
			return nil, nil, err
		}
	}
	return plain, p.commit, nil
}

// waitsForKey says whether a decryption failed for want of a room key
// that may still come.
func waitsForKey(err error) bool {
	return errors.Is(err, crypto.ErrNoSessionFound) || errors.Is(err, olm.ErrUnknownMessageIndex)
}

// RequestKey asks the sender's devices (and the bots' own) for the room key
// of an event that could not be decrypted.
func (c *Crypto) RequestKey(ctx context.Context, evt *event.Event) {
	content, ok := evt.Content.Parsed.(*event.EncryptedEventContent)
	if !ok {
		return
	}
	bots, err := c.db.BotsInRoom(ctx, evt.RoomID.String())
	if err != nil || len(bots) == 0 {
		return
	}
	dev, err := c.device(id.UserID(bots[0].BotUserID))
	if err != nil {
		return
	}
	//lint:ignore SA1019 sender_key and device_id are what key requests still carry
	senderKey, deviceID := content.SenderKey, content.DeviceID
	if deviceID == "" {
		deviceID = "*"
	}
	err = dev.mach.SendRoomKeyRequest(ctx, evt.RoomID, senderKey, content.SessionID, "",
		map[id.UserID][]id.DeviceID{evt.Sender: {deviceID}})
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("room_id", evt.RoomID.String()).Msg("cannot request a missing room key")
	}
}

// Encrypted reports whether room is end-to-end encrypted, asking the
// homeserver as bot when it is not known yet.
func (c *Crypto) Encrypted(ctx context.Context, bot id.UserID, room id.RoomID) (bool, error) {
	enc, err := c.state.encryption(ctx, room, bot)
	return enc != nil, err
}

// Encrypt seals content of type eventType for room as bot and returns the
// m.room.encrypted content, first sharing (or rotating) the room key with
// every device of the room's members when needed.
//
// persist must run in the transaction that keeps the ciphertext, and the
// ciphertext must not be sent unless that transaction commits: it stores
// the outbound session's advanced ratchet, so that no later message uses
// this one's index. It fails (and the transaction must roll back) when
// the session's stored state moved on since, as when another process
// encrypted in the room meanwhile.
func (c *Crypto) Encrypt(ctx context.Context, bot id.UserID, room id.RoomID, eventType string, content json.RawMessage) (sealed json.RawMessage, persist func(context.Context, store.Tx) error, err error) {
	dev, err := c.device(bot)
	if err != nil {
		return nil, nil, err
	}
	evtType := event.Type{Type: eventType, Class: event.MessageEventType}
	pctx, p := withPending(ctx)
	out, err := dev.mach.EncryptMegolmEvent(pctx, room, evtType, content)
	if crypto.IsShareError(err) {
		if err := c.share(ctx, dev, room); err != nil {
			return nil, nil, err
		}
		out, err = dev.mach.EncryptMegolmEvent(pctx, room, evtType, content)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt: %w", err)
	}
	sealed, err = json.Marshal(out)
	if err != nil {
		return nil, nil, err
	}
	return sealed, p.commit, nil
}

// share sends a new room key to every device of the room's members.
func (c *Crypto) share(ctx context.Context, dev *device, room id.RoomID) error {
	members, err := c.db.RoomRecipients(ctx, room.String())
	if err != nil {
		return err
	}
	users := make([]id.UserID, 0, len(members))
	for _, m := range members {
		users = append(users, id.UserID(m))
	}
	if err := dev.mach.ShareGroupSession(ctx, room, users); err != nil {
		return fmt.Errorf("share room key: %w", err)
	}
	return nil
}

// MemberChanged is told of every membership change in a room a bot is in:
// someone leaving (or joining) makes the next message use a new room key.
func (c *Crypto) MemberChanged(ctx context.Context, evt *event.Event) {
	bots, err := c.db.BotsInRoom(ctx, evt.RoomID.String())
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot list the room's bots to rotate its key")
		return
	}
	for _, b := range bots {
		if dev, err := c.device(id.UserID(b.BotUserID)); err == nil {
			dev.mach.HandleMemberEvent(ctx, evt)
		}
	}
}

// EnableEncryption turns Megolm encryption on in room, as bot (which needs
// the power to send m.room.encryption there).
func (c *Crypto) EnableEncryption(ctx context.Context, bot id.UserID, room id.RoomID) error {
	content := &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}
	if _, err := c.hs.As(bot).SendStateEvent(ctx, room, event.StateEncryption, "", content); err != nil {
		return fmt.Errorf("send m.room.encryption: %w", err)
	}
	c.state.set(room, content)
	return nil
}

// EncryptionChanged is told of an m.room.encryption event in a room.
func (c *Crypto) EncryptionChanged(evt *event.Event) {
	if enc, ok := evt.Content.Parsed.(*event.EncryptionEventContent); ok && enc.Algorithm != "" {
		c.state.set(evt.RoomID, enc)
	}
}

// ForgetCustomer erases, inside the forget-me transaction, the crypto
// material tied to customer for bot: the Megolm keys the customer's
// devices sent the bot, which of them got the bot's keys, and the
// customer's device list and cross-signing keys (fetched again if the
// customer writes again).
func (c *Crypto) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	// The bot's device keeps no session in memory from here on (see
	// inbound.go): which of them are the customer's, only the database
	// knows.
	if dev, err := c.device(bot); err == nil {
		dev.store.dropAllInbound()
	}
	// The inbound sessions first: they are found by the device keys.
	if _, err := tx.ExecContext(ctx, `DELETE FROM crypto_megolm_inbound_session WHERE account_id = $1
		AND sender_key IN (SELECT identity_key FROM crypto_device WHERE user_id = $2)`, bot.String(), customer.String()); err != nil {
		return fmt.Errorf("erase crypto material: %w", err)
	}
	for _, q := range []string{
		`DELETE FROM crypto_megolm_outbound_session_shared WHERE user_id = $1`,
		`DELETE FROM crypto_device WHERE user_id = $1`,
		`DELETE FROM crypto_tracked_user WHERE user_id = $1`,
		`DELETE FROM crypto_cross_signing_keys WHERE user_id = $1`,
		`DELETE FROM crypto_cross_signing_signatures WHERE signed_user_id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, customer.String()); err != nil {
			return fmt.Errorf("erase crypto material: %w", err)
		}
	}
	return nil
}
