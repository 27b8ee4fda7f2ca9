// Package playground runs bots without a homeserver: it plays the
// homeserver's part (customer events go into the inbox, the bot's sends
// are collected instead of delivered) around the real dispatcher, sender
// and storage. `bizbots chat` and handlertest are built on it, so what a
// developer tries there is what runs in production, step for step.
package playground

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Reply is one message a bot sent, with the reactions it put under it.
type Reply struct {
	EventID id.EventID
	Room    id.RoomID
	Bot     id.UserID
	Type    string
	MsgType string
	Body    string
	HTML    string
	// Options of a question (Conversation.Ask), in order.
	Options []handlers.Option
	// Reactions the bot added to this message (keycaps of a question).
	Reactions []string
	Content   map[string]any
}

// Clock is a settable clock for conversations and timers.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Options configure a Session.
type Options struct {
	// Clock drives conversations and timers; nil means the real time.
	Clock func() time.Time
	Log   zerolog.Logger
}

// Session is a homeserver-free room for bots and customers.
type Session struct {
	db    *store.DB
	disp  *dispatcher.Dispatcher
	send  *sender.Sender
	net   *transport
	clock func() time.Time
	bots  map[id.UserID]*dispatcher.Bot

	mu      sync.Mutex
	members map[id.RoomID]map[id.UserID]string
	// power is the last m.room.power_levels injected per room.
	power map[id.RoomID]*event.PowerLevelsEventContent
}

// New makes a session over a migrated database.
func New(db *store.DB, bots []*dispatcher.Bot, opts Options) *Session {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := &Session{db: db, net: &transport{}, clock: opts.Clock, bots: map[id.UserID]*dispatcher.Bot{},
		members: map[id.RoomID]map[id.UserID]string{}, power: map[id.RoomID]*event.PowerLevelsEventContent{}}
	for _, b := range bots {
		s.bots[b.UserID] = b
	}
	s.disp = dispatcher.New(db, bots, "@bizbots-playground:playground", s, dispatcher.Options{
		Workers: 1, Clock: opts.Clock, RetryBase: time.Millisecond, RetryMax: time.Millisecond,
	}, opts.Log)
	s.send = sender.New(db, s.net, sender.Options{Workers: 1, RetryBase: time.Millisecond, MaxBackoff: time.Second}, opts.Log)
	return s
}

// Dispatcher is the session's dispatcher (for Notify).
func (s *Session) Dispatcher() *dispatcher.Dispatcher { return s.disp }

// Room is the direct chat of bot and customer in the playground.
func (s *Session) Room(bot, customer id.UserID) id.RoomID {
	sum := sha256.Sum256([]byte(bot.String() + "\x00" + customer.String()))
	return id.RoomID("!pg" + hex.EncodeToString(sum[:9]) + ":playground")
}

// Join implements dispatcher.Homeserver: the bot is always let in.
func (s *Session) Join(ctx context.Context, bot id.UserID, room id.RoomID) error { return nil }

// JoinedMembers implements dispatcher.Homeserver.
func (s *Session) JoinedMembers(ctx context.Context, bot id.UserID, room id.RoomID) (map[id.UserID]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[id.UserID]string{bot: ""}
	for u, n := range s.members[room] {
		out[u] = n
	}
	return out, nil
}

// PowerLevels implements dispatcher.PowerLevels with the last
// m.room.power_levels event injected into room (none: everyone has 0).
func (s *Session) PowerLevels(ctx context.Context, bot id.UserID, room id.RoomID) (*event.PowerLevelsEventContent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pl := s.power[room]; pl != nil {
		return pl, nil
	}
	return &event.PowerLevelsEventContent{}, nil
}

// Open starts (or resumes) the customer's direct chat with bot: on first
// use the customer invites the bot, which joins and welcomes them.
func (s *Session) Open(ctx context.Context, bot, customer id.UserID, displayName string) ([]Reply, error) {
	if _, ok := s.bots[bot]; !ok {
		return nil, fmt.Errorf("%s is not a configured bot", bot)
	}
	room := s.Room(bot, customer)
	s.mu.Lock()
	if s.members[room] == nil {
		s.members[room] = map[id.UserID]string{}
	}
	s.members[room][customer] = displayName
	s.mu.Unlock()
	in, err := s.db.BotsInRoom(ctx, room.String())
	if err != nil {
		return nil, err
	}
	if len(in) > 0 {
		return s.Step(ctx)
	}
	join := s.event(room, customer, "m.room.member", map[string]any{"membership": "join", "displayname": displayName})
	join["state_key"] = customer.String()
	invite := s.event(room, customer, "m.room.member", map[string]any{"membership": "invite", "is_direct": true})
	invite["state_key"] = bot.String()
	return s.Inject(ctx, join, invite)
}

