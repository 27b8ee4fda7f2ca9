package handlers

import (
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// Customer is the person the bot is talking to.
type Customer struct {
	ID          id.UserID
	DisplayName string
}

// Name is the display name, or the id's localpart when there is none.
func (c Customer) Name() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	return c.ID.Localpart()
}

// Conversation is one bot talking with one customer in one room. Replies
// are buffered here and committed by the framework.
type Conversation struct {
	Bot      id.UserID
	Room     id.RoomID
	Customer Customer
	// Direct is true in a one-to-one chat with the bot.
	Direct bool

	cause   id.EventID
	replies []Outgoing
	failed  string
}

// NewConversation is used by the framework and by tests.
func NewConversation(bot id.UserID, room id.RoomID, customer Customer, cause id.EventID) *Conversation {
	return &Conversation{Bot: bot, Room: room, Customer: customer, cause: cause}
}

// Outgoing is one event the bot will send.
type Outgoing struct {
	Type    event.Type
	Content json.RawMessage
	// Parent ≥ 0 points at an earlier Outgoing whose sent event id goes
	// into this one's m.relates_to (reactions on the bot's own message).
	Parent int
}

// Reply sends text as the bot.
func (c *Conversation) Reply(text string) {
	c.send(&event.MessageEventContent{MsgType: event.MsgText, Body: text})
}

// Replyf sends formatted text as the bot.
func (c *Conversation) Replyf(format string, args ...any) {
	c.Reply(fmt.Sprintf(format, args...))
}

// Notice sends text as an m.notice (clients show it as a bot message).
func (c *Conversation) Notice(text string) {
	c.send(&event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
}

// Markdown sends Markdown rendered to HTML with a plain-text body. Raw
// HTML in md is escaped, so customer text placed in it cannot inject
// markup.
func (c *Conversation) Markdown(md string) {
	content := format.RenderMarkdown(md, true, false)
	c.send(&content)
}

// Send queues any message content.
func (c *Conversation) Send(content *event.MessageEventContent) { c.send(content) }

func (c *Conversation) send(content *event.MessageEventContent) int {
	raw, err := json.Marshal(content)
	if err != nil {
		panic(fmt.Sprintf("marshal message content: %v", err)) // plain struct: cannot fail
	}
	c.replies = append(c.replies, Outgoing{Type: event.EventMessage, Content: raw, Parent: -1})
	return len(c.replies) - 1
}

// Outbox returns what the handler queued, in order.
func (c *Conversation) Outbox() []Outgoing { return c.replies }

// Cause is the event being handled ("" for a welcome or a proactive message).
func (c *Conversation) Cause() id.EventID { return c.cause }

// Reset drops everything queued (the framework does this before sending an
// apology for a failed handler, so half a reply is never sent).
func (c *Conversation) Reset() { c.replies = nil }

// SetFailed records why the handler's turn failed (framework use).
func (c *Conversation) SetFailed(reason string) { c.failed = reason }

// Failed is the reason set by SetFailed, or "".
func (c *Conversation) Failed() string { return c.failed }
