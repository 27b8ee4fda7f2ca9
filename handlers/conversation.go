package handlers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// Customer is the person the bot is talking to, as this business knows
// them.
type Customer struct {
	ID          id.UserID
	DisplayName string
	// FirstSeen and LastSeen are this business's first and previous
	// contact with the customer. New is true on the very first message.
	FirstSeen, LastSeen time.Time
	New                 bool
	// Facts the business stored (preferred address, dietary notes…).
	Facts map[string]string
	// Consent flags the customer gave (marketing, order_updates…).
	Consent map[string]bool
}

// Name is the display name, or the id's localpart when there is none.
func (c Customer) Name() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.ID.Localpart()
}

// Fact returns a stored fact, or "".
func (c Customer) Fact(key string) string { return c.Facts[key] }

// Record is one entry of a customer's history with this business: an
// order, a booking, a ticket, a message.
type Record struct {
	Kind    string
	Summary string
	Data    json.RawMessage
	Time    time.Time
}

// Decode unmarshals the record's data into v.
func (r Record) Decode(v any) error { return json.Unmarshal(r.Data, v) }

// Backend gives a conversation read access to what is stored. The
// framework provides it; handlertest provides a real one on SQLite.
type Backend interface {
	History(ctx context.Context, bot, customer id.UserID, limit int, kinds ...string) ([]Record, error)
	PowerLevel(ctx context.Context, bot id.UserID, room id.RoomID, user id.UserID) (int, error)
}

// Outgoing is one event the bot will send.
type Outgoing struct {
	// Room is where it goes; empty means the conversation's room.
	Room id.RoomID
	// ToCustomer, when set, sends to the bot's direct chat with that
	// customer instead (a proactive message); it is dropped, and logged,
	// when there is no such chat.
	ToCustomer id.UserID
	Type       event.Type
	Content    json.RawMessage
	// Parent ≥ 0 points at an earlier Outgoing whose sent event id goes
	// into this one's m.relates_to (reactions on the bot's own message).
	Parent int
	// Meta is kept with the sent message (the options of a question, so
	// a reaction to it can be understood later).
	Meta json.RawMessage
}

// TimerRequest is a timer to fire in a conversation.
type TimerRequest struct {
	Name    string
	Payload string
	At      time.Time
	// Room and Customer name another conversation of the same bot (see
	// AfterIn); empty means this one.
	Room     id.RoomID
	Customer id.UserID
}

// Question is the open question of a conversation: the options the next
// typed answer is matched against.
type Question struct {
	// ID ties the question to the message it was asked in: a reaction
	// under an older question's message is not an answer to this one.
	ID      string   `json:"id,omitempty"`
	Prompt  string   `json:"prompt"`
	Options []Option `json:"options"`
}

// Conversation is one bot talking with one customer in one room. What a
// handler does to it (replies, state, facts, records, timers) is buffered
// and committed by the framework in one transaction with the event.
type Conversation struct {
	Bot      id.UserID
	Room     id.RoomID
	Customer Customer
	// Direct is true in a one-to-one chat with the bot.
	Direct bool

	cause   id.EventID
	thread  id.EventID
	backend Backend
	now     func() time.Time

	replies []Outgoing
	failed  string

	step         string
	state        json.RawMessage
	stateExpires time.Time
	stateDirty   bool
	expiredStep  string

	question      *Question
	questionDirty bool
	language      string
	polls         bool

	facts   map[string]*string
	consent map[string]bool
	records []Record
	timers  []TimerRequest
	forget  bool
	commits []CommitFunc
}

// CommitFunc writes a service's own tables inside the transaction that
// commits the turn (an order row, a booking). Returning an error rolls the
// whole turn back; wrap ErrConflict to have the event handled again at once
// (e.g. a unique constraint lost a race for the last slot).
type CommitFunc func(ctx context.Context, tx *sql.Tx) error

// OnCommit queues a write to run in the turn's transaction, after the
// framework's own writes, in the order queued.
func (c *Conversation) OnCommit(fn CommitFunc) { c.commits = append(c.commits, fn) }

// NewConversation is used by the framework and by tests.
func NewConversation(bot id.UserID, room id.RoomID, customer Customer, cause id.EventID) *Conversation {
	return &Conversation{Bot: bot, Room: room, Customer: customer, cause: cause, now: time.Now}
}

// Loaded is the stored conversation the framework hands to Load.
type Loaded struct {
	Step     string
	State    json.RawMessage
	Expires  time.Time
	Question *Question
	Backend  Backend
	Thread   id.EventID
	Now      func() time.Time
	// Language is the bot's language for customers who chose none.
	Language string
	// Polls asks questions as polls (the bot's `polls: true`).
	Polls bool
}

