package handlers

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/internal/handoff"
)

// The business console (the web page where a business's staff read and
// answer their bots' conversations) uses a handler through these optional
// interfaces, as the dispatcher uses Welcomer and Forgetter. A handler
// that implements none still works in the console: it shows the
// conversation and the customer's recorded history.

// Past is one thing a handler keeps for a customer, as it stands now: an
// order, a ride, a booking, a ticket.
type Past struct {
	Kind    string // "order", "ride", "booking", "ticket"
	Ref     string // the number customer and staff use: "1042"
	Summary string // "2× Margherita (€21.50)"
	Status  string // where it stands: "out for delivery", "claimed by Sam"
	Time    time.Time
}

// Historian is implemented by handlers that keep orders, rides, bookings
// or tickets: the console shows a customer's, newest first and at most
// limit, next to the conversation.
type Historian interface {
	Past(ctx context.Context, bot, customer id.UserID, limit int) ([]Past, error)
}

// Holder is the person of the business who has a customer now.
type Holder struct {
	Agent id.UserID
	Name  string
	// Where they have it, as staff say it: "staff room".
	Where string
}

// Desk is implemented by handlers through which people of the business
// answer customers themselves (the support service's tickets, claimed in
// a staff room), so the console and the handler agree on who has whom:
// the console shows Holders, and a handler that is a Desk gets a Message
// whose Handoff is set when a person takes a conversation over in the
// console, hands it back or closes it.
type Desk interface {
	// Holders returns who has each customer of bot now, by customer;
	// customers nobody has are left out.
	Holders(ctx context.Context, bot id.UserID) (map[id.UserID]Holder, error)
}

// Handoff is a person of the business taking a conversation over in the
// console, handing it back to the bot, or closing it. The console has
// told the customer already.
type Handoff struct {
	// Action is HandoffTake, HandoffBack or HandoffClose.
	Action string
	// Agent is the staff member.
	Agent id.UserID
}

// Handoff actions.
const (
	HandoffTake  = handoff.Take
	HandoffBack  = handoff.Back
	HandoffClose = handoff.Close
)

// Handoff returns the console hand-over m brings, or nil. Only handlers
// that implement Desk get these: in the customer's conversation, in order
// with the customer's messages, as a timer (KindTimer) that handlers not
// looking for it treat as a timer they did not set.
func (m *Message) Handoff() *Handoff {
	if m.Kind != KindTimer || m.Timer == nil {
		return nil
	}
	p, ok := handoff.Decode(m.Timer.Name, m.Timer.Payload)
	if !ok {
		return nil
	}
	return &Handoff{Action: p.Action, Agent: id.UserID(p.Agent)}
}
