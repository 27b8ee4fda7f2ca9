package support

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/event"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/understand"
)

// withdrawRe is a customer taking back their ticket ("never mind, solved
// it", "close my ticket", "cancel my ticket", "ticket intrekken").
var withdrawRe = regexp.MustCompile(`(?i)\b(withdraw|(close|cancel|delete|drop) (my|the|this) ticket|never ?mind|(problem|it'?s|is) (solved|fixed)|solved it|fixed it|ticket (sluiten|intrekken|annuleren)|(sluit|annuleer|verwijder) (mijn|het|dit) ticket|trek (mijn|het|dit) ticket in|laat maar|opgelost)\b`)

// wantsWithdraw says whether a message with a ticket open takes it back.
func wantsWithdraw(m *handlers.Message) bool {
	return m.Command() == handlers.CommandCancel || m.Command() == handlers.CommandStop || withdrawRe.MatchString(m.Text())
}

// askWithdraw asks before taking a ticket back: the message could as
// well be meant for the person handling it.
func (b *Bot) askWithdraw(c *handlers.Conversation, t *ticket) error {
	c.Ask(b.tr(c, "withdraw?", t.Number, t.Topic),
		handlers.Opt("withdraw", b.tr(c, "withdraw-yes")), handlers.Opt("keep", b.tr(c, "withdraw-no")))
	c.Goto(stepWithdraw, followupTTL)
	return c.SetState(custState{Ticket: t.Number, FAQ: -1})
}

// withdraw handles the answer to "Withdraw ticket N?".
func (b *Bot) withdraw(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var st custState
	if _, err := c.State(&st); err != nil {
		return err
	}
	if m.Choice == nil {
		if m.Kind != handlers.KindMessage {
			return nil
		}
		c.Clear() // something else: it goes to the ticket as usual
		return b.start(ctx, c, m, false)
	}
	c.Clear()
	q := b.tickets(c)
	t, err := q.byNumber(ctx, st.Ticket)
	if err != nil {
		return err
	}
	if t == nil || t.CustomerID != c.Customer.ID || t.Status == statusClosed {
		c.Reply(b.tr(c, "already-closed"))
		return nil
	}
	if m.Choice.Key != "withdraw" {
		c.Reply(b.tr(c, "stays-open", t.Number))
		return nil
	}
	n, now := t.Number, c.Now().UnixMilli()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		return change(ctx, tx, n, `UPDATE support_tickets SET status = 'closed', closed_at = $1, updated_at = $1
			WHERE bot_user_id = $2 AND number = $3 AND status <> 'closed'`, now, q.bot, n)
	})
	if err := c.Record("ticket", fmt.Sprintf("Ticket %d withdrawn", n), ticketRecord{Number: n, Topic: t.Topic}); err != nil {
		return err
	}
	c.Reply(b.tr(c, "withdrawn", n))
	if b.staffRoom != "" {
		return b.toStaff(ctx, c, t, &event.MessageEventContent{MsgType: event.MsgText,
			Body: fmt.Sprintf("🚫 %s withdrew ticket %d; it is closed, no answer needed.", c.Customer.Name(), n)})
	}
	return nil
}

// ratingFromText reads a typed rating: ⭐⭐⭐⭐⭐, "5", "five", "5/5",
// "4 out of 5", "5 stars". ok is false for anything else.
func ratingFromText(text string) (n int, ok bool) {
	t := strings.TrimSpace(text)
	stars := strings.Count(t, "⭐") + strings.Count(t, "★") + strings.Count(t, "🌟")
	if stars > 0 && strings.Trim(t, "⭐★🌟\ufe0f ") == "" {
		return stars, stars >= 1 && stars <= 5
	}
	if strings.Contains(t, "-") {
		return 0, false // "-1"
	}
	f := understand.Fold(t)
	for _, suffix := range []string{" stars", " star", " sterren", " ster", "/5", " out of 5", " uit 5", " van de 5"} {
		f = strings.TrimSuffix(f, suffix)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
		return v, v >= 1 && v <= 5
	}
	if v, isNum := understand.Number(f); isNum {
		return v, v >= 1 && v <= 5
	}
	return 0, false
}