// Load fills the conversation with its stored state (framework use). An
// expired state is dropped here; ExpiredStep tells the handler which step
// it was in.
func (c *Conversation) Load(l Loaded) {
	if l.Now != nil {
		c.now = l.Now
	}
	c.backend, c.thread, c.language, c.polls = l.Backend, l.Thread, l.Language, l.Polls
	c.step, c.state, c.stateExpires, c.question = l.Step, l.State, l.Expires, l.Question
	if !l.Expires.IsZero() && !c.now().Before(l.Expires) {
		c.expiredStep = l.Step
		if c.expiredStep == "" {
			c.expiredStep = "expired"
		}
		c.step, c.state, c.stateExpires, c.question = "", nil, time.Time{}, nil
		c.stateDirty, c.questionDirty = true, true
	}
}

// Now is the conversation's clock (handlertest can move it).
func (c *Conversation) Now() time.Time { return c.now() }

// --- replies ---

// Reply sends text as the bot.
func (c *Conversation) Reply(text string) {
	c.Send(&event.MessageEventContent{MsgType: event.MsgText, Body: text})
}

// Replyf sends formatted text as the bot.
func (c *Conversation) Replyf(format string, args ...any) {
	c.Reply(fmt.Sprintf(format, args...))
}

// Notice sends text as an m.notice (clients show it as a bot message).
func (c *Conversation) Notice(text string) {
	c.Send(&event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
}

// Markdown sends Markdown rendered to HTML with a plain-text body. Raw
// HTML in md is escaped, so customer text placed in it cannot inject
// markup; still, pass customer text through EscapeMarkdown so it cannot
// inject links or formatting either.
func (c *Conversation) Markdown(md string) {
	content := format.RenderMarkdownCustom(md, markdown)
	c.Send(&content)
}

// Image sends an image already in the media repository (mxc:// URI).
func (c *Conversation) Image(uri id.ContentURIString, name string) {
	c.Send(&event.MessageEventContent{MsgType: event.MsgImage, Body: name, URL: uri})
}

// Send queues any message content. In a thread, replies stay in it.
func (c *Conversation) Send(content *event.MessageEventContent) {
	if c.thread != "" && content.RelatesTo == nil {
		content.RelatesTo = (&event.RelatesTo{}).SetThread(c.thread, c.thread)
	}
	c.push(Outgoing{Type: event.EventMessage, Content: mustJSON(content), Parent: -1})
}

// SendTo queues a message into another room the bot is in (a staff room).
func (c *Conversation) SendTo(room id.RoomID, content *event.MessageEventContent) {
	c.push(Outgoing{Room: room, Type: event.EventMessage, Content: mustJSON(content), Parent: -1})
}

// Notify queues a proactive message to a customer's direct chat with this
// bot ("your order is out for delivery"), through the same exactly-once
// outbox as replies.
func (c *Conversation) Notify(customer id.UserID, text string) {
	c.push(Outgoing{ToCustomer: customer, Type: event.EventMessage,
		Content: mustJSON(&event.MessageEventContent{MsgType: event.MsgText, Body: text}), Parent: -1})
}

func (c *Conversation) push(o Outgoing) int {
	c.replies = append(c.replies, o)
	return len(c.replies) - 1
}

func mustJSON(v any) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal event content: %v", err)) // plain structs: cannot fail
	}
	return raw
}

// Outbox returns what the handler queued, in order.
func (c *Conversation) Outbox() []Outgoing { return c.replies }

// Cause is the event being handled ("" for a welcome or a timer).
func (c *Conversation) Cause() id.EventID { return c.cause }

// Reset drops every buffered effect (the framework does this before an
// apology for a failed handler, so half a turn is never committed).
func (c *Conversation) Reset() {
	c.replies, c.records, c.timers, c.facts, c.consent, c.commits = nil, nil, nil, nil, nil, nil
	c.forget = false
	c.stateDirty, c.questionDirty = c.expiredStep != "", c.expiredStep != ""
}

// DropReplies drops the messages queued so far, keeping the turn's other
// effects (framework use: a conversation that ended has nobody to read
// them).
func (c *Conversation) DropReplies() { c.replies = nil }

// SetFailed records why the handler's turn failed (framework use).
func (c *Conversation) SetFailed(reason string) { c.failed = reason }

// Failed is the reason set by SetFailed, or "".
func (c *Conversation) Failed() string { return c.failed }

// --- state ---

// Step is the conversation's current step in a multi-step flow ("" when
// none).
func (c *Conversation) Step() string { return c.step }

// ExpiredStep is the step a conversation was in when its state expired
// before this event ("your cart expired"), or "".
func (c *Conversation) ExpiredStep() string { return c.expiredStep }

// State decodes the conversation's state into v. It reports false when
// there is none.
func (c *Conversation) State(v any) (bool, error) {
	if len(c.state) == 0 || string(c.state) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(c.state, v); err != nil {
		return false, fmt.Errorf("decode conversation state: %w", err)
	}
	return true, nil
}

// SetState replaces the conversation's state with v (JSON-encoded).
func (c *Conversation) SetState(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode conversation state: %w", err)
	}
	c.state, c.stateDirty = raw, true
	return nil
}

