package dispatcher

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Handler is the service handler bot runs now (after a reload, the new
// one), without the framework's middleware: the console looks on it for
// the optional interfaces of handlers/backoffice.
func (d *Dispatcher) Handler(bot id.UserID) (handlers.Handler, bool) {
	b, ok := d.Bot(bot)
	if !ok {
		return nil, false
	}
	return b.Handler, true
}

// Act runs fn as a turn of bot that no customer message caused (staff
// moving an order in the console), actor being the staff member, and
// commits what it queued in tx: the service's own writes (OnCommit) and
// its messages (Notify, SendTo) as outbox rows. State, facts and timers
// belong to a customer's conversation and are not allowed here. It
// returns how many messages were queued; the caller commits tx and wakes
// the sender.
func (d *Dispatcher) Act(ctx context.Context, tx store.Tx, bot, actor id.UserID, fn func(h handlers.Handler, c *handlers.Conversation) error) (int, error) {
	h, ok := d.Handler(bot)
	if !ok {
		return 0, fmt.Errorf("%s is not a served bot", bot)
	}
	conv := handlers.NewConversation(bot, "", handlers.Customer{ID: actor}, "")
	if err := fn(h, conv); err != nil {
		return 0, err
	}
	e := conv.Effects()
	if e.StateChanged || e.QuestionChanged || len(e.Facts) > 0 || len(e.Consent) > 0 || len(e.Timers) > 0 || len(e.Records) > 0 || e.Forget {
		return 0, fmt.Errorf("bot %s: an action from outside a conversation may only write through OnCommit and send messages", bot)
	}
	for _, fn := range e.Commits {
		if err := fn(ctx, tx); err != nil {
			return 0, err
		}
	}
	for _, o := range e.Outbox {
		if o.Room == "" && o.ToCustomer == "" {
			return 0, fmt.Errorf("bot %s: a message from outside a conversation needs a room or a customer", bot)
		}
	}
	rows, err := outboxRows(ctx, tx, conv, "", d.log)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	if _, err := store.AppendOutbox(ctx, tx, rows); err != nil {
		return 0, err
	}
	return len(rows), nil
}
