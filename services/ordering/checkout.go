package ordering

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// factAddress is the customer fact holding their last delivery address.
const factAddress = "address"

// Limits on what a customer types at checkout.
const (
	maxAddress = 200
	maxNote    = 300
)

// checkout starts the checkout: prices are checked again, then delivery
// or pickup is asked.
func (t *turn) checkout() error {
	if ok, err := t.prepareCheckout(); !ok || err != nil {
		return err
	}
	delivery := t.tr("delivery")
	if t.cat.DeliveryFee > 0 {
		delivery += " (+" + t.cat.Money(t.cat.DeliveryFee) + ")"
	}
	t.c.Ask(t.tr("delivery-or", t.items(t.cart.count()), t.cat.Money(t.cart.total())),
		handlers.Opt("mode:"+Delivery, delivery, "deliver", "deliver it", "bring it", "bezorgen", "laten bezorgen", "thuisbezorgen"),
		handlers.Opt("mode:"+Pickup, t.tr("pickup-at", t.b.shop), "pick up", "pick it up", "collect", "collect it", "take away", "takeaway",
			"ophalen", "afhalen", "zelf ophalen"))
	return nil
}

// needCart refuses an answer to a checkout question when there is no cart
// any more (an old question answered after the order was placed).
func (t *turn) needCart() error {
	if len(t.cart.Lines) == 0 {
		return handlers.Errorf(`Your cart is empty. Say "menu" to pick something.`)
	}
	return nil
}

func (t *turn) mode(mode string) error {
	if err := t.needCart(); err != nil {
		return err
	}
	t.cart.Mode = Pickup
	if mode != Delivery {
		return t.askNote()
	}
	t.cart.Mode = Delivery
	if err := t.save(stepAddress); err != nil {
		return err
	}
	if addr := t.c.Customer.Fact(factAddress); addr != "" {
		t.c.Ask(fmt.Sprintf("Deliver to %s again?", addr),
			handlers.Opt("addr:same", "Yes, same address"), handlers.Opt("addr:new", "No, another address"))
		return nil
	}
	t.c.Reply(t.tr("address?"))
	return nil
}

func (t *turn) addressChoice(which string) error {
	if err := t.needCart(); err != nil {
		return err
	}
	if addr := t.c.Customer.Fact(factAddress); which == "same" && addr != "" {
		t.cart.Address = addr
		return t.askNote()
	}
	if err := t.save(stepAddress); err != nil {
		return err
	}
	t.c.Reply(t.tr("address?"))
	return nil
}

// stopWords of a free-text checkout step: they leave the checkout.
func isStop(text string) bool {
	switch strings.ToLower(strings.Trim(text, " .!")) {
	case "cancel", "stop", "back", "abort", "quit":
		return true
	}
	return false
}

func (t *turn) stopCheckout() error {
	t.resetCheckout()
	if err := t.save(stepCart); err != nil {
		return err
	}
	t.c.Reply(t.tr("stopped"))
	return nil
}

// address takes a typed delivery address.
func (t *turn) address(text string) error {
	if err := t.needCart(); err != nil {
		return err
	}
	if isStop(text) {
		return t.stopCheckout()
	}
	addr := strings.Join(strings.Fields(text), " ")
	letters, digits := 0, 0
	for _, r := range addr {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r):
			digits++
		}
	}
	if len([]rune(addr)) < 5 || letters < 2 {
		return handlers.Errorf(`That doesn't look like an address. Please type the street and number, like "1 Main St, 1011 AB Amsterdam" (or "cancel" to stop the checkout).`)
	}
	if len([]rune(addr)) > maxAddress {
		return handlers.Errorf("That address is too long; please keep it under %d characters.", maxAddress)
	}
	t.cart.Address = addr
	return t.askNote()
}

func (t *turn) askNote() error {
	if err := t.save(stepNote); err != nil {
		return err
	}
	t.c.Ask(t.tr("note?"),
		handlers.Opt("note:none", t.tr("no-note"), "no note", "no", "none", "nope", "no thanks", "nothing", "skip", "nee", "geen", "niets"))
	return nil
}

// note takes the optional note; "" (the "No note" option) or "no" means
// none.
func (t *turn) note(text string) error {
	if err := t.needCart(); err != nil {
		return err
	}
	if isStop(text) {
		return t.stopCheckout()
	}
	switch strings.ToLower(strings.Trim(text, " .!")) {
	case "", "no", "none", "nope", "no note", "no thanks", "nothing", "skip", "-", "n":
		text = ""
	}
	t.cart.Note = handlers.CapText(strings.Join(strings.Fields(text), " "), maxNote)
	return t.askConfirm("")
}