// Say sends text from the customer to bot and returns the bot's replies.
func (s *Session) Say(ctx context.Context, bot, customer id.UserID, text string) ([]Reply, error) {
	return s.Inject(ctx, s.event(s.Room(bot, customer), customer, "m.room.message",
		map[string]any{"msgtype": "m.text", "body": text}))
}

// React adds the customer's reaction key to a message.
func (s *Session) React(ctx context.Context, bot, customer id.UserID, target id.EventID, key string) ([]Reply, error) {
	return s.Inject(ctx, s.event(s.Room(bot, customer), customer, "m.reaction", map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target.String(), "key": key},
	}))
}

// Message builds a customer event of any type in their chat with bot, to
// pass to Inject (locations, images, edits…).
func (s *Session) Message(bot, customer id.UserID, eventType string, content map[string]any) map[string]any {
	return s.event(s.Room(bot, customer), customer, eventType, content)
}

func (s *Session) event(room id.RoomID, sender id.UserID, typ string, content map[string]any) map[string]any {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return map[string]any{
		"event_id": "$pg" + hex.EncodeToString(b), "room_id": room.String(), "sender": sender.String(),
		"type": typ, "origin_server_ts": s.clock().UnixMilli(), "content": content,
	}
}

// Inject stores events as a homeserver transaction would, then runs the
// flow until everything due is handled and sent.
func (s *Session) Inject(ctx context.Context, events ...map[string]any) ([]Reply, error) {
	var in []store.IncomingEvent
	for _, e := range events {
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		var sk *string
		if v, ok := e["state_key"].(string); ok {
			sk = &v
		}
		if e["type"] == event.StatePowerLevels.Type {
			var pl event.PowerLevelsEventContent
			if c, err := json.Marshal(e["content"]); err == nil && json.Unmarshal(c, &pl) == nil {
				s.mu.Lock()
				s.power[id.RoomID(e["room_id"].(string))] = &pl
				s.mu.Unlock()
			}
		}
		in = append(in, store.IncomingEvent{
			EventID: e["event_id"].(string), RoomID: e["room_id"].(string), Sender: e["sender"].(string),
			Type: e["type"].(string), StateKey: sk, OriginTS: s.clock().UnixMilli(), JSON: raw,
		})
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	if _, _, err := s.db.StoreTransaction(ctx, "pg-"+hex.EncodeToString(b), in); err != nil {
		return nil, err
	}
	return s.Step(ctx)
}

// Step runs the dispatcher and the sender until nothing is due (timers
// included) and returns what the bots sent meanwhile.
func (s *Session) Step(ctx context.Context) ([]Reply, error) {
	for range 10 { // a reply can set a timer that is already due, and so on; bounded
		if err := s.disp.Drain(ctx); err != nil {
			return nil, err
		}
		if err := s.send.Drain(ctx); err != nil {
			return nil, err
		}
		rooms, err := s.db.PendingRooms(ctx, store.QueueInbox, 1)
		if err != nil {
			return nil, err
		}
		if len(rooms) == 0 {
			break
		}
	}
	replies := s.net.take()
	for i, r := range replies {
		_, meta, err := store.OutboxMeta(ctx, s.db, r.Room.String(), r.EventID.String())
		if err != nil {
			return nil, err
		}
		replies[i].Options = handlers.QuestionOptions(meta)
	}
	return replies, nil
}

// transport collects what the sender delivers.
type transport struct {
	mu      sync.Mutex
	n       int
	pending []Reply
}

// Send implements sender.Transport.
func (t *transport) Send(ctx context.Context, bot id.UserID, room id.RoomID, eventType, txnID string, content json.RawMessage) (id.EventID, error) {
	var c map[string]any
	_ = json.Unmarshal(content, &c)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	evID := id.EventID(fmt.Sprintf("$pgsent%d-%s", t.n, txnID))
	if eventType == "m.reaction" {
		rel, _ := c["m.relates_to"].(map[string]any)
		target, _ := rel["event_id"].(string)
		key, _ := rel["key"].(string)
		for i := range t.pending {
			if t.pending[i].EventID == id.EventID(target) {
				t.pending[i].Reactions = append(t.pending[i].Reactions, key)
			}
		}
		return evID, nil
	}
	r := Reply{EventID: evID, Room: room, Bot: bot, Type: eventType, Content: c}
	r.MsgType, _ = c["msgtype"].(string)
	r.Body, _ = c["body"].(string)
	r.HTML, _ = c["formatted_body"].(string)
	t.pending = append(t.pending, r)
	return evID, nil
}

func (t *transport) take() []Reply {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.pending
	t.pending = nil
	return out
}
