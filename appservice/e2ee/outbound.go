package e2ee

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"
)

// The outbound session of a room is read before every encryption. The
// process that stored its last state encrypts from that state in memory
// instead of reading it again: if another process stored a newer one
// meanwhile (the room's sender moved to it, or it replaced the session),
// the write that must keep the ciphertext finds the stored state past
// the one encrypted from and refuses it (pending.commit), the memory is
// dropped and the sender encrypts the reply again, from the database. So
// a stale memory costs an encryption, never a reused message index.

// maxOutbound bounds the outbound sessions kept in memory (one a room).
const maxOutbound = 10000

// GetOutboundGroupSession implements crypto.Store: the state this process
// stored last, else the database's.
func (s *cryptoStore) GetOutboundGroupSession(ctx context.Context, room id.RoomID) (*crypto.OutboundGroupSession, error) {
	s.mu.Lock()
	o := s.outbound[room]
	s.mu.Unlock()
	if o == nil {
		return s.SQLCryptoStore.GetOutboundGroupSession(ctx, room)
	}
	// A session of its own for each encryption, as from the database:
	// mautrix changes it as it encrypts.
	internal := olm.NewBlankOutboundGroupSession()
	if err := internal.Unpickle(o.pickle, s.PickleKey); err != nil {
		return nil, fmt.Errorf("outbound session in memory: %w", err)
	}
	return &crypto.OutboundGroupSession{
		Internal: internal,
		ExpirationMixin: crypto.ExpirationMixin{
			TimeMixin: crypto.TimeMixin{CreationTime: o.created, LastEncryptedTime: o.lastUsed},
			MaxAge:    o.maxAge,
		},
		MaxMessages:   o.maxMessages,
		MessageCount:  o.count,
		SharedHistory: o.sharedHistory,
		RoomID:        room,
		Shared:        o.shared,
	}, nil
}

// AddOutboundGroupSession implements crypto.Store (a new or newly shared
// session: read from the database next time).
func (s *cryptoStore) AddOutboundGroupSession(ctx context.Context, ogs *crypto.OutboundGroupSession) error {
	s.forgetOutbound(ogs.RoomID)
	return s.SQLCryptoStore.AddOutboundGroupSession(ctx, ogs)
}

// RemoveOutboundGroupSession implements crypto.Store.
func (s *cryptoStore) RemoveOutboundGroupSession(ctx context.Context, room id.RoomID) error {
	s.forgetOutbound(room)
	return s.SQLCryptoStore.RemoveOutboundGroupSession(ctx, room)
}

// keepOutbound remembers o, just stored, as its room's session.
func (s *cryptoStore) keepOutbound(o *outboundState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.outbound) >= maxOutbound {
		clear(s.outbound)
	}
	s.outbound[o.room] = o
}

func (s *cryptoStore) forgetOutbound(room id.RoomID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.outbound, room)
}
