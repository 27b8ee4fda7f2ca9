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
		return handlers.Errorf("You already have a ride booked (%s): %s Say \"cancel\" to cancel it before booking another.",
			r.Ref, b.statusLine(r, c.Now()))
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
		c.Ask("Where should we pick you up? Pick one, type an address, or share your location.", offerOptions(offer, "Other address")...)
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
		c.Ask("Where to?", offerOptions(offer, "Other")...)
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
		c.Reply("OK: type the address, or share a location (📎 → Location).")
		b.flow.Goto(c, step)
		return Place{}, false, nil
	case m.Choice != nil:
		i, err := strconv.Atoi(strings.TrimPrefix(m.Choice.Key, "p"))
		if err != nil || i < 0 || i >= len(d.Offer) {
			return Place{}, false, handlers.Errorf("Sorry, that choice is no longer available. Please type the address.")
		}
		return d.Offer[i], true, nil
	case m.Location != nil:
		return b.placeFromLocation(m.Location), true, nil
	case m.Kind == handlers.KindReaction || m.Kind == handlers.KindRedaction:
		return Place{}, false, nil // a stray reaction: keep waiting
	case !m.IsText():
		return Place{}, false, handlers.Errorf("Please type an address, or share a location (📎 → Location).")
	}
	if n, err := strconv.Atoi(strings.TrimRight(m.Text(), ".")); err == nil && len(d.Offer) > 0 {
		return Place{}, false, handlers.Errorf("There is no option %d. Pick 1 to %d, type an address, or share a location.", n, len(d.Offer)+1)
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
		return handlers.Errorf("That is where you are being picked up. Where do you want to go?")
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
		if at, err = parseWhen(m.Text(), now, b.loc, b.cfg.MaxAdvance.D()); err != nil {
			var ue *handlers.UserError
			if errors.Is(err, errNotATime) && errors.As(err, &ue) && c.Question() != nil {
				c.Notice(ue.Text)
				c.RepeatQuestion(nil)
				return nil
			}
			return err
		}
	case m.Kind == handlers.KindMessage:
		return handlers.Errorf("Please type when you need the taxi: \"now\", \"at 18:30\" or \"in 20 min\".")
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
func (b *Bot) when(at int64, now time.Time) string {
	if at == 0 || time.UnixMilli(at).Sub(now) <= time.Minute {
		return "now"
	}
	return atClock(time.UnixMilli(at), now, b.loc)
}

func (b *Bot) askConfirm(c *handlers.Conversation, d draft) error {
	if err := c.SetState(d); err != nil {
		return err
	}
	e := b.cfg.estimate(*d.Pickup, *d.Destination)
	var sb strings.Builder
	fmt.Fprintf(&sb, "From %s to %s, %s.\n", d.Pickup.Long(), d.Destination.Long(), b.when(d.At, c.Now()))
	fmt.Fprintf(&sb, "About %s and %s: %s.", formatKm(e.DistanceM), plural(e.Minutes, "minute", "minutes"), formatMoney(e.Fare, b.cfg.Currency))
	if e.Guessed {
		fmt.Fprintf(&sb, "\n(A typed address has no map position, so I count a typical %s city trip. Share locations for an exact quote.)", formatKm(e.DistanceM))
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
		return handlers.Errorf("Shall I book it? Reply 1 for yes or 2 for no.")
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
		return handlers.Errorf("Sorry, I lost track of this booking. Say \"book\" to start again.")
	}
	if err := b.noOpenRide(ctx, c); err != nil {
		return err
	}
	now := c.Now()
	at := now
	if d.At != 0 {
		at = time.UnixMilli(d.At)
		if at.Before(now.Add(-time.Minute)) {
			c.Replyf("The time you picked (%s) has passed in the meantime.", clockIn(at, now, b.loc))
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
	summary := fmt.Sprintf("%s → %s %s, quoted %s", r.Pickup.Short(), r.Destination.Short(), b.when(r.PickupAt, now), formatMoney(r.Fare, r.Currency))
	if at.Sub(now) > b.cfg.DispatchBefore.D() {
		r.Status = statusScheduled
		insertRide(c, r)
		b.scheduleLater(c, &r, now)
		c.Clear()
		if err := c.Record(kindBooking, summary, map[string]string{"ref": r.Ref}); err != nil {
			return err
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "Booked: %s, from %s to %s. Quoted fare %s (ride %s).", b.when(r.PickupAt, now), r.Pickup.Long(), r.Destination.Long(), formatMoney(r.Fare, r.Currency), r.Ref)
		if remind := at.Add(-b.cfg.ReminderBefore.D()); b.cfg.ReminderBefore > 0 && remind.After(now) {
			fmt.Fprintf(&sb, "\nI'll remind you %s", atClock(remind, now, b.loc))
			fmt.Fprintf(&sb, " and send your driver's details %s.", atClock(at.Add(-b.cfg.DispatchBefore.D()), now, b.loc))
		} else {
			fmt.Fprintf(&sb, "\nI'll send your driver's details %s.", atClock(at.Add(-b.cfg.DispatchBefore.D()), now, b.loc))
		}
		sb.WriteString(" Say \"cancel\" to cancel, free of charge until the driver arrives.")
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
		c.Ask("Sorry, all our drivers are busy right now. Shall I try again?", handlers.Opt("retry", "Try again"), handlers.Opt("no", "No thanks"))
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
	c.Replyf("Booked (ride %s), quoted fare %s. %s", r.Ref, formatMoney(r.Fare, r.Currency), b.driverLine(&r, now))
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
		c.Reply("OK. Say \"book\" when you need a taxi.")
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
