package ordering

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

const staffHelp = `Commands:
• !order 1042 preparing|ready|out|delivered|cancel: move an order on (the customer is told)
• !order 1042: show an order and its history
• !orders: list open orders`

// staffActions are the words staff use for each status.
var staffActions = map[string]Status{
	"preparing": Preparing, "prepare": Preparing, "cooking": Preparing, "accept": Preparing, "accepted": Preparing,
	"ready": Ready,
	"out":   OutForDelivery, "delivering": OutForDelivery, "out for delivery": OutForDelivery, "sent": OutForDelivery,
	"delivered": Delivered, "done": Delivered, "picked up": Delivered, "collected": Delivered,
	"cancel": Cancelled, "cancelled": Cancelled, "canceled": Cancelled,
}

// staff handles the staff room. Only "!"-commands are read: staff talk
// among themselves there too. Only staff (see staffroom) may give them;
// anyone else is told so politely.
func (b *Bot) staff(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if !m.IsText() || m.Choice != nil {
		return nil
	}
	text := m.Text()
	if !strings.HasPrefix(text, "!") {
		return nil
	}
	f := strings.Fields(strings.ToLower(strings.TrimPrefix(text, "!")))
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "orders", "order", "help":
		ok, err := b.staffAuth.Allows(ctx, c)
		if err != nil {
			return err
		}
		if !ok {
			c.Notice(b.staffAuth.Refusal(c, "Nothing was changed."))
			return nil
		}
	default:
		return nil // another bot's command
	}
	switch f[0] {
	case "orders":
		return b.staffList(ctx, c)
	case "order":
	case "help":
		c.Notice(staffHelp)
		return nil
	}
	if len(f) < 2 {
		c.Notice("Which order? Use: !order 1042 preparing|ready|out|delivered|cancel")
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(f[1], "#"), 10, 64)
	if err != nil || n <= 0 {
		c.Notice(fmt.Sprintf("%q is not an order number. Use: !order 1042 preparing|ready|out|delivered|cancel", handlers.CapText(f[1], 20)))
		return nil
	}
	o, err := b.orders.Get(ctx, c.Bot, n)
	if err != nil {
		return err
	}
	if o == nil {
		c.Notice(fmt.Sprintf("There is no order %d.", n))
		return nil
	}
	if len(f) == 2 {
		return b.staffShow(ctx, c, o)
	}
	action := strings.Join(f[2:], " ")
	to, ok := staffActions[action]
	if !ok {
		c.Notice(fmt.Sprintf("I don't know %q. Use one of: preparing, ready, out, delivered, cancel.", handlers.CapText(action, 30)))
		return nil
	}
	done, _, err := b.move(c, o, to, c.Customer.ID)
	if err != nil {
		return err
	}
	c.Notice(done)
	return nil
}

// move moves order o to status to for staff member actor: the status
// change and the customer's update, queued in c's turn. It returns what
// staff are told (why not, when the move is not allowed: then nothing is
// queued). The staff room and the business console both move orders
// through it.
func (b *Bot) move(c *handlers.Conversation, o *Order, to Status, actor id.UserID) (text string, moved bool, err error) {
	if msg := transitionError(o, to); msg != "" {
		return msg, false, nil
	}
	if err := b.changeStatus(c, o, to, actor); err != nil {
		return "", false, err
	}
	told := "The customer has been told."
	if o.Customer == "" {
		told = "The customer asked to be forgotten, so nobody was told."
	} else {
		c.Notify(o.Customer, b.customerText(o, to))
	}
	return fmt.Sprintf("✅ Order %d is now %s. %s", o.Number, to.Label(), told), true, nil
}

