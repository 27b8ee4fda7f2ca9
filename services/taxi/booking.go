package taxi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
)

// Steps of the booking flow.
const (
	stepPickup      = "pickup"
	stepDestination = "destination"
	stepWhen        = "when"
	stepConfirm     = "confirm"
	stepRetry       = "retry"      // no driver was free: try again?
	stepAgain       = "again"      // welcome back: the last trip again?
	stepCancelFee   = "cancel-fee" // cancelling costs a fee: sure?
)

// History kinds this service records.
const (
	kindBooking      = "booking"
	kindTrip         = "trip"
	kindCancellation = "cancellation"
)

// draft is the conversation state while booking.
type draft struct {
	Pickup      *Place `json:"pickup,omitempty"`
	Destination *Place `json:"destination,omitempty"`
	// At is the pickup time (Unix ms); 0 is now.
	At int64 `json:"at,omitempty"`
	// Offer are the places behind the open question's options p0, p1, …
	Offer []Place `json:"offer,omitempty"`
	// Ref is the ride a cancel-fee question is about.
	Ref string `json:"ref,omitempty"`
}

// tripRecord is the data of a "trip" history record: the receipt.
type tripRecord struct {
	Ref         string `json:"ref"`
	Pickup      Place  `json:"pickup"`
	Destination Place  `json:"destination"`
	DistanceM   int64  `json:"distance_m"`
	Minutes     int64  `json:"minutes"`
	Fare        int64  `json:"fare"`
	Currency    string `json:"currency"`
	Driver      string `json:"driver"`
	StartedAt   int64  `json:"started_at"`
	FinishedAt  int64  `json:"finished_at"`
}

func (b *Bot) lastTrip(ctx context.Context, c *handlers.Conversation) (*tripRecord, error) {
	recs, err := c.History(ctx, 1, kindTrip)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	var t tripRecord
	if err := recs[0].Decode(&t); err != nil {
		return nil, fmt.Errorf("decode last trip: %w", err)
	}
	return &t, nil
}

// maxRecent is how many recent places a question offers.
const maxRecent = 3

// offers lists the places to propose: saved favourites, then recent
// places from the customer's trips (destinations, or pickups too for the
// pickup question), newest first, never except.
func (b *Bot) offers(ctx context.Context, c *handlers.Conversation, forPickup bool, except *Place) ([]Place, error) {
	var out []Place
	add := func(p Place) bool {
		if except != nil && p.same(*except) {
			return false
		}
		for _, q := range out {
			if q.same(p) {
				return false
			}
		}
		out = append(out, p)
		return true
	}
	for _, f := range favourites {
		if p, ok := favourite(c, f); ok {
			add(p)
		}
	}
	recs, err := c.History(ctx, 20, kindTrip)
	if err != nil {
		return nil, err
	}
	recent := 0
	for _, r := range recs {
		var t tripRecord
		if r.Decode(&t) != nil {
			continue
		}
		places := []Place{t.Destination}
		if forPickup {
			places = append(places, t.Pickup)
		}
		for _, p := range places {
			if recent < maxRecent && add(p) {
				recent++
			}
		}
	}
	return out, nil
}

func offerOptions(places []Place, other string) []handlers.Option {
	opts := make([]handlers.Option, 0, len(places)+1)
	for i, p := range places {
		opts = append(opts, handlers.Opt("p"+strconv.Itoa(i), p.Long()))
	}
	return append(opts, handlers.Opt("other", other))
}

// noOpenRide refuses a second booking while one is open.
func (b *Bot) noOpenRide(ctx context.Context, c *handlers.Conversation) error {
	r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
	if err != nil {
		return err
	}
	if r != nil {
		c.Clear()
		return handlers.Errorf("%s", b.tr(c, "already-booked", r.Ref, b.statusLine(c.Language(), r, c.Now())))
	}
	return nil
}

func (b *Bot) book(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if err := b.noOpenRide(ctx, c); err != nil {
		return err
	}
	return b.askPickup(ctx, c, draft{})
}

func (b *Bot) askPickup(ctx context.Context, c *handlers.Conversation, d draft) error {
	offer, err := b.offers(ctx, c, true, nil)
	if err != nil {
		return err
	}
	d.Offer = offer
	if err := c.SetState(d); err != nil {
		return err
	}
	if len(offer) == 0 {
		c.Reply(b.tr(c, "pickup?"))
		c.Answered()
	} else {
		c.Ask(b.tr(c, "pickup-offer?"), offerOptions(offer, b.tr(c, "other-address"))...)
	}
	b.flow.Goto(c, stepPickup)
	return nil
}

func (b *Bot) askDestination(ctx context.Context, c *handlers.Conversation, d draft) error {
	offer, err := b.offers(ctx, c, false, d.Pickup)
	if err != nil {
		return err
	}
	d.Offer = offer
	if err := c.SetState(d); err != nil {
		return err
	}
	if len(offer) == 0 {
		c.Reply(b.tr(c, "where-to?"))
		c.Answered()
	} else {
		c.Ask(b.tr(c, "where-to-offer?"), offerOptions(offer, b.tr(c, "other"))...)
	}
	b.flow.Goto(c, stepDestination)
	return nil
}

