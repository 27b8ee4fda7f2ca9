package dispatcher

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Crypto is what the dispatcher asks of end-to-end encryption
// (appservice/e2ee implements it). Handlers never see it: they get the
// decrypted message.
type Crypto interface {
	// Decrypt opens an m.room.encrypted event. record commits with
	// whatever becomes of the event (its Megolm message index, which no
	// other event may use); it fails if another event took the index. wait:
	// it cannot be read yet (its room key has not arrived); with wait false
	// an error means it can never be read.
	Decrypt(ctx context.Context, evt *event.Event) (plain *event.Event, record func(context.Context, store.Tx) error, wait bool, err error)
	// RequestKey asks the sender's devices for the room key of evt.
	RequestKey(ctx context.Context, evt *event.Event)
	// Encrypted reports whether room is encrypted (asking as bot).
	Encrypted(ctx context.Context, bot id.UserID, room id.RoomID) (bool, error)
	// MemberChanged and EncryptionChanged are told of membership and
	// m.room.encryption events (key rotation, room settings).
	MemberChanged(ctx context.Context, evt *event.Event)
	EncryptionChanged(evt *event.Event)
	// ForgetCustomer erases the customer's crypto material for bot inside
	// the forget-me transaction.
	ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error
	// EnableEncryption turns encryption on in room, as bot.
	EnableEncryption(ctx context.Context, bot id.UserID, room id.RoomID) error
}

// Encryption options (the dispatcher's part of them).
type Encryption struct {
	// Crypto decrypts; nil: encrypted messages get a polite "cannot read".
	Crypto Crypto
	// KeyWait bounds how long a message waits for its room key before the
	// customer is asked to send it again. Default 10 minutes.
	KeyWait time.Duration
	// Require refuses plaintext direct chats politely.
	Require bool
	// Default turns encryption on in direct chats opened without it.
	Default bool
}

// keyRecheck is how often a message waiting for its room key is tried
// again even if no key arrival wakes it.
const keyRecheck = 15 * time.Second

// Texts the customer sees about encryption.
const (
	textCannotDecrypt = "I can't read encrypted messages. Please start a new chat with me with encryption turned off."
	textKeyNeverCame  = "Sorry, I could not read your last message: its encryption keys never reached me. Please send it again."
	textUnreadable    = "Sorry, I could not read your last message (it was encrypted in a way I cannot open). Please send it again."
	textRequireE2EE   = "For your privacy I only chat in end-to-end encrypted chats. Please start a new chat with me with encryption turned on."
)

// errKeyWait defers an encrypted event until its room key can have come.
type errKeyWait struct {
	until time.Time
	cause error
}

func (e *errKeyWait) Error() string { return fmt.Sprintf("waiting for the room key: %v", e.cause) }

// routeEncrypted decrypts evt and routes the plain event; a message whose
// key has not come waits (its room only), and after KeyWait the customer
// is asked to send it again.
func (d *Dispatcher) routeEncrypted(ctx context.Context, ev *store.InboxEvent, evt *event.Event, log zerolog.Logger) (*outcome, error) {
	c := d.opts.Encryption.Crypto
	if c == nil {
		return d.tellEncrypted(ctx, evt, textCannotDecrypt, "encrypted: told the customer")
	}
	plain, record, wait, err := c.Decrypt(ctx, evt)
	switch {
	case plain != nil:
		if plain.Type == event.EventEncrypted {
			return &outcome{outcome: "ignored", note: "encrypted twice", seen: record}, nil
		}
		out, err := d.routePlain(ctx, plain, log)
		if out == nil {
			// Parked after its last attempt, the event still spends its index.
			out = &outcome{}
		}
		out.seen = record
		return out, err
	case wait:
		deadline := time.UnixMilli(ev.ReceivedAt).Add(d.keyWait())
		if now := time.Now(); now.Before(deadline) {
			return nil, &errKeyWait{until: minTime(deadline, now.Add(keyRecheck)), cause: err}
		}
		c.RequestKey(ctx, evt)
		log.Warn().Err(err).Msg("room key never arrived; asking the customer to send again")
		return d.tellEncrypted(ctx, evt, textKeyNeverCame, "undecryptable: room key never arrived")
	default:
		log.Warn().Err(err).Msg("encrypted event cannot be decrypted")
		return d.tellEncrypted(ctx, evt, textUnreadable, "undecryptable: "+err.Error())
	}
}

