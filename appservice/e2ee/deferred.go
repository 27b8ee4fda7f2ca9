package e2ee

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// The crypto store writes after every message on its own: the message
// index of each decrypted event (replay protection) and the ratchet of the
// outbound session after each encryption, each in a transaction and a
// flush to disk of its own, outside bizbots' group commit. cryptoStore
// holds those two writes back while Decrypt or Encrypt runs and hands
// them to the caller, which runs them in the transaction that commits
// what they belong to: the decrypted event's outcome, the outbox row that
// keeps the ciphertext. So they are durable together, and share that
// transaction's flush with everything else committed at the moment.

// cryptoStore is the crypto store of a bot's device: mautrix's SQL store,
// except for the writes a Decrypt or Encrypt holds back (see pending), the
// sender device lookup a Decrypt skips (see FindDeviceByKey) and the
// sessions it keeps in memory (see inbound.go and outbound.go).
type cryptoStore struct {
	*crypto.SQLCryptoStore

	mu sync.Mutex
	// outbound is the last outbound session state this process stored,
	// by room (see GetOutboundGroupSession).
	outbound map[id.RoomID]*outboundState
	// inbound is the inbound sessions decryptions read lately (see
	// GetGroupSession).
	inbound map[inboundKey]keptInbound
	swept   time.Time // when inbound was last cleared of old copies
	now     func() time.Time
}

func newCryptoStore(sql *crypto.SQLCryptoStore) *cryptoStore {
	return &cryptoStore{SQLCryptoStore: sql, outbound: map[id.RoomID]*outboundState{},
		inbound: map[inboundKey]keptInbound{}, now: time.Now}
}

// pending is what one Decrypt or Encrypt holds back, found through its
// context.
type pending struct {
	index    *messageIndex
	outbound *outboundState
	// keptInbound: the inbound session came from memory.
	keptInbound bool
}

type pendingKey struct{}

func withPending(ctx context.Context) (context.Context, *pending) {
	p := &pending{}
	return context.WithValue(ctx, pendingKey{}, p), p
}

func pendingFrom(ctx context.Context) *pending {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	return p
}

// messageIndex is a decrypted event's place in its Megolm session.
type messageIndex struct {
	session   id.SessionID
	index     uint
	event     id.EventID
	timestamp int64
}

// outboundState is an outbound session after an encryption: its ratchet
// (pickled) and count, the count it had before, and what else the store
// keeps of it.
type outboundState struct {
	store        *cryptoStore
	room         id.RoomID
	session      id.SessionID
	pickle       []byte
	count, prior int
	lastUsed     time.Time
	// as stored, not changed by encrypting
	created       time.Time
	maxAge        time.Duration
	maxMessages   int
	sharedHistory *bool
	shared        bool
}

// ErrReplayed means another event already used a decrypted event's
// Megolm message index: the homeserver (or someone) replayed the
// ciphertext under a new event id.
var ErrReplayed = errors.New("the message index of this encrypted event was already used by another event")

// errRatchetMoved means the outbound session's stored state moved on
// (another process encrypted with it, or it was replaced) between an
// encryption and its commit: the ciphertext must not be kept, since its
// message index may be another's.
var errRatchetMoved = errors.New("the room's outbound Megolm session changed since this reply was encrypted; encrypting it again")

// ValidateMessageIndex implements crypto.Store. Within a Decrypt it only
// reads: an index another event holds is refused at once, and a new one
// is held back for the outcome's transaction (record), which checks it
// again as it writes.
func (s *cryptoStore) ValidateMessageIndex(ctx context.Context, session id.SessionID, evt id.EventID, index uint, ts int64) (bool, error) {
	p := pendingFrom(ctx)
	if p == nil || (evt == "" && ts == 0) {
		return s.SQLCryptoStore.ValidateMessageIndex(ctx, session, evt, index, ts)
	}
	var haveEvent id.EventID
	var haveTS int64
	err := s.DB.QueryRow(ctx, `SELECT event_id, timestamp FROM crypto_message_index WHERE session_id = $1 AND "index" = $2`,
		session, index).Scan(&haveEvent, &haveTS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, err
	default:
		return haveEvent == evt && haveTS == ts, nil
	}
	p.index = &messageIndex{session: session, index: index, event: evt, timestamp: ts}
	return true, nil
}

// FindDeviceByKey implements crypto.Store. Within a Decrypt it finds
// nothing, without a query: mautrix looks the sender's device up there
// only to grade the decrypted event's trust, which bizbots does not act
// on (see openDevice), so the event is graded "unknown device".
func (s *cryptoStore) FindDeviceByKey(ctx context.Context, user id.UserID, key id.IdentityKey) (*id.Device, error) {
	if pendingFrom(ctx) != nil {
		return nil, nil
	}
	return s.SQLCryptoStore.FindDeviceByKey(ctx, user, key)
}

// UpdateOutboundGroupSession implements crypto.Store. Within an Encrypt
// it keeps the advanced ratchet for the transaction that keeps the
// ciphertext (persist) instead of writing it.
func (s *cryptoStore) UpdateOutboundGroupSession(ctx context.Context, ogs *crypto.OutboundGroupSession) error {
	p := pendingFrom(ctx)
	if p == nil {
		return s.SQLCryptoStore.UpdateOutboundGroupSession(ctx, ogs)
	}
	pickle, err := ogs.Internal.Pickle(s.PickleKey)
	if err != nil {
		return err
	}
	p.outbound = &outboundState{
		store: s, room: ogs.RoomID, session: ogs.ID(), pickle: pickle,
		count: ogs.MessageCount, prior: ogs.MessageCount - 1, lastUsed: ogs.LastEncryptedTime,
		created: ogs.CreationTime, maxAge: ogs.MaxAge, maxMessages: ogs.MaxMessages,
		sharedHistory: ogs.SharedHistory, shared: ogs.Shared,
	}
	return nil
}

// commit writes what p held back in tx.
func (p *pending) commit(ctx context.Context, tx store.Tx) error {
	if m := p.index; m != nil {
		var haveEvent id.EventID
		var haveTS int64
		// The statement mautrix's store runs, in the outcome's transaction.
		err := tx.QueryRowContext(ctx, `INSERT INTO crypto_message_index (session_id, "index", event_id, timestamp)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (session_id, "index") DO UPDATE SET timestamp = crypto_message_index.timestamp
			RETURNING event_id, timestamp`, m.session, m.index, m.event, m.timestamp).Scan(&haveEvent, &haveTS)
		if err != nil {
			return fmt.Errorf("record megolm message index: %w", err)
		}
		if haveEvent != m.event || haveTS != m.timestamp {
			return ErrReplayed
		}
	}
	if o := p.outbound; o != nil {
		// Megolm's message index is the session's message count: every
		// kept ciphertext used an index below the stored count, and the
		// stored count only grows. So this ciphertext's index (prior) is
		// one no kept ciphertext has if the stored count is not past it.
		res, err := tx.ExecContext(ctx, `UPDATE crypto_megolm_outbound_session SET session = $1, message_count = $2, last_used = $3
			WHERE account_id = $4 AND room_id = $5 AND session_id = $6 AND message_count <= $7`,
			o.pickle, o.count, o.lastUsed, o.store.AccountID, o.room, o.session, o.prior)
		if err != nil {
			return fmt.Errorf("store outbound megolm session: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store outbound megolm session: %w", err)
		} else if n != 1 {
			o.store.forgetOutbound(o.room)
			return errRatchetMoved
		}
		o.store.keepOutbound(o)
	}
	return nil
}
