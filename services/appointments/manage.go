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
	return now.Before(bk.Start.Add(-b.shop().cutoff))
}

// tooLate explains that the cutoff has passed; action is "cancel" or
// "change".
func (b *Bot) tooLate(c *handlers.Conversation, action string, bk booking) string {
	return b.tr(c, "too-late-"+action, b.shop().serviceName(bk.Service), leadText(c.Language(), b.shop().cutoff), b.contactHint(c.Language()))
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
		c.Reply(b.tr(c, "no-upcoming"))
		return nil
	case 1:
		return one(ctx, c, open[0].ID)
	}
	var opts []handlers.Option
	for _, bk := range open {
		if len(opts) == handlers.MaxReactionOptions {
			break
		}
		opts = append(opts, handlers.Opt(kind+":"+bk.ID, b.tr(c, "pick-line", b.shop().when(c.Language(), bk.Start, c.Now()),
			b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff))))
	}
	c.Ask(b.tr(c, question), opts...)
	c.Goto(step, flowTimeout)
	return nil
}

func (b *Bot) startCancel(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.pickBooking(ctx, c, "cancel", stepCancelPick, "which-cancel?", b.pickCancel)
}

func (b *Bot) startMove(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.pickBooking(ctx, c, "move", stepMovePick, "which-move?", b.pickMove)
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
		c.Reply(b.tr(c, "no-longer-open"))
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
		c.Reply(b.tooLate(c, "cancel", *bk))
		return nil
	}
	c.Clear()
	c.Ask(b.tr(c, "cancel?", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff), b.shop().when(c.Language(), bk.Start, c.Now())),
		handlers.Opt("cancelyes:"+bk.ID, b.tr(c, "cancel-yes")), handlers.Opt("cancelno", b.tr(c, "cancel-no")))
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
		c.Reply(b.tooLate(c, "cancel", *bk))
		return nil
	}
	c.OnCommit(cancelBooking(*bk, now))
	rec := bookingRecord{ID: bk.ID, Service: bk.Service, Staff: bk.Staff, Start: bk.Start.UnixMilli(), Price: bk.Price, Cur: bk.Currency}
	summary := fmt.Sprintf("%s with %s on %s cancelled", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff), b.shop().when(staffLang, bk.Start, now))
	if err := c.Record("cancellation", summary, rec); err != nil {
		return err
	}
	c.Reply(b.tr(c, "cancelled", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff), b.shop().when(c.Language(), bk.Start, now)))
	b.tellStaff(c, fmt.Sprintf("❌ Cancelled %s: %s with %s on %s, for %s (%s)", bk.ID, b.shop().serviceName(bk.Service),
		b.shop().staffName(bk.Staff), b.shop().when(staffLang, bk.Start, now), c.Customer.Name(), c.Customer.ID))
	return nil
}

func (b *Bot) pickMove(ctx context.Context, c *handlers.Conversation, ref string) error {
	bk, err := b.stillBooked(ctx, c, ref)
	if bk == nil || err != nil {
		return err
	}
	c.Clear()
	if !b.beforeCutoff(*bk, c.Now()) {
		c.Reply(b.tooLate(c, "change", *bk))
		return nil
	}
	if _, ok := b.shop().service(bk.Service); !ok {
		c.Reply(b.tr(c, "no-longer-offer", bk.Service, b.contactHint(c.Language())))
		return nil
	}
	c.Reply(b.tr(c, "new-time", b.shop().serviceName(bk.Service), b.shop().when(c.Language(), bk.Start, c.Now()), b.shop().staffName(bk.Staff)))
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
	then := b.tr(c, "if-cancel")
	if !b.beforeCutoff(*bk, now) {
		then = b.tr(c, "if-not")
		if b.shop().contact != "" {
			then = b.tr(c, "if-contact", b.shop().contact)
		}
	}
	c.Reply(b.tr(c, "reminder", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff),
		b.shop().relative(c.Language(), bk.Start, now), bk.ID, then))
	return nil
}