// answerPlace reads a place from an answer: an offered option, a shared
// location or a typed address. ok is false when the customer picked
// "other" (they were asked to type it).
func (b *Bot) answerPlace(c *handlers.Conversation, m *handlers.Message, d draft, step string) (p Place, ok bool, err error) {
	switch {
	case m.Choice != nil && m.Choice.Key == "other":
		c.Reply(b.tr(c, "type-address"))
		b.flow.Goto(c, step)
		return Place{}, false, nil
	case m.Choice != nil:
		i, err := strconv.Atoi(strings.TrimPrefix(m.Choice.Key, "p"))
		if err != nil || i < 0 || i >= len(d.Offer) {
			return Place{}, false, handlers.Errorf("%s", b.tr(c, "choice-gone"))
		}
		return d.Offer[i], true, nil
	case m.Location != nil:
		return b.placeFromLocation(c, m.Location), true, nil
	case m.Kind == handlers.KindReaction || m.Kind == handlers.KindRedaction:
		return Place{}, false, nil // a stray reaction: keep waiting
	case !m.IsText():
		return Place{}, false, handlers.Errorf("%s", b.tr(c, "address-please"))
	}
	if n, err := strconv.Atoi(strings.TrimRight(m.Text(), ".")); err == nil && len(d.Offer) > 0 {
		return Place{}, false, handlers.Errorf("%s", b.tr(c, "no-option", n, len(d.Offer)+1))
	}
	p, err = b.placeFromText(c, m.Text())
	return p, err == nil, err
}

func (b *Bot) pickupStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	if m.Choice == nil && m.IsText() {
		if from, to, ok := splitTrip(m.Text()); ok {
			return b.tripFrom(ctx, c, from, to)
		}
	}
	p, ok, err := b.answerPlace(c, m, d, stepPickup)
	if err != nil || !ok {
		return err
	}
	d.Pickup = &p
	return b.askDestination(ctx, c, d)
}

func (b *Bot) destinationStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	p, ok, err := b.answerPlace(c, m, d, stepDestination)
	if err != nil || !ok {
		return err
	}
	if d.Pickup != nil && p.same(*d.Pickup) {
		return handlers.Errorf("%s", b.tr(c, "same-place"))
	}
	d.Destination = &p
	return b.askWhen(c, d)
}

func (b *Bot) askWhen(c *handlers.Conversation, d draft) error {
	d.Offer = nil
	if err := c.SetState(d); err != nil {
		return err
	}
	c.Ask(b.tr(c, "when?"), handlers.Opt("now", b.tr(c, "now"), "nu", "asap", "right now"),
		handlers.Opt("in15", b.tr(c, "in15")), handlers.Opt("in30", b.tr(c, "in30")))
	b.flow.Goto(c, stepWhen)
	return nil
}

func (b *Bot) whenStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	now := c.Now()
	var at time.Time
	switch {
	case m.Choice != nil:
		at = now.Add(map[string]time.Duration{"now": 0, "in15": 15 * time.Minute, "in30": 30 * time.Minute}[m.Choice.Key])
	case m.IsText():
		var err error
		if at, err = b.parseWhen(c.Language(), m.Text(), now); err != nil {
			var ue *handlers.UserError
			if errors.Is(err, errNotATime) && errors.As(err, &ue) && c.Question() != nil {
				c.Notice(ue.Text)
				c.RepeatQuestion(nil)
				return nil
			}
			return err
		}
	case m.Kind == handlers.KindMessage:
		return handlers.Errorf("%s", b.tr(c, "when-please"))
	default:
		return nil
	}
	d.At = 0
	if at.After(now) {
		d.At = ms(at)
	}
	return b.askConfirm(c, d)
}

// when describes a draft's pickup time.
func (b *Bot) when(lang string, at int64, now time.Time) string {
	if at == 0 || time.UnixMilli(at).Sub(now) <= time.Minute {
		return b.trl(lang, "now-lc")
	}
	return b.atClock(lang, time.UnixMilli(at), now)
}

func (b *Bot) askConfirm(c *handlers.Conversation, d draft) error {
	if err := c.SetState(d); err != nil {
		return err
	}
	e := b.cfg.estimate(*d.Pickup, *d.Destination)
	lang := c.Language()
	var sb strings.Builder
	sb.WriteString(b.tr(c, "quote-trip", d.Pickup.Long(), d.Destination.Long(), b.when(lang, d.At, c.Now())) + "\n")
	sb.WriteString(b.tr(c, "quote-fare", formatKm(e.DistanceM), b.count(lang, e.Minutes, "minute", "minutes"), formatMoney(e.Fare, b.cfg.Currency)))
	if e.Guessed {
		sb.WriteString("\n" + b.tr(c, "quote-guessed", formatKm(e.DistanceM)))
	}
	sb.WriteString("\n" + b.tr(c, "book-it?"))
	c.Ask(sb.String(), handlers.Opt("yes", b.tr(c, "book-yes")), handlers.Opt("no", b.tr(c, "book-no")))
	b.flow.Goto(c, stepConfirm)
	return nil
}

