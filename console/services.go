package console

import (
	"time"

	"context"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/handoff"
	"github.com/bizbots/bizbots/store"
)

// What the console asks of a bot's service goes through the optional
// interfaces of package handlers (Desk, Historian), never through the
// service's tables.

// handlerOf is bot b's running handler (from Options.Bots, else
// Options.Handler), or nil when the console runs without the bots or the
// bot is not served.
func (s *Server) handlerOf(b *bot) handlers.Handler {
	if s.opts.Bots != nil {
		if h, ok := s.opts.Bots.Handler(b.UserID); ok {
			return h
		}
	}
	if s.opts.Handler == nil {
		return nil
	}
	return s.opts.Handler(b.UserID)
}

// holders returns who of the business has which customer of b outside the
// console (a ticket claimed in the staff room), or nil.
func (s *Server) holders(ctx context.Context, b *bot) (map[id.UserID]handlers.Holder, error) {
	d, ok := s.handlerOf(b).(handlers.Desk)
	if !ok {
		return nil, nil
	}
	return d.Holders(ctx, b.UserID)
}

// withHolders shows a conversation the bot has but a person holds
// elsewhere (the staff room) as with that person.
func withHolders(convs []store.ConsoleConversation, holders map[id.UserID]handlers.Holder) {
	for i := range convs {
		c := &convs[i]
		h, ok := holders[id.UserID(c.Customer)]
		if !ok || c.Status != store.ConvBot {
			continue
		}
		c.Status, c.Agent = store.ConvAgent, holderText(h)
		if c.WaitingSince > 0 {
			c.Status = store.ConvWaiting
		}
	}
}

func holderText(h handlers.Holder) string {
	name := h.Name
	if name == "" {
		name = h.Agent.String()
	}
	if h.Where != "" {
		name += ", " + h.Where
	}
	return name
}

// queueHandoff tells a Desk handler, in the transaction that changes the
// conversation's status, that a person took it over, handed it back or
// closed it: a timer due now in the customer's conversation, so the
// handler gets it in order with the customer's messages.
func (s *Server) queueHandoff(ctx context.Context, tx store.Tx, b *bot, c *store.ConsoleConversation, status string, agent id.UserID) error {
	if _, ok := s.handlerOf(b).(handlers.Desk); !ok {
		return nil
	}
	action := map[string]string{store.ConvAgent: handoff.Take, store.ConvBot: handoff.Back, store.ConvClosed: handoff.Close}[status]
	return store.AddTimer(ctx, tx, b.UserID.String(), c.RoomID, c.Customer, handoff.TimerName,
		handoff.Encode(handoff.Payload{Action: action, Agent: agent.String()}), store.Now())
}

// heldElsewhere refuses a take-over of a customer someone else has in the
// staff room: two people would answer at once.
func (s *Server) heldElsewhere(w http.ResponseWriter, r *http.Request, b *bot, sess *session, c *store.ConsoleConversation) bool {
	if c.Status != store.ConvBot && c.Status != store.ConvClosed {
		return false
	}
	holders, err := s.holders(r.Context(), b)
	if err != nil {
		s.internal(w, r, err)
		return true
	}
	h, ok := holders[id.UserID(c.Customer)]
	if !ok || h.Agent == sess.User {
		return false
	}
	s.fail(w, r, http.StatusConflict, holderText(h)+" has this customer. Ask them to hand the ticket back (or answer in the staff room) before you take over.")
	return true
}

// pastOf lists what the bot's service keeps for the customer, as it
// stands now (handlers.Historian); nil when the service keeps nothing.
func (s *Server) pastOf(ctx context.Context, b *bot, customer string) ([]handlers.Past, bool, error) {
	h, ok := s.handlerOf(b).(handlers.Historian)
	if !ok {
		return nil, false, nil
	}
	p, err := h.Past(ctx, b.UserID, id.UserID(customer), 20)
	return p, true, err
}

func init() {
	funcs["isoTime"] = func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
}
