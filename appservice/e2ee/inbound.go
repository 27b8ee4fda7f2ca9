package e2ee

import (
	"context"
	"errors"
	"time"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/id"
)

// Every decryption needs the inbound Megolm session of the message: read
// from the database and unpickled, its ratchet then advanced from the
// first index it knows to the message's. Within a Decrypt the store
// keeps the sessions it read in memory for a short while (inboundTTL),
// with the ratchet as far as the last message took it, so the next
// messages of a conversation skip the read, the unpickling and most of
// the advancing. The database stays the truth:
//
//   - A better copy of a session (one that knows earlier messages) stored
//     by another process: a message from before the kept copy's first
//     index fails to decrypt, and decryptWith drops the copy and tries
//     again from the database. Messages the kept copy can decrypt decrypt
//     the same with either copy: it is the same ratchet.
//   - A session stored, replaced or erased by this process (a room key
//     arriving, "forget me") leaves memory at once.
//   - A session erased by another process ("forget me" there) may still
//     decrypt here until its copy is inboundTTL old; the first decryption
//     after that drops every copy past its time from memory.
//
// mautrix decrypts with a session only under its lock for that session
// id, so a kept copy is never advanced by two decryptions at once.

const (
	// inboundTTL is how long a session read from the database is used
	// from memory before it is read again.
	inboundTTL = time.Minute
	// maxInbound bounds the sessions kept in memory.
	maxInbound = 10000
)

type inboundKey struct {
	room    id.RoomID
	session id.SessionID
}

type keptInbound struct {
	session *crypto.InboundGroupSession
	read    time.Time
}

// GetGroupSession implements crypto.Store. Within a Decrypt it answers
// from memory when it can (see above); elsewhere (a room key arriving,
// key sharing) always from the database.
func (s *cryptoStore) GetGroupSession(ctx context.Context, room id.RoomID, session id.SessionID) (*crypto.InboundGroupSession, error) {
	p := pendingFrom(ctx)
	if p == nil {
		return s.SQLCryptoStore.GetGroupSession(ctx, room, session)
	}
	k := inboundKey{room, session}
	now := s.now()
	s.mu.Lock()
	s.sweepInbound(now)
	kept, ok := s.inbound[k]
	s.mu.Unlock()
	if ok && now.Sub(kept.read) < inboundTTL {
		p.keptInbound = true
		return kept.session, nil
	}
	sess, err := s.SQLCryptoStore.GetGroupSession(ctx, room, session)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || sess == nil {
		delete(s.inbound, k)
		return sess, err
	}
	if len(s.inbound) >= maxInbound {
		clear(s.inbound)
	}
	s.inbound[k] = keptInbound{session: sess, read: now}
	return sess, nil
}

// PutGroupSession implements crypto.Store: the stored session is read
// from the database next time.
func (s *cryptoStore) PutGroupSession(ctx context.Context, sess *crypto.InboundGroupSession) error {
	s.dropInbound(inboundKey{sess.RoomID, sess.ID()})
	return s.SQLCryptoStore.PutGroupSession(ctx, sess)
}

// RedactGroupSession implements crypto.Store.
func (s *cryptoStore) RedactGroupSession(ctx context.Context, room id.RoomID, session id.SessionID, reason string) error {
	s.dropInbound(inboundKey{room, session})
	return s.SQLCryptoStore.RedactGroupSession(ctx, room, session, reason)
}

// RedactGroupSessions implements crypto.Store.
func (s *cryptoStore) RedactGroupSessions(ctx context.Context, room id.RoomID, sender id.SenderKey, reason string) ([]id.SessionID, error) {
	s.dropAllInbound()
	return s.SQLCryptoStore.RedactGroupSessions(ctx, room, sender, reason)
}

// sweepInbound drops, at most once per inboundTTL, the copies past their
// time, so that key material leaves memory even if its conversation never
// writes again (by the first decryption after). s.mu is held.
func (s *cryptoStore) sweepInbound(now time.Time) {
	if now.Sub(s.swept) < inboundTTL {
		return
	}
	for k, kept := range s.inbound {
		if now.Sub(kept.read) >= inboundTTL {
			delete(s.inbound, k)
		}
	}
	s.swept = now
}

func (s *cryptoStore) dropInbound(k inboundKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inbound, k)
}

func (s *cryptoStore) dropAllInbound() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.inbound)
}

// staleInbound reports whether a decryption that failed with err used a
// session from memory that the database may know better, and drops it.
func staleInbound(s *cryptoStore, p *pending, evtRoom id.RoomID, session id.SessionID, err error) bool {
	if !p.keptInbound || !errors.Is(err, olm.ErrUnknownMessageIndex) {
		return false
	}
	s.dropInbound(inboundKey{evtRoom, session})
	return true
}
