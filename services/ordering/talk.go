package ordering

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/understand"
)

// What customers say beyond the commands: "how long will it take?",
// "thanks!", "deliver to Damrak 1", "I'll pick it up myself", "make it
// just one margherita".

var (
	etaRe      = regexp.MustCompile(`(?i)\b(how long|how much longer|when will (it|my order|my food|the pizza) (be )?(here|ready|arrive)|hoe lang|duurt het)\b`)
	thanksRe   = regexp.MustCompile(`(?i)^\s*(thanks|thank you|thx|ty|cheers|merci|bedankt|dank ?je( wel)?|dank u( wel)?|dankjewel|top,? bedankt)\b`)
	readyRe    = regexp.MustCompile(`(?i)\b(is|are)\b.*\b(order|pizza|food)\b.*\b(ready|done|coming|on (its|the) way)\b|\bwaar\b.*\bbestelling\b|\bbestelling\b.*\b(klaar|onderweg)\b`)
	makeItRe   = regexp.MustCompile(`(?i)^\s*(make (it|that)|maak er|maak het)\b\s*(.*)$`)
	totalRe    = regexp.MustCompile(`(?i)\b(how much|total|what do i owe|wat kost|hoeveel kost|totaal)\b`)
	openRe     = regexp.MustCompile(`(?i)\b(are you open|open (today|now|tonight)|opening|closed|gesloten|open vandaag|zijn jullie open)\b`)
	pickupRe   = regexp.MustCompile(`(?i)\b(pick ?(it )?up|pickup|collect( it)?|take ?away|ophalen|afhalen|haal (het )?op)\b`)
	deliverRe  = regexp.MustCompile(`(?i)^\s*(please )?(deliver(y)?|bezorgen|bezorg( het)?|laten bezorgen)\b\s*(.*)$`)
	cartRe     = regexp.MustCompile(`(?i)\b(cart|basket|mandje|winkelmandje)\b`)
	addressRe  = regexp.MustCompile(`\pL{3,}.*\d|\d+\s*\pL{3,}`)
	leadingWrd = regexp.MustCompile(`(?i)^\s*(two|three|four|five|six|seven|eight|nine|ten|one|een|twee|drie|vier|vijf|zes|zeven|acht|negen|tien)\s+\pL`)
)

// looksLikeAddress says whether text reads as a street address: words
// and a house number, several words long ("Damrak 1, 1012 AB Amsterdam").
func looksLikeAddress(text string) bool {
	letters := 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 4 && addressRe.MatchString(text) && len(strings.Fields(text)) >= 2
}

func (t *turn) thanks() error {
	open, err := t.openOrder()
	if err != nil {
		return err
	}
	if open != nil {
		t.c.Reply(t.tr("welcome-open", open.Number))
		return nil
	}
	t.c.Reply(t.tr("welcome"))
	return nil
}

func (t *turn) ack() error {
	open, err := t.openOrder()
	if err != nil {
		return err
	}
	if open != nil {
		t.c.Reply(t.tr("ack-open", open.Number))
		return nil
	}
	t.c.Reply(t.tr("ack"))
	return nil
}

// openOrder is the customer's newest order that is not finished, or nil.
func (t *turn) openOrder() (*Order, error) {
	orders, err := t.b.orders.ByCustomer(t.ctx, t.c.Bot, t.c.Customer.ID, 10)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		if !o.Status.Final() {
			return o, nil
		}
	}
	return nil, nil
}

// eta answers "how long will it take?": for an open order, when it
// should be ready or arrive; otherwise the usual times.
func (t *turn) eta() error {
	o, err := t.openOrder()
	if err != nil {
		return err
	}
	if o != nil {
		t.c.Reply(t.statusLine(o) + " " + t.expected(o))
		return nil
	}
	t.c.Reply(t.tr("usual-times", int(t.b.readyIn.Minutes()), int(t.b.deliveryIn.Minutes())))
	return nil
}

// expected is when an order should be ready (pickup) or arrive.
func (t *turn) expected(o *Order) string {
	if o.Fulfilment == Pickup {
		return t.tr("ready-at", o.CreatedAt.Add(t.b.readyIn).In(t.cat.Location).Format("15:04"), int(t.b.readyIn.Minutes()))
	}
	return t.tr("arrive-at",
		o.CreatedAt.Add(t.b.deliveryIn).In(t.cat.Location).Format("15:04"), int(t.b.deliveryIn.Minutes()))
}

