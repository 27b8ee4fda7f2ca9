package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// The event types a business receives.
const (
	TypeMessage             = "message"
	TypeChoice              = "choice"
	TypeReaction            = "reaction"
	TypeMessageDeleted      = "message.deleted"
	TypeConversationStarted = "conversation.started"
	// TypeConversationEnded: the customer left the direct chat, was
	// removed from it, or staff closed it (data.reason says which).
	TypeConversationEnded = "conversation.ended"
	// TypeCustomerForgotten: the customer had bizbots erase what the
	// business's bot knew of them; the business should erase its copy.
	// The payload carries ids only.
	TypeCustomerForgotten = "customer.forgotten"
	TypeTimer             = "timer"
	// TypeTest is what `bizbots webhook test` sends.
	TypeTest = "test"
)

// Event is the JSON body of a webhook request.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what the event is about.
type Data struct {
	Bot      id.UserID `json:"bot"`
	Room     id.RoomID `json:"room"`
	Customer Customer  `json:"customer"`
	Message  *Message  `json:"message,omitempty"`
	Timer    *Timer    `json:"timer,omitempty"`
	// Reason is why a conversation ended: left, removed or closed.
	Reason string `json:"reason,omitempty"`
	// ReplyURL is where to answer later through the Send API.
	ReplyURL string `json:"reply_url,omitempty"`
}

// Customer is the person talking to the bot, as the business knows them.
type Customer struct {
	ID          id.UserID       `json:"id"`
	DisplayName string          `json:"display_name"`
	FirstSeen   *time.Time      `json:"first_seen,omitempty"`
	LastSeen    *time.Time      `json:"last_seen,omitempty"`
	New         bool            `json:"new"`
	Consent     map[string]bool `json:"consent"`
}

// Message is what the customer did.
type Message struct {
	ID       id.EventID `json:"id"`
	Text     string     `json:"text,omitempty"`
	MsgType  string     `json:"msgtype,omitempty"`
	Media    string     `json:"media,omitempty"`
	Choice   *Choice    `json:"choice,omitempty"`
	Reaction string     `json:"reaction,omitempty"`
	// ReplyTo is the event the customer replied to or reacted to.
	ReplyTo id.EventID `json:"reply_to,omitempty"`
	Deleted id.EventID `json:"deleted,omitempty"`
}

// Choice is the option the customer picked from the bot's last question.
type Choice struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// Timer is a fired timer.
type Timer struct {
	Name    string `json:"name"`
	Payload string `json:"payload"`
}

// eventType names what m is, "" for what a business is not told.
func eventType(m *handlers.Message) string {
	switch {
	case m.Choice != nil:
		return TypeChoice
	case m.Kind == handlers.KindMessage:
		return TypeMessage
	case m.Kind == handlers.KindReaction:
		return TypeReaction
	case m.Kind == handlers.KindRedaction:
		return TypeMessageDeleted
	case m.Kind == handlers.KindTimer:
		return TypeTimer
	}
	return ""
}

// payload builds the event for the business; m is nil for a conversation
// started.
func (s *Service) payload(c *handlers.Conversation, typ string, m *handlers.Message) Event {
	cu := c.Customer
	cust := Customer{ID: cu.ID, DisplayName: cu.DisplayName, New: cu.New, Consent: cu.Consent}
	if cust.Consent == nil {
		cust.Consent = map[string]bool{}
	}
	if !cu.FirstSeen.IsZero() {
		first, last := cu.FirstSeen.UTC(), cu.LastSeen.UTC()
		cust.FirstSeen, cust.LastSeen = &first, &last
	}
	ev := Event{Type: typ, Timestamp: c.Now().UTC(), Data: Data{Bot: c.Bot, Room: c.Room, Customer: cust, ReplyURL: s.replyURL}}
	if m == nil {
		return ev
	}
	if m.Kind == handlers.KindTimer && m.Timer != nil {
		ev.Data.Timer = &Timer{Name: m.Timer.Name, Payload: m.Timer.Payload}
		return ev
	}
	msg := &Message{ID: m.ID, Text: m.Text(), MsgType: string(m.MsgType), Media: string(m.Media),
		Reaction: m.Reaction, ReplyTo: m.InReplyTo, Deleted: m.Redacts}
	if m.Kind == handlers.KindReaction {
		msg.ReplyTo = m.RelatesTo
	}
	if m.Choice != nil {
		msg.Choice = &Choice{Key: m.Choice.Key, Label: m.Choice.Label}
	}
	ev.Data.Message = msg
	return ev
}

// msgID is the webhook-id of an event: derived from what it is about, so
// every retry of it carries the same id and the business can deduplicate.
func msgID(bot id.UserID, key string) string {
	sum := sha256.Sum256([]byte(bot.String() + "\x00" + key))
	return "msg_" + base64.RawURLEncoding.EncodeToString(sum[:18])
}
