package ordering

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
)

// The orders board of the business console (backoffice.Board): the same
// moves as "!order 1042 ready" in the staff room, with the same texts.

var _ backoffice.Board = (*Bot)(nil)

var boardColumns = []Status{Received, Preparing, Ready, OutForDelivery, Delivered, Cancelled}

// columnLabel is a status as a board's column heading or a button.
func columnLabel(s Status) string {
	l := s.Label()
	if s == Preparing {
		l = "preparing"
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

// BoardColumns implements backoffice.Board.
func (b *Bot) BoardColumns() []backoffice.Column {
	out := make([]backoffice.Column, len(boardColumns))
	for i, s := range boardColumns {
		out[i] = backoffice.Column{Status: string(s), Label: columnLabel(s)}
	}
	return out
}

// BoardOrders implements backoffice.Board: the orders placed in [from, to).
func (b *Bot) BoardOrders(ctx context.Context, bot id.UserID, from, to time.Time) ([]backoffice.Order, error) {
	orders, err := b.orders.list(ctx, `SELECT `+orderColumns+` FROM ordering_orders
		WHERE bot_user_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY number LIMIT 500`,
		bot.String(), from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	out := make([]backoffice.Order, len(orders))
	for i, o := range orders {
		sum := o.Summary() + " · " + o.Fulfilment + " · " + formatMoney(o.Total, o.Currency)
		if o.Address != "" {
			sum += " · " + o.Address
		}
		if o.Note != "" {
			sum += " · note: " + o.Note
		}
		bo := backoffice.Order{ID: strconv.FormatInt(o.Number, 10), Title: fmt.Sprintf("Order %d", o.Number),
			Summary: sum, Customer: o.Customer, Status: string(o.Status), At: o.CreatedAt}
		for _, s := range boardColumns {
			if transitionError(o, s) == "" {
				label := columnLabel(s)
				if s == Cancelled {
					label = "Cancel"
				}
				bo.Moves = append(bo.Moves, backoffice.Move{To: string(s), Label: label})
			}
		}
		out[i] = bo
	}
	return out, nil
}

// MoveOrder implements backoffice.Board. The staff room, when there is
// one, is told too, so it stays in step with the console.
func (b *Bot) MoveOrder(ctx context.Context, c *handlers.Conversation, order, to string) error {
	n, err := strconv.ParseInt(order, 10, 64)
	if err != nil {
		return handlers.Errorf("%q is not an order number.", handlers.CapText(order, 20))
	}
	st := Status(to)
	if _, ok := rank[st]; !ok && st != Cancelled {
		return handlers.Errorf("%q is not a status of an order.", handlers.CapText(to, 30))
	}
	o, err := b.orders.Get(ctx, c.Bot, n)
	if err != nil {
		return err
	}
	if o == nil {
		return handlers.Errorf("There is no order %d.", n)
	}
	text, moved, err := b.move(c, o, st, c.Customer.ID)
	if err != nil {
		return err
	}
	if !moved {
		return handlers.Errorf("%s", text)
	}
	if b.staffRoom != "" {
		c.SendTo(b.staffRoom, &event.MessageEventContent{MsgType: event.MsgNotice,
			Body: text + " (" + c.Customer.ID.String() + ", in the business console)"})
	}
	return nil
}