func (b *Bot) confirmStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		if m.Kind != handlers.KindMessage {
			return nil
		}
		if c.RepeatQuestion(m) {
			return nil
		}
		return handlers.Errorf("%s", b.tr(c, "book-it-please"))
	}
	if m.Choice.Key != "yes" {
		c.Clear()
		c.Reply(b.tr(c, "nothing-booked"))
		return nil
	}
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	return b.place(ctx, c, d)
}

// place books the draft: a ride for later is scheduled, a ride for now
// gets a driver at once, or the offer to try again when none is free.
func (b *Bot) place(ctx context.Context, c *handlers.Conversation, d draft) error {
	if d.Pickup == nil || d.Destination == nil {
		c.Clear()
		return handlers.Errorf("%s", b.tr(c, "lost-track"))
	}
	if err := b.noOpenRide(ctx, c); err != nil {
		return err
	}
	now, lang := c.Now(), c.Language()
	at := now
	if d.At != 0 {
		at = time.UnixMilli(d.At)
		if at.Before(now.Add(-time.Minute)) {
			c.Reply(b.tr(c, "time-passed", b.clock(lang, at, now)))
			return b.askWhen(c, d)
		}
		if at.Before(now) {
			at = now
		}
	}
	r := ride{
		Ref: newRef(), User: c.Customer.ID.String(), Room: c.Room.String(),
		Pickup: *d.Pickup, Destination: *d.Destination, Estimate: b.cfg.estimate(*d.Pickup, *d.Destination),
		Currency: b.cfg.Currency, PickupAt: ms(at), CreatedAt: ms(now),
	}
	summary := fmt.Sprintf("%s → %s %s, quoted %s", r.Pickup.Short(), r.Destination.Short(), b.when("en", r.PickupAt, now), formatMoney(r.Fare, r.Currency))
	if at.Sub(now) > b.cfg.DispatchBefore.D() {
		r.Status = statusScheduled
		insertRide(c, r)
		b.scheduleLater(c, &r, now)
		c.Clear()
		if err := c.Record(kindBooking, summary, map[string]string{"ref": r.Ref}); err != nil {
			return err
		}
		var sb strings.Builder
		sb.WriteString(b.tr(c, "booked-later", b.when(lang, r.PickupAt, now), r.Pickup.Long(), r.Destination.Long(), formatMoney(r.Fare, r.Currency), r.Ref) + "\n")
		details := b.atClock(lang, at.Add(-b.cfg.DispatchBefore.D()), now)
		if remind := at.Add(-b.cfg.ReminderBefore.D()); b.cfg.ReminderBefore > 0 && remind.After(now) {
			sb.WriteString(b.tr(c, "remind-and-driver", b.atClock(lang, remind, now), details))
		} else {
			sb.WriteString(b.tr(c, "driver-details", details))
		}
		sb.WriteString(" " + b.tr(c, "cancel-free"))
		c.Reply(sb.String())
		return nil
	}
	driver, ok, err := b.freeDriver(ctx, c.Bot)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.SetState(d); err != nil {
			return err
		}
		c.Ask(b.tr(c, "all-busy?"), handlers.Opt("retry", b.tr(c, "try-again")), handlers.Opt("no", b.tr(c, "no-thanks")))
		b.flow.Goto(c, stepRetry)
		return nil
	}
	r.Status = statusAssigned
	b.assign(c, &r, driver, now)
	insertRide(c, r)
	c.Clear()
	if err := c.Record(kindBooking, summary, map[string]string{"ref": r.Ref}); err != nil {
		return err
	}
	c.Reply(b.tr(c, "booked-now", r.Ref, formatMoney(r.Fare, r.Currency), b.driverLine(lang, &r, now)))
	return nil
}

func (b *Bot) retryStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		if !m.IsText() {
			return nil
		}
		c.Clear()
		return b.start.Handle(ctx, c, m)
	}
	if m.Choice.Key != "retry" {
		c.Clear()
		c.Reply(b.tr(c, "ok-later"))
		return nil
	}
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	return b.place(ctx, c, d)
}

// againStep answers "Home to Central Station again?".
func (b *Bot) againStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		if !m.IsText() && m.Location == nil {
			return nil
		}
		c.Clear()
		return b.flow.Start.Handle(ctx, c, m)
	}
	if err := b.noOpenRide(ctx, c); err != nil {
		return err
	}
	if m.Choice.Key != "yes" {
		return b.askPickup(ctx, c, draft{})
	}
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	if d.Pickup == nil || d.Destination == nil {
		return b.askPickup(ctx, c, draft{})
	}
	return b.askWhen(c, d)
}