// Goto moves the flow to step. A ttl > 0 expires the whole state after
// that long without a message; 0 keeps it until changed.
func (c *Conversation) Goto(step string, ttl time.Duration) {
	c.step, c.stateDirty = step, true
	c.stateExpires = time.Time{}
	if ttl > 0 {
		c.stateExpires = c.now().Add(ttl)
	}
}

// Clear ends the flow: step, state and open question are dropped.
func (c *Conversation) Clear() {
	c.step, c.state, c.stateExpires, c.stateDirty = "", nil, time.Time{}, true
	c.question, c.questionDirty = nil, true
}

// --- customer ---

// SetFact stores a fact about the customer for this business.
func (c *Conversation) SetFact(key, value string) {
	if c.facts == nil {
		c.facts = map[string]*string{}
	}
	c.facts[key] = &value
	if c.Customer.Facts == nil {
		c.Customer.Facts = map[string]string{}
	}
	c.Customer.Facts[key] = value
}

// DeleteFact removes a stored fact.
func (c *Conversation) DeleteFact(key string) {
	if c.facts == nil {
		c.facts = map[string]*string{}
	}
	c.facts[key] = nil
	delete(c.Customer.Facts, key)
}

// SetConsent records a consent flag the customer gave or withdrew.
func (c *Conversation) SetConsent(key string, given bool) {
	if c.consent == nil {
		c.consent = map[string]bool{}
	}
	c.consent[key] = given
	if c.Customer.Consent == nil {
		c.Customer.Consent = map[string]bool{}
	}
	c.Customer.Consent[key] = given
}

// Record adds an entry to the customer's history with this business.
// data is stored as JSON.
func (c *Conversation) Record(kind, summary string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode history record: %w", err)
	}
	c.records = append(c.records, Record{Kind: kind, Summary: summary, Data: raw, Time: c.now()})
	return nil
}

// ErrNoBackend is returned by History and PowerLevel outside the
// framework.
var ErrNoBackend = errors.New("conversation has no storage backend")

// History returns the customer's most recent records with this business,
// newest first, optionally of the given kinds only ("order", "message"…).
// Records added in this turn are not included.
func (c *Conversation) History(ctx context.Context, limit int, kinds ...string) ([]Record, error) {
	if c.backend == nil {
		return nil, ErrNoBackend
	}
	return c.backend.History(ctx, c.Bot, c.Customer.ID, limit, kinds...)
}

// PowerLevel is user's power level in the conversation's room, as the
// homeserver has it now (Element shows 50 as moderator, 100 as admin). A
// service uses it to let only a staff room's moderators run staff
// commands.
func (c *Conversation) PowerLevel(ctx context.Context, user id.UserID) (int, error) {
	if c.backend == nil {
		return 0, ErrNoBackend
	}
	return c.backend.PowerLevel(ctx, c.Bot, c.Room, user)
}

// After fires a timer in this conversation after d: the handler is called
// with a KindTimer message carrying name and payload, in order with the
// room's other events, exactly once.
func (c *Conversation) After(d time.Duration, name, payload string) {
	c.timers = append(c.timers, TimerRequest{Name: name, Payload: payload, At: c.now().Add(d)})
}

// AfterIn fires a timer in another conversation of the same bot: the
// customer's chat in room. A staff member closing a ticket in the staff
// room uses it to ask the customer for a rating in the customer's own
// conversation, where the question and its answer belong.
func (c *Conversation) AfterIn(room id.RoomID, customer id.UserID, d time.Duration, name, payload string) {
	c.timers = append(c.timers, TimerRequest{Name: name, Payload: payload, At: c.now().Add(d), Room: room, Customer: customer})
}

// Forget erases everything this business knows about the customer (state,
// facts, consent, history, timers, and their message text kept by
// bizbots) when the turn commits.
func (c *Conversation) Forget() { c.forget = true }

// Effects is everything a turn changed, for the framework to commit.
type Effects struct {
	Outbox          []Outgoing
	StateChanged    bool
	Step            string
	State           json.RawMessage
	StateExpires    time.Time
	QuestionChanged bool
	Question        *Question
	Facts           map[string]*string
	Consent         map[string]bool
	Records         []Record
	Timers          []TimerRequest
	Forget          bool
	Commits         []CommitFunc
}

// Effects returns what the turn changed.
func (c *Conversation) Effects() Effects {
	return Effects{
		Outbox:       c.replies,
		StateChanged: c.stateDirty, Step: c.step, State: c.state, StateExpires: c.stateExpires,
		QuestionChanged: c.questionDirty, Question: c.question,
		Facts: c.facts, Consent: c.consent, Records: c.records, Timers: c.timers, Forget: c.forget, Commits: c.commits,
	}
}

// markdownSpecial are the characters Markdown gives a meaning to.
const markdownSpecial = "\\`*_{}[]()<>#+-.!|~"

// EscapeMarkdown makes customer text safe to place in Markdown: every
// character with a Markdown meaning is backslash-escaped, so it shows as
// typed and cannot add links, images or formatting.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