func (t *turn) orderTotal() (fee, total int64) {
	if t.cart.Mode == Delivery {
		fee = t.cat.DeliveryFee
	}
	return fee, t.cart.total() + fee
}

// summaryText is the order as it will be placed, in the customer's
// language.
func (t *turn) summaryText() string { return t.summaryIn(t.c.Language()) }

// summaryIn is the order in lang (the staff room reads the bot's own).
func (t *turn) summaryIn(lang string) string {
	tr := func(key string, args ...any) string { return fmt.Sprintf(t.b.texts.Now().In(lang, key), args...) }
	var b strings.Builder
	b.WriteString(tr("your-order"))
	for _, l := range t.cart.Lines {
		fmt.Fprintf(&b, "\n%d × %s — %s", l.Qty, l.Name, t.cat.Money(l.Total()))
	}
	fee, total := t.orderTotal()
	if fee > 0 {
		b.WriteString("\n" + tr("fee-line", t.cat.Money(fee)))
	}
	b.WriteString("\n" + tr("total-line", t.cat.Money(total)))
	if t.cart.Mode == Delivery {
		b.WriteString("\n" + tr("delivery-to", t.cart.Address))
	} else {
		b.WriteString("\n" + tr("pickup-at", t.b.shop))
	}
	if t.cart.Note != "" {
		b.WriteString("\n" + tr("note-line", t.cart.Note))
	}
	return b.String()
}

func (t *turn) askConfirm(intro string) error {
	if err := t.save(stepCart); err != nil {
		return err
	}
	t.c.Ask(intro+t.summaryText()+"\n\n"+t.tr("place?"),
		handlers.Opt("confirm:yes", t.tr("place-yes")), handlers.Opt("confirm:no", t.tr("place-no")))
	return nil
}

func (t *turn) confirm(yes bool) error {
	if err := t.needCart(); err != nil {
		return err
	}
	if !yes {
		t.resetCheckout()
		if err := t.save(stepCart); err != nil {
			return err
		}
		t.c.Reply(t.tr("not-ordered"))
		return nil
	}
	if t.cart.Mode == "" || t.cart.Mode == Delivery && t.cart.Address == "" {
		return t.checkout() // an old confirmation after the cart changed
	}
	if !t.open() {
		return handlers.Errorf("%s Your cart is kept for %s.", t.cat.ClosedText(t.c.Now()), humanDuration(t.b.ttl))
	}
	if changes := t.reprice(); len(changes) > 0 {
		if len(t.cart.Lines) == 0 {
			t.c.Reply(strings.Join(changes, " ") + ` That leaves your cart empty. Say "menu" to pick something else.`)
			return t.save("")
		}
		return t.askConfirm("Something changed since you added it: " + strings.Join(changes, " ") + "\n\n")
	}
	return t.place()
}

// orderRecord is what the customer's history keeps of an order.
type orderRecord struct {
	Number     int64  `json:"number"`
	Lines      []Line `json:"lines"`
	Total      int64  `json:"total"`
	Currency   string `json:"currency"`
	Fulfilment string `json:"fulfilment"`
}

// place creates the order. Its number is the bot's highest plus one; if
// another turn commits that number first, the insert fails with
// ErrConflict and this event is handled again, picking the next number.
func (t *turn) place() error {
	n, err := t.b.orders.NextNumber(t.ctx, t.c.Bot)
	if err != nil {
		return err
	}
	if t.b.numberHook != nil {
		t.b.numberHook(t.ctx, n)
	}
	now := t.c.Now()
	fee, total := t.orderTotal()
	o := &Order{Number: n, Customer: t.c.Customer.ID, Status: Received, Fulfilment: t.cart.Mode,
		Address: t.cart.Address, Note: t.cart.Note, Currency: t.cat.Currency, Lines: t.cart.Lines,
		Fee: fee, Total: total, CreatedAt: now, UpdatedAt: now}
	bot := t.c.Bot
	t.c.OnCommit(func(ctx context.Context, tx *sql.Tx) error { return insertOrder(ctx, tx, bot, o) })
	if err := t.c.Record("order", fmt.Sprintf("Order %d: %s (%s)", n, o.Summary(), t.cat.Money(total)),
		orderRecord{Number: n, Lines: o.Lines, Total: total, Currency: o.Currency, Fulfilment: o.Fulfilment}); err != nil {
		return err
	}
	if o.Fulfilment == Delivery {
		t.c.SetFact(factAddress, o.Address)
	}
	summary, staffSummary := t.summaryText(), t.summaryIn("en")
	t.cart = cart{}
	if err := t.save(""); err != nil {
		return err
	}
	t.c.Reply(t.tr("placed", n, summary, t.expected(o)))
	t.b.announce(t.c, fmt.Sprintf("🆕 New order %d from %s (%s)\n%s\nReply: !order %d preparing",
		n, t.c.Customer.Name(), t.c.Customer.ID, strings.TrimPrefix(staffSummary, "Your order:\n"), n))
	return nil
}

