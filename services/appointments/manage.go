package appointments

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/handlers"
)

// beforeCutoff says whether a booking can still be cancelled or moved.
func (b *Bot) beforeCutoff(bk booking, now time.Time) bool {
	return now.Before(bk.Start.Add(-b.shop.cutoff))
}

// tooLate explains that the cutoff has passed; action is "cancel" or
// "change".
func (b *Bot) tooLate(action string, bk booking) string {
	return fmt.Sprintf("Sorry, it's too late to %s your %s online: appointments can be cancelled or moved up to %s before they start.%s",
		action, b.shop.serviceName(bk.Service), leadText(b.shop.cutoff), b.contactHint())
}

// pickBooking asks which upcoming appointment to act on (key prefix
// "cancel" or "move"), or goes straight on when there is one.
func (b *Bot) pickBooking(ctx context.Context, c *handlers.Conversation, kind, step, question string,
	one func(ctx context.Context, c *handlers.Conversation, ref string) error) error {
	c.Clear()
	next, err := b.upcoming(ctx, c.Bot, c.Customer.ID, c.Now())
	if err != nil {
		return err
	}
	var open []booking
	for _, bk := range next {
		if bk.Start.After(c.Now()) {
			open = append(open, bk)
		}
	}
	switch len(open) {
	case 0:
		c.Reply("You have no upcoming appointments. Say \"book\" to make one.")
		return nil
	case 1:
		return one(ctx, c, open[0].ID)
	}
	var opts []handlers.Option
	for _, bk := range open {
		if len(opts) == handlers.MaxReactionOptions {
			break
		}
		opts = append(opts, handlers.Opt(kind+":"+bk.ID, fmt.Sprintf("%s: %s with %s", b.shop.when(bk.Start, c.Now()),
			b.shop.serviceName(bk.Service), b.shop.staffName(bk.Staff))))
	}
	c.Ask(question, opts...)
	c.Goto(step, flowTimeout)
	return nil
}

func (b *Bot) startCancel(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.pickBooking(ctx, c, "cancel", stepCancelPick, "Which appointment would you like to cancel?", b.pickCancel)
}

func (b *Bot) startMove(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.pickBooking(ctx, c, "move", stepMovePick, "Which appointment would you like to move?", b.pickMove)
}

// stillBooked loads one of the customer's bookings and tells them when it
// is gone or over.
func (b *Bot) stillBooked(ctx context.Context, c *handlers.Conversation, ref string) (*booking, error) {
	bk, err := b.bookingByID(ctx, c.Bot, c.Customer.ID, ref)
	if err != nil {
		return nil, err
	}
	if bk == nil || bk.Status != "booked" || !bk.Start.After(c.Now()) {
		c.Clear()
		c.Reply("That appointment is no longer open. Say \"my appointments\" to see what you have booked.")
		return nil, nil
	}
	return bk, nil
}

func (b *Bot) pickCancel(ctx context.Context, c *handlers.Conversation, ref string) error {
	bk, err := b.stillBooked(ctx, c, ref)
	if bk == nil || err != nil {
		return err
	}
	if !b.beforeCutoff(*bk, c.Now()) {
		c.Clear()
		c.Reply(b.tooLate("cancel", *bk))
		return nil
	}
	c.Clear()
	c.Ask(fmt.Sprintf("Cancel your %s with %s on %s?", b.shop.serviceName(bk.Service), b.shop.staffName(bk.Staff), b.shop.when(bk.Start, c.Now())),
		handlers.Opt("cancelyes:"+bk.ID, "Yes, cancel it"), handlers.Opt("cancelno", "No, keep it"))
	c.Goto(stepCancelConfirm, flowTimeout)
	return nil
}

func (b *Bot) confirmCancel(ctx context.Context, c *handlers.Conversation, ref string) error {
	bk, err := b.stillBooked(ctx, c, ref)
	if bk == nil || err != nil {
		return err
	}
	now := c.Now()
	c.Clear()
	if !b.beforeCutoff(*bk, now) {
		c.Reply(b.tooLate("cancel", *bk))
		return nil
	}
	c.OnCommit(cancelBooking(*bk, now))
	rec := bookingRecord{ID: bk.ID, Service: bk.Service, Staff: bk.Staff, Start: bk.Start.UnixMilli(), Price: bk.Price, Cur: bk.Currency}
	summary := fmt.Sprintf("%s with %s on %s cancelled", b.shop.serviceName(bk.Service), b.shop.staffName(bk.Staff), b.shop.when(bk.Start, now))
	if err := c.Record("cancellation", summary, rec); err != nil {
		return err
	}
	c.Replyf("Cancelled: your %s with %s on %s. Say \"book\" to make a new appointment.",
		b.shop.serviceName(bk.Service), b.shop.staffName(bk.Staff), b.shop.when(bk.Start, now))
	b.tellStaff(c, fmt.Sprintf("❌ Cancelled %s: %s with %s on %s, for %s (%s)", bk.ID, b.shop.serviceName(bk.Service),
		b.shop.staffName(bk.Staff), b.shop.when(bk.Start, now), c.Customer.Name(), c.Customer.ID))
	return nil
}

func (b *Bot) pickMove(ctx context.Context, c *handlers.Conversation, ref string) error {
	bk, err := b.stillBooked(ctx, c, ref)
	if bk == nil || err != nil {
		return err
	}
	c.Clear()
	if !b.beforeCutoff(*bk, c.Now()) {
		c.Reply(b.tooLate("change", *bk))
		return nil
	}
	if _, ok := b.shop.service(bk.Service); !ok {
		c.Replyf("Sorry, we no longer offer %s, so I can't move it.%s", bk.Service, b.contactHint())
		return nil
	}
	c.Replyf("Let's find a new time for your %s (now %s with %s).", b.shop.serviceName(bk.Service),
		b.shop.when(bk.Start, c.Now()), b.shop.staffName(bk.Staff))
	return b.next(ctx, c, draft{Service: bk.Service, Move: bk.ID})
}

// onTimer sends a reminder, unless the appointment was cancelled or moved
// since the timer was set (timers cannot be withdrawn; they are checked).
func (b *Bot) onTimer(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Timer == nil || m.Timer.Name != "reminder" {
		return nil
	}
	var p reminderPayload
	if err := json.Unmarshal([]byte(m.Timer.Payload), &p); err != nil {
		return fmt.Errorf("reminder payload: %w", err)
	}
	bk, err := b.bookingByID(ctx, c.Bot, c.Customer.ID, p.ID)
	if err != nil {
		return err
	}
	if bk == nil || bk.Status != "booked" || bk.Start.UnixMilli() != p.Start {
		zerolog.Ctx(ctx).Debug().Str("booking", p.ID).Msg("reminder dropped: appointment cancelled or moved")
		return nil
	}
	now := c.Now()
	if !bk.Start.After(now) {
		return nil // fired late, after the start: a reminder would only confuse
	}
	then := "If you can't make it, say \"cancel\"."
	if !b.beforeCutoff(*bk, now) {
		then = "If you can't make it, please let us know as soon as possible."
		if b.shop.contact != "" {
			then = "If you can't make it, please contact us: " + b.shop.contact + "."
		}
	}
	c.Replyf("⏰ Reminder: your %s with %s is %s (ref %s). %s", b.shop.serviceName(bk.Service), b.shop.staffName(bk.Staff),
		b.shop.relative(bk.Start, now), bk.ID, then)
	return nil
}
