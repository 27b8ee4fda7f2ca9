package e2ee

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/store"
)

// plaintextTTL is how long a room found unencrypted is believed so before
// asking the homeserver again (encryption can be turned on, never off, and
// the m.room.encryption event may be handled by another process).
const plaintextTTL = 30 * time.Second

// stateStore answers the crypto machine's questions about rooms: whether
// and how a room is encrypted (asked of the homeserver once, then kept),
// and which rooms a user shares with the bots (bizbots' member tables).
type stateStore struct {
	db *store.DB
	hs *hsclient.Client

	mu    sync.Mutex
	cache map[id.RoomID]stateEntry
}

type stateEntry struct {
	enc     *event.EncryptionEventContent // nil: not encrypted
	checked time.Time
}

// encryption returns the room's m.room.encryption content, nil when the
// room is not encrypted.
// asBot is the bot to ask the homeserver as ("": any bot in the room).
func (s *stateStore) encryption(ctx context.Context, room id.RoomID, asBot id.UserID) (*event.EncryptionEventContent, error) {
	s.mu.Lock()
	e, ok := s.cache[room]
	s.mu.Unlock()
	if ok && (e.enc != nil || time.Since(e.checked) < plaintextTTL) {
		return e.enc, nil
	}
	if asBot == "" {
		bots, err := s.db.BotsInRoom(ctx, room.String())
		if err != nil {
			return nil, err
		}
		if len(bots) == 0 {
			return nil, fmt.Errorf("no bot in room %s to read its encryption state", room)
		}
		asBot = id.UserID(bots[0].BotUserID)
	}
	var content event.EncryptionEventContent
	err := s.hs.As(asBot).StateEvent(ctx, room, event.StateEncryption, "", &content)
	var enc *event.EncryptionEventContent
	switch {
	case err == nil && content.Algorithm != "":
		enc = &content
	case err == nil, errors.Is(err, mautrix.MNotFound):
	default:
		return nil, fmt.Errorf("read room encryption state: %w", err)
	}
	s.set(room, enc)
	return enc, nil
}

func (s *stateStore) set(room id.RoomID, enc *event.EncryptionEventContent) {
	s.mu.Lock()
	s.cache[room] = stateEntry{enc: enc, checked: time.Now()}
	s.mu.Unlock()
}

// IsEncrypted implements crypto.StateStore.
func (s *stateStore) IsEncrypted(ctx context.Context, room id.RoomID) (bool, error) {
	enc, err := s.encryption(ctx, room, "")
	return enc != nil, err
}

// GetEncryptionEvent implements crypto.StateStore.
func (s *stateStore) GetEncryptionEvent(ctx context.Context, room id.RoomID) (*event.EncryptionEventContent, error) {
	return s.encryption(ctx, room, "")
}

// GetHistoryVisibility implements crypto.StateStore. Bots share no room
// history with devices that join later, so it is not tracked.
func (s *stateStore) GetHistoryVisibility(context.Context, id.RoomID) (*event.HistoryVisibilityEventContent, error) {
	return nil, nil
}

// FindSharedRooms implements crypto.StateStore: the encrypted rooms user
// is in with a bot.
func (s *stateStore) FindSharedRooms(ctx context.Context, user id.UserID) ([]id.RoomID, error) {
	rooms, err := s.db.SharedRooms(ctx, user.String())
	if err != nil {
		return nil, err
	}
	var out []id.RoomID
	for _, r := range rooms {
		if enc, err := s.encryption(ctx, id.RoomID(r), ""); err == nil && enc != nil {
			out = append(out, id.RoomID(r))
		}
	}
	return out, nil
}