// announce posts into the staff room, when there is one.
func (b *Bot) announce(c *handlers.Conversation, text string) {
	if b.staffRoom != "" {
		c.SendTo(b.staffRoom, &event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
	}
}

// status answers "where is my order?".
func (t *turn) status() error {
	orders, err := t.b.orders.ByCustomer(t.ctx, t.c.Bot, t.c.Customer.ID, 10)
	if err != nil {
		return err
	}
	if len(orders) == 0 {
		t.c.Reply(`You haven't ordered with us yet. Say "menu" to see what we have.`)
		return nil
	}
	var lines []string
	for _, o := range orders {
		if !o.Status.Final() && len(lines) < 3 {
			lines = append(lines, t.statusLine(o))
		}
	}
	if len(lines) == 0 {
		o := orders[0]
		t.c.Reply(fmt.Sprintf("You have no open orders. Your last order, %d (%s), was %s on %s.", o.Number, o.Summary(),
			o.Status.Label(), o.UpdatedAt.In(t.cat.Location).Format("Mon 2 Jan at 15:04")))
		return nil
	}
	t.c.Reply(strings.Join(lines, "\n"))
	return nil
}

func (t *turn) statusLine(o *Order) string {
	placed := o.CreatedAt.In(t.cat.Location)
	when := "today at " + placed.Format("15:04")
	if now := t.c.Now().In(t.cat.Location); placed.YearDay() != now.YearDay() || placed.Year() != now.Year() {
		when = "on " + placed.Format("Mon 2 Jan at 15:04")
	}
	s := fmt.Sprintf("Order %d (%s, %s), placed %s: %s", o.Number, o.Summary(), formatMoney(o.Total, o.Currency), when, o.Status.Label())
	if !o.Status.Final() && t.c.Now().Sub(o.UpdatedAt) > statusAge {
		return s + fmt.Sprintf(". It has not changed since %s, which is longer than it should be: please contact %s directly if it has not reached you.",
			o.UpdatedAt.In(t.cat.Location).Format("Mon 2 Jan at 15:04"), t.b.shop)
	}
	switch {
	case o.Status == Received:
		s += ", waiting for the kitchen."
	case o.Status == Ready && o.Fulfilment == Pickup:
		s += ": come and get it!"
	case o.Status == OutForDelivery:
		s += " to " + o.Address + "."
	default:
		s += "."
	}
	return s
}

var orderNumberRe = regexp.MustCompile(`\d+`)

// cancel handles "cancel", "cancel my order" and "cancel 1042": an order can be cancelled by
// the customer only while it is received (the kitchen has not started).
func (t *turn) cancel(args string) error {
	orders, err := t.b.orders.ByCustomer(t.ctx, t.c.Bot, t.c.Customer.ID, 10)
	if err != nil {
		return err
	}
	var o *Order
	if m := orderNumberRe.FindString(args); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return handlers.Errorf("You have no order %s.", handlers.CapText(m, 20))
		}
		for _, x := range orders {
			if x.Number == n {
				o = x
			}
		}
		if o == nil {
			return handlers.Errorf("You have no order %d.", n)
		}
	} else {
		for _, x := range orders {
			if !x.Status.Final() {
				o = x
				break
			}
		}
		if o == nil {
			if len(t.cart.Lines) > 0 {
				return handlers.Errorf(`You have no open order to cancel. To empty your cart, say "empty cart".`)
			}
			return handlers.Errorf("You have no open order to cancel.")
		}
	}
	if err := t.cancellable(o); err != nil {
		return err
	}
	t.c.Ask(fmt.Sprintf("Cancel order %d (%s, %s)?", o.Number, o.Summary(), formatMoney(o.Total, o.Currency)),
		handlers.Opt(fmt.Sprintf("cancel:%d", o.Number), "Yes, cancel it"), handlers.Opt("cancel:keep", "No, keep it"))
	return nil
}

func (t *turn) cancellable(o *Order) error {
	switch o.Status {
	case Received:
		return nil
	case Cancelled:
		return handlers.Errorf("Order %d is already cancelled.", o.Number)
	case Delivered:
		return handlers.Errorf("Order %d was already delivered.", o.Number)
	}
	return handlers.Errorf("Sorry, order %d is already %s, so it can no longer be cancelled. If something is wrong, please contact %s directly.",
		o.Number, o.Status.Label(), t.b.shop)
}