func (d *Dispatcher) keyWait() time.Duration {
	if d.opts.Encryption.KeyWait > 0 {
		return d.opts.Encryption.KeyWait
	}
	return 10 * time.Minute
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// tellEncrypted answers an encrypted message that could not be handled, in
// a direct chat only.
func (d *Dispatcher) tellEncrypted(ctx context.Context, evt *event.Event, text, note string) (*outcome, error) {
	bots, direct, _, err := d.concerned(ctx, evt)
	if err != nil || len(bots) == 0 || !direct {
		return &outcome{outcome: "ignored", note: note}, err
	}
	conv := handlers.NewConversation(bots[0].UserID, evt.RoomID, handlers.Customer{ID: evt.Sender}, evt.ID)
	conv.Notice(text)
	replies, err := outboxRows(ctx, d.db, conv, evt.ID, d.log)
	if err != nil {
		return nil, err
	}
	return &outcome{outcome: "handled", note: note, replies: replies}, nil
}

// deferForKey puts an event waiting for its room key back in the inbox
// without counting a failed attempt. It returns false: the room waits.
func (d *Dispatcher) deferForKey(ctx context.Context, ev *store.InboxEvent, kw *errKeyWait, log zerolog.Logger) bool {
	err := d.db.Tx(ctx, func(tx store.Tx) error {
		if err := store.RenewLease(ctx, tx, store.QueueInbox, ev.RoomID, d.owner, d.opts.LeaseTimeout.Milliseconds()); err != nil {
			return err
		}
		// Waiting for a key is not a failed attempt: none is counted.
		return store.PostponeInboxEvent(ctx, tx, ev.Seq, kw.until.UnixMilli(), kw.Error())
	})
	if err != nil && !errors.Is(err, store.ErrLeaseLost) && ctx.Err() == nil {
		log.Error().Err(err).Msg("cannot defer the encrypted event; it stays pending")
	}
	eventsHandled.WithLabelValues("waiting_for_key").Inc()
	log.Debug().Time("until", kw.until).Msg("encrypted event waits for its room key")
	return false
}

// refusePlaintext answers a plaintext direct chat when encryption is
// required; nil when the event may go on.
func (d *Dispatcher) refusePlaintext(ctx context.Context, evt *event.Event) (*outcome, error) {
	if !d.opts.Encryption.Require || d.opts.Encryption.Crypto == nil || evt.Mautrix.WasEncrypted {
		return nil, nil
	}
	return d.tellEncrypted(ctx, evt, textRequireE2EE, "plaintext refused: encryption required")
}

// refusePlaintextRoom reports whether a direct chat the bot just joined
// must be refused because it is not encrypted and encryption is required.
// With Default, the bot first turns encryption on in a plaintext direct
// chat (best effort: without the power to, the chat stays plaintext).
func (d *Dispatcher) refusePlaintextRoom(ctx context.Context, bot id.UserID, room id.RoomID, direct bool, log zerolog.Logger) (bool, error) {
	e := d.opts.Encryption
	if (!e.Require && !e.Default) || e.Crypto == nil || !direct {
		return false, nil
	}
	enc, err := e.Crypto.Encrypted(ctx, bot, room)
	if err != nil {
		return false, fmt.Errorf("room encryption state: %w", err)
	}
	if !enc && e.Default {
		if err := e.Crypto.EnableEncryption(ctx, bot, room); err != nil {
			log.Warn().Err(err).Msg("could not turn encryption on in the direct chat")
		} else {
			enc = true
			log.Info().Msg("turned encryption on in the direct chat")
		}
	}
	return !enc && e.Require, nil
}