// prepareCheckout checks the cart before the checkout questions: it is
// not empty, the shop is open, prices are current. ok is false when the
// customer was told why the checkout cannot go on.
func (t *turn) prepareCheckout() (ok bool, err error) {
	if len(t.cart.Lines) == 0 {
		return false, handlers.Errorf(`Your cart is empty, so there's nothing to check out yet. Say "menu" to pick something.`)
	}
	if !t.open() {
		return false, handlers.Errorf("%s", t.cat.ClosedText(t.c.Now()))
	}
	if changes := t.reprice(); len(changes) > 0 {
		t.c.Reply("Before you check out: " + strings.Join(changes, " "))
		if len(t.cart.Lines) == 0 {
			t.c.Reply(`That leaves your cart empty. Say "menu" to pick something else.`)
			return false, t.save("")
		}
		t.c.Reply(t.cartText())
	}
	t.resetCheckout()
	return true, t.save(stepCart)
}

// checkoutAs goes to the checkout with delivery or pickup already said
// ("deliver please", "I'll pick it up myself"), and the address when it
// came with it.
func (t *turn) checkoutAs(mode, address string) error {
	if len(t.cart.Lines) == 0 {
		if mode == Pickup {
			return handlers.Errorf(`Your cart is empty, so there's nothing to pick up yet. Say "menu" to pick something.`)
		}
		return handlers.Errorf(`Your cart is empty, so there's nothing to deliver yet. Say "menu" to pick something.`)
	}
	if ok, err := t.prepareCheckout(); !ok || err != nil {
		return err
	}
	if mode == Delivery && address != "" {
		t.cart.Mode = Delivery
		return t.address(address)
	}
	return t.mode(mode)
}

// deliver handles "deliver please", "delivery", "deliver to Damrak 1".
func (t *turn) deliver() error {
	m := deliverRe.FindStringSubmatch(t.m.Text())
	rest := ""
	if m != nil {
		rest = strings.TrimSpace(m[len(m)-1])
	}
	for _, w := range []string{"it", "to", "naar", "please", "at", "op"} {
		rest = strings.TrimSpace(strings.TrimPrefix(rest, w+" "))
	}
	if !looksLikeAddress(rest) {
		rest = ""
	}
	return t.checkoutAs(Delivery, rest)
}

// makeIt handles "make it just one margherita", "make it 3".
func (t *turn) makeIt() error {
	m := makeItRe.FindStringSubmatch(t.m.Text())
	qty, ref := 0, []string{}
	for _, w := range understand.Words(m[len(m)-1]) {
		if n, ok, _ := parseQty(w); ok && qty == 0 {
			qty = n
			continue
		}
		switch w {
		case "just", "only", "maar", "alleen", "please", "graag", "of", "x":
			continue
		}
		ref = append(ref, w)
	}
	if qty == 0 {
		return handlers.Errorf(`Say how many, like "make it 2 margherita".`)
	}
	target := strings.Join(ref, " ")
	if target == "" {
		if len(t.cart.Lines) != 1 {
			return handlers.Errorf(`Which one? Say it like "make it %d margherita". %s`, qty, t.lineHint())
		}
		target = "1"
	}
	return t.change(target + " to " + fmt.Sprint(qty))
}

// statusAge is how long an open order's status is trusted: after it,
// "status" says the order has not moved instead of repeating it.
const statusAge = 6 * time.Hour

// openDeliveries are the customer's delivery orders not yet delivered.
func (b *Bot) openDeliveries(ctx context.Context, c *handlers.Conversation) ([]*Order, error) {
	orders, err := b.orders.ByCustomer(ctx, c.Bot, c.Customer.ID, 20)
	if err != nil {
		return nil, err
	}
	var open []*Order
	for _, o := range orders {
		if !o.Status.Final() && o.Fulfilment == Delivery {
			open = append(open, o)
		}
	}
	return open, nil
}

// ForgetWarning implements handlers.ForgetWarner: forgetting a customer
// erases the address of an order still on its way.
func (b *Bot) ForgetWarning(ctx context.Context, c *handlers.Conversation) (string, error) {
	open, err := b.openDeliveries(ctx, c)
	if err != nil || len(open) == 0 {
		return "", err
	}
	return fmt.Sprintf("Careful: order %d is still to be delivered. Forgetting you erases its delivery address, so we could not bring it to you. "+
		`You may want to wait until it has arrived, or say "cancel" first.`, open[0].Number), nil
}

// Forgetting implements handlers.ForgetWarner: the kitchen hears that an
// open delivery order lost its address, so no one drives off with it.
func (b *Bot) Forgetting(ctx context.Context, c *handlers.Conversation) error {
	open, err := b.openDeliveries(ctx, c)
	if err != nil {
		return err
	}
	for _, o := range open {
		b.announce(c, fmt.Sprintf("⚠️ Order %d: the customer asked to be forgotten, so its delivery address is erased. "+
			"Hold it and cancel it (!order %d cancelled), or keep it for pickup if they come.", o.Number, o.Number))
	}
	return nil
}