func (t *turn) cancelChoice(arg string) error {
	if arg == "keep" {
		t.c.Reply("OK, your order stays as it is.")
		return nil
	}
	n, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return fmt.Errorf("malformed cancel option %q", arg)
	}
	o, err := t.b.orders.Get(t.ctx, t.c.Bot, n)
	if err != nil {
		return err
	}
	if o == nil || o.Customer != t.c.Customer.ID {
		return handlers.Errorf("You have no order %d.", n)
	}
	if err := t.cancellable(o); err != nil {
		return err
	}
	if err := t.b.changeStatus(t.c, o, Cancelled, t.c.Customer.ID); err != nil {
		return err
	}
	t.c.Reply(fmt.Sprintf("Order %d is cancelled. Nothing will be charged. Say \"menu\" whenever you'd like to order again.", n))
	t.b.announce(t.c, fmt.Sprintf("❌ Order %d was cancelled by the customer (%s).", n, t.c.Customer.Name()))
	return nil
}

// changeStatus queues the status change of an order (from the status it
// was read in) and the entry in the customer's history.
func (b *Bot) changeStatus(c *handlers.Conversation, o *Order, to Status, actor id.UserID) error {
	bot, from, at := c.Bot, o.Status, c.Now()
	summary := fmt.Sprintf("Order %d: %s", o.Number, to.Label())
	data, err := json.Marshal(map[string]any{"number": o.Number, "status": to, "by": actor})
	if err != nil {
		return err
	}
	customer := o.Customer
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		if err := setStatus(ctx, tx, bot, o.Number, from, to, actor.String(), at); err != nil {
			return err
		}
		if customer == "" {
			return nil // a forgotten customer has no history
		}
		return store.AddHistory(ctx, tx, bot.String(), customer.String(), "order_status", summary, data, at.UnixMilli())
	})
	return nil
}

// lastOrder is the customer's newest order that was not cancelled (a
// cancelled order is no one's usual), as a list of at most one.
func (t *turn) lastOrder() ([]*Order, error) {
	orders, err := t.b.orders.ByCustomer(t.ctx, t.c.Bot, t.c.Customer.ID, 20)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		if o.Status != Cancelled {
			return []*Order{o}, nil
		}
	}
	return nil, nil
}

// usual rebuilds the cart from the customer's last order, at today's
// prices and availability, and goes to the checkout.
func (t *turn) usual() error {
	last, err := t.lastOrder()
	if err != nil {
		return err
	}
	if len(last) == 0 {
		t.c.Reply(`I don't know your usual yet: you haven't ordered with us. Say "menu" to see what we have.`)
		return nil
	}
	if !t.open() {
		return handlers.Errorf("%s", t.cat.ClosedText(t.c.Now()))
	}
	o := last[0]
	var changes []string
	added := 0
	for _, l := range o.Lines {
		price, state := t.lineNow(l.Item, l.Size)
		switch {
		case state == lineGone:
			changes = append(changes, fmt.Sprintf("%s is no longer on the menu, so I left it out.", l.Name))
			continue
		case state == lineSoldOut:
			changes = append(changes, fmt.Sprintf("%s is sold out right now, so I left it out.", l.Name))
			continue
		case price != l.Price:
			changes = append(changes, fmt.Sprintf("%s now costs %s (it was %s last time).", l.Name, t.cat.Money(price), formatMoney(l.Price, o.Currency)))
		}
		i := t.findLine(l.Item, l.Size)
		if i < 0 {
			if len(t.cart.Lines) >= maxLines {
				continue
			}
			t.cart.Lines = append(t.cart.Lines, Line{Item: l.Item, Size: l.Size})
			i = len(t.cart.Lines) - 1
		}
		t.cart.Lines[i].Qty = min(t.cart.Lines[i].Qty+l.Qty, maxQty)
		t.cart.Lines[i].Price, t.cart.Lines[i].Name = price, t.cat.Item(l.Item).LineName(l.Size)
		added++
	}
	intro := fmt.Sprintf("I've put your last order (%d) in your cart.", o.Number)
	if added == 0 {
		t.c.Reply(strings.Join(changes, " ") + ` So I couldn't put your last order together. Say "menu" to pick something else.`)
		return nil
	}
	if len(changes) > 0 {
		intro += " Heads up: " + strings.Join(changes, " ")
	}
	t.c.Reply(intro + "\n" + t.cartText())
	return t.checkout()
}