// transitionError says why an order cannot move to a status, or "".
// Orders move forward only (skipping steps is fine: a pickup order can go
// from preparing straight to delivered); they can be cancelled until they
// are out for delivery.
func transitionError(o *Order, to Status) string {
	switch {
	case o.Status.Final():
		return fmt.Sprintf("Order %d is already %s; it can't change any more.", o.Number, o.Status.Label())
	case to == o.Status:
		return fmt.Sprintf("Order %d is already %s.", o.Number, o.Status.Label())
	case to == Cancelled && o.Status == OutForDelivery:
		return fmt.Sprintf("Order %d is out for delivery; it can't be cancelled any more.", o.Number)
	case to == Cancelled:
		return ""
	case to == OutForDelivery && o.Fulfilment == Pickup:
		return fmt.Sprintf("Order %d is for pickup, so it doesn't go out for delivery. Use ready, then delivered when it's collected.", o.Number)
	case rank[to] < rank[o.Status]:
		return fmt.Sprintf("Order %d is already %s; it can't go back to %s.", o.Number, o.Status.Label(), to.Label())
	}
	return ""
}

// customerText is what the customer is told when their order moves.
func (b *Bot) customerText(o *Order, to Status) string {
	switch to {
	case Preparing:
		return fmt.Sprintf("👨‍🍳 Your order %d is being prepared.", o.Number)
	case Ready:
		if o.Fulfilment == Pickup {
			return fmt.Sprintf("✅ Your order %d is ready for pickup at %s.", o.Number, b.shop)
		}
		return fmt.Sprintf("✅ Your order %d is ready and waiting for the driver.", o.Number)
	case OutForDelivery:
		return fmt.Sprintf("🛵 Your order %d is out for delivery to %s.", o.Number, o.Address)
	case Delivered:
		if o.Fulfilment == Pickup {
			return fmt.Sprintf("Your order %d has been picked up. Enjoy your meal!", o.Number)
		}
		return fmt.Sprintf("Your order %d has been delivered. Enjoy your meal!", o.Number)
	case Cancelled:
		return fmt.Sprintf("Sorry, %s had to cancel your order %d. Nothing will be charged.", b.shop, o.Number)
	}
	return fmt.Sprintf("Your order %d is now %s.", o.Number, to.Label())
}

func (b *Bot) staffShow(ctx context.Context, c *handlers.Conversation, o *Order) error {
	hist, err := b.orders.History(ctx, c.Bot, o.Number)
	if err != nil {
		return err
	}
	var s strings.Builder
	who := string(o.Customer)
	if who == "" {
		who = "(forgotten customer)"
	}
	fmt.Fprintf(&s, "Order %d, %s, for %s: %s\n", o.Number, o.Status.Label(), o.Fulfilment, who)
	for _, l := range o.Lines {
		fmt.Fprintf(&s, "%d × %s — %s\n", l.Qty, l.Name, formatMoney(l.Total(), o.Currency))
	}
	if o.Fee > 0 {
		fmt.Fprintf(&s, "Delivery — %s\n", formatMoney(o.Fee, o.Currency))
	}
	fmt.Fprintf(&s, "Total: %s", formatMoney(o.Total, o.Currency))
	if o.Address != "" {
		fmt.Fprintf(&s, "\nAddress: %s", o.Address)
	}
	if o.Note != "" {
		fmt.Fprintf(&s, "\nNote: %s", o.Note)
	}
	loc := b.src.get(ctx).Location
	for _, h := range hist {
		by := h.Actor
		if by == "" {
			by = "customer (forgotten)"
		}
		fmt.Fprintf(&s, "\n%s %s (%s)", h.Time.In(loc).Format("15:04"), h.Status.Label(), by)
	}
	c.Notice(s.String())
	return nil
}

func (b *Bot) staffList(ctx context.Context, c *handlers.Conversation) error {
	open, err := b.orders.Open(ctx, c.Bot, 30)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		c.Notice("No open orders.")
		return nil
	}
	loc := b.src.get(ctx).Location
	lines := make([]string, len(open))
	for i, o := range open {
		lines[i] = fmt.Sprintf("%d · %s · %s · %s · %s", o.Number, o.CreatedAt.In(loc).Format("15:04"), o.Status.Label(), o.Fulfilment, o.Summary())
	}
	c.Notice("Open orders:\n" + strings.Join(lines, "\n"))
	return nil
}
