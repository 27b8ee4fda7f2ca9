package taxi

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
)

// Timer names. Each carries the ride's ref as payload; a timer whose ride
// has moved on (cancelled, forgotten, already in a later state) is
// ignored, so cancelling a ride silences its remaining timers.
const (
	timerRemind    = "taxi.remind"
	timerDispatch  = "taxi.dispatch"
	timerCountdown = "taxi.countdown"
	timerArrive    = "taxi.arrive"
	timerStart     = "taxi.start"
	timerFinish    = "taxi.finish"
)

// dispatchRetry is how often a scheduled ride looks for a free driver
// again, and dispatchGiveUp how long after the pickup time it stops.
const (
	dispatchRetry  = time.Minute
	dispatchGiveUp = 15 * time.Minute
)

// at sets a timer for an absolute time, so chained timers stay on
// schedule even when one is handled late. A time already past fires at
// once, and its message still carries that time (m.Time is when a timer
// was due).
func at(c *handlers.Conversation, when time.Time, name, payload string) {
	c.After(when.Sub(c.Now()), name, payload)
}

// driverETA is the simulated time for a driver to reach the pickup:
// between eta_min and eta_max, whole minutes, derived from the ride so a
// retried event gets the same answer.
func (b *Bot) driverETA(ref string) time.Duration {
	lo, hi := b.cfg.ETAMin.D()/time.Minute, b.cfg.ETAMax.D()/time.Minute
	h := fnv.New32a()
	h.Write([]byte(ref))
	return (lo + time.Duration(h.Sum32())%(hi-lo+1)) * time.Minute
}

// assign gives r its driver and sets the countdown and arrival timers.
// The caller writes the row (insert or move).
func (b *Bot) assign(c *handlers.Conversation, r *ride, d Driver, now time.Time) {
	eta := now.Add(b.driverETA(r.Ref))
	if pickup := time.UnixMilli(r.PickupAt); pickup.After(eta) {
		eta = pickup // booked for a time: the driver comes then
	}
	r.Driver, r.Car, r.Plate = d.Name, d.Car, d.Plate
	r.AssignedAt, r.ETAAt = ms(now), ms(eta)
	for _, m := range b.cfg.CountdownMinutes {
		if t := eta.Add(-time.Duration(m) * time.Minute); t.After(now) {
			at(c, t, timerCountdown, r.Ref+" "+strconv.Itoa(m))
		}
	}
	at(c, eta, timerArrive, r.Ref)
}

// scheduleLater sets a ride-for-later's reminder and dispatch timers.
func (b *Bot) scheduleLater(c *handlers.Conversation, r *ride, now time.Time) {
	pickup := time.UnixMilli(r.PickupAt)
	if remind := pickup.Add(-b.cfg.ReminderBefore.D()); b.cfg.ReminderBefore > 0 && remind.After(now) {
		at(c, remind, timerRemind, r.Ref)
	}
	at(c, pickup.Add(-b.cfg.DispatchBefore.D()), timerDispatch, r.Ref)
}

func minutesUntil(t, now time.Time) int64 {
	return int64((t.Sub(now) + time.Minute - 1) / time.Minute)
}

// driverLine introduces the driver: who, which car, when.
func (b *Bot) driverLine(lang string, r *ride, now time.Time) string {
	eta := time.UnixMilli(r.ETAAt)
	return b.trl(lang, "driver-line",
		r.Driver, r.Car, r.Plate, r.Driver, r.Pickup.Long(), b.count(lang, max(minutesUntil(eta, now), 1), "minute", "minutes"), b.clock(lang, eta, now))
}

// statusLine describes an open ride in one or two sentences.
func (b *Bot) statusLine(lang string, r *ride, now time.Time) string {
	switch r.Status {
	case statusScheduled:
		pickup := time.UnixMilli(r.PickupAt)
		return b.trl(lang, "status-scheduled",
			r.Pickup.Long(), r.Destination.Long(), b.clock(lang, pickup, now), formatMoney(r.Fare, r.Currency),
			b.atClock(lang, pickup.Add(-b.cfg.DispatchBefore.D()), now))
	case statusAssigned:
		return b.trl(lang, "status-assigned",
			r.Driver, r.Car, r.Plate, r.Pickup.Long(), b.count(lang, max(minutesUntil(time.UnixMilli(r.ETAAt), now), 1), "minute", "minutes"))
	case statusArrived:
		return b.trl(lang, "status-arrived", r.Driver, r.Pickup.Long(), r.Car, r.Plate)
	case statusOnTrip:
		arrive := time.UnixMilli(r.StartedAt).Add(time.Duration(r.Minutes) * time.Minute)
		return b.trl(lang, "status-on-trip", r.Destination.Long(), r.Driver, b.clock(lang, arrive, now))
	}
	return ""
}

func (b *Bot) status(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
	if err != nil {
		return err
	}
	if r == nil {
		c.Reply(b.tr(c, "no-ride"))
		return nil
	}
	c.Reply(b.tr(c, "status-line", b.statusLine(c.Language(), r, c.Now()), r.Ref))
	return nil
}

// cancel drops a booking in progress, or cancels the open ride: free
// before the driver arrives, with the configured fee after (asked first).
func (b *Bot) cancel(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if step := c.Step(); step != "" && step != stepAgain {
		c.Clear()
		if step == stepCancelFee {
			c.Reply(b.tr(c, "ride-stays"))
			return nil
		}
		c.Reply(b.tr(c, "draft-dropped"))
		return nil
	}
	c.Clear()
	now := c.Now()
	r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
	if err != nil {
		return err
	}
	if r == nil {
		last, err := b.latestRide(ctx, c.Bot, c.Customer.ID)
		if err != nil {
			return err
		}
		if last != nil && last.Status == statusCancelled && now.Sub(time.UnixMilli(last.CancelledAt)) < 24*time.Hour {
			c.Reply(b.tr(c, "already-cancelled", last.Ref, last.Destination.Short()))
			return nil
		}
		c.Reply(b.tr(c, "nothing-to-cancel"))
		return nil
	}
	switch {
	case r.Status == statusOnTrip:
		c.Reply(b.tr(c, "trip-started-no", r.Destination.Short(), r.Driver))
		return nil
	case r.Status == statusArrived && b.cfg.Fare.CancellationFee > 0:
		if err := c.SetState(draft{Ref: r.Ref}); err != nil {
			return err
		}
		fee := formatMoney(b.cfg.Fare.CancellationFee, b.cfg.Currency)
		c.Ask(b.tr(c, "fee?", r.Driver, r.Pickup.Short(), fee),
			handlers.Opt("yes", b.tr(c, "fee-yes", fee)), handlers.Opt("no", b.tr(c, "fee-no")))
		b.flow.Goto(c, stepCancelFee)
		return nil
	}
	return b.cancelRide(c, r, 0)
}

func (b *Bot) cancelRide(c *handlers.Conversation, r *ride, fee int64) error {
	now := c.Now()
	moveRide(c, r.Ref, r.Status, statusCancelled, ms(now), "cancelled_at", ms(now), "fee_minor", fee)
	summary := fmt.Sprintf("%s → %s cancelled", r.Pickup.Short(), r.Destination.Short())
	charge := b.tr(c, "no-charge")
	if fee > 0 {
		summary += ", fee " + formatMoney(fee, r.Currency)
		charge = b.tr(c, "fee-applies", formatMoney(fee, r.Currency))
	}
	if err := c.Record(kindCancellation, summary, map[string]any{"ref": r.Ref, "fee": fee, "currency": r.Currency, "status": r.Status}); err != nil {
		return err
	}
	c.Reply(b.tr(c, "cancelled", r.Ref, r.Destination.Short(), charge))
	return nil
}

func (b *Bot) cancelFeeStep(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		if m.Kind != handlers.KindMessage {
			return nil
		}
		return handlers.Errorf("%s", b.tr(c, "fee-please"))
	}
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	c.Clear()
	if m.Choice.Key != "yes" {
		c.Reply(b.tr(c, "ride-stays"))
		return nil
	}
	r, err := b.rideByRef(ctx, c.Bot, d.Ref)
	if err != nil {
		return err
	}
	switch {
	case r == nil || !r.open():
		c.Reply(b.tr(c, "ride-ended"))
		return nil
	case r.Status == statusOnTrip:
		c.Reply(b.tr(c, "started-meantime", r.Destination.Short()))
		return nil
	case r.Status == statusArrived:
		return b.cancelRide(c, r, b.cfg.Fare.CancellationFee)
	}
	return b.cancelRide(c, r, 0) // (not reached: a ride never goes back before arrival)
}

// timer moves a ride along. A timer that no longer matches its ride's
// state sends nothing.
func (b *Bot) timer(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Timer == nil || !strings.HasPrefix(m.Timer.Name, "taxi.") {
		return nil
	}
	ref, arg, _ := strings.Cut(m.Timer.Payload, " ")
	r, err := b.rideByRef(ctx, c.Bot, ref)
	if err != nil {
		return err
	}
	if r == nil || r.User != c.Customer.ID.String() {
		return nil // erased on request
	}
	now, lang := c.Now(), c.Language()
	// The simulated car keeps to its schedule even when the timer is
	// handled late (after a restart): the trip's stages are timed from
	// when the timer was due, not from when it was handled.
	due := m.Time
	if due.IsZero() || due.After(now) {
		due = now
	}
	switch m.Timer.Name {
	case timerRemind:
		if r.Status == statusScheduled {
			c.Reply(b.tr(c, "reminder",
				r.Pickup.Long(), r.Destination.Short(), b.clock(lang, time.UnixMilli(r.PickupAt), now),
				b.atClock(lang, time.UnixMilli(r.PickupAt).Add(-b.cfg.DispatchBefore.D()), now)))
		}
	case timerDispatch:
		if r.Status == statusScheduled {
			return b.dispatchScheduled(ctx, c, r, now, arg == "retry")
		}
	case timerCountdown:
		if r.Status != statusAssigned {
			return nil
		}
		// A countdown that fired late (after a restart) is stale: a
		// later one says it better.
		if left := minutesUntil(time.UnixMilli(r.ETAAt), now); left > 0 && strconv.FormatInt(left, 10) == arg {
			c.Reply(b.tr(c, "driver-away", r.Driver, b.count(lang, left, "minute", "minutes")))
		}
	case timerArrive:
		if r.Status != statusAssigned {
			return nil
		}
		moveRide(c, r.Ref, statusAssigned, statusArrived, ms(now), "arrived_at", ms(due))
		at(c, due.Add(b.cfg.BoardingTime.D()), timerStart, r.Ref)
		msg := b.tr(c, "driver-arrived", r.Pickup.Long(), r.Driver, r.Car, r.Plate)
		if b.cfg.Fare.CancellationFee > 0 {
			msg += " " + b.tr(c, "fee-from-now", formatMoney(b.cfg.Fare.CancellationFee, b.cfg.Currency))
		}
		c.Reply(msg)
	case timerStart:
		if r.Status != statusArrived {
			return nil
		}
		moveRide(c, r.Ref, statusArrived, statusOnTrip, ms(now), "started_at", ms(due))
		arrive := due.Add(time.Duration(r.Minutes) * time.Minute)
		at(c, arrive, timerFinish, r.Ref)
		c.Reply(b.tr(c, "trip-started", r.Destination.Long(), b.clock(lang, arrive, now)))
	case timerFinish:
		if r.Status != statusOnTrip {
			return nil
		}
		return b.finish(c, r, due)
	}
	return nil
}

// dispatchScheduled assigns a driver to a ride booked for later, or
// keeps looking until dispatchGiveUp after its pickup time.
func (b *Bot) dispatchScheduled(ctx context.Context, c *handlers.Conversation, r *ride, now time.Time, retry bool) error {
	d, ok, err := b.freeDriver(ctx, c.Bot)
	if err != nil {
		return err
	}
	if ok {
		b.assign(c, r, d, now)
		moveRide(c, r.Ref, statusScheduled, statusAssigned, ms(now),
			"driver", r.Driver, "car", r.Car, "plate", r.Plate, "assigned_at", r.AssignedAt, "eta_at", r.ETAAt)
		c.Reply(b.driverLine(c.Language(), r, now))
		return nil
	}
	pickup := time.UnixMilli(r.PickupAt)
	if now.After(pickup.Add(dispatchGiveUp)) {
		moveRide(c, r.Ref, statusScheduled, statusCancelled, ms(now), "cancelled_at", ms(now))
		if err := c.Record(kindCancellation, fmt.Sprintf("%s → %s cancelled: no driver free", r.Pickup.Short(), r.Destination.Short()),
			map[string]any{"ref": r.Ref, "fee": 0, "currency": r.Currency, "status": r.Status, "reason": "no driver"}); err != nil {
			return err
		}
		c.Reply(b.tr(c, "no-driver", b.clock(c.Language(), pickup, now), r.Destination.Short()))
		return nil
	}
	// Tell the customer once, when the first attempt fails.
	if !retry {
		c.Reply(b.tr(c, "still-looking", b.clock(c.Language(), pickup, now)))
	}
	at(c, now.Add(dispatchRetry), timerDispatch, r.Ref+" retry")
	return nil
}

// finish ends a trip, at the simulated time now, with its receipt,
// recorded in the history.
func (b *Bot) finish(c *handlers.Conversation, r *ride, now time.Time) error {
	moveRide(c, r.Ref, statusOnTrip, statusDone, ms(c.Now()), "finished_at", ms(now))
	took := max(int64((now.Sub(time.UnixMilli(r.StartedAt))+30*time.Second)/time.Minute), 1)
	rec := tripRecord{
		Ref: r.Ref, Pickup: r.Pickup, Destination: r.Destination, DistanceM: r.DistanceM, Minutes: took,
		Fare: r.Fare, Currency: r.Currency, Driver: r.Driver, StartedAt: r.StartedAt, FinishedAt: ms(now),
	}
	summary := fmt.Sprintf("%s → %s, %s, %s", r.Pickup.Short(), r.Destination.Short(), formatKm(r.DistanceM), formatMoney(r.Fare, r.Currency))
	if err := c.Record(kindTrip, summary, rec); err != nil {
		return err
	}
	distance := formatKm(r.DistanceM)
	if !r.Pickup.Geo || !r.Destination.Geo {
		distance += " " + b.tr(c, "estimated")
	}
	lines := []string{
		b.tr(c, "trip-done", r.Destination.Long(), b.cfg.Company),
		b.tr(c, "receipt", r.Ref),
		b.tr(c, "fare", formatMoney(r.Fare, r.Currency)),
		b.tr(c, "distance", distance),
		b.tr(c, "duration", b.count(c.Language(), took, "minute", "minutes")),
		b.tr(c, "driver", r.Driver, r.Plate),
	}
	var sb strings.Builder
	sb.WriteString(strings.Join(lines, "\n"))
	if r.Destination.Fav == "" {
		for _, f := range favourites {
			if _, ok := favourite(c, f); !ok {
				sb.WriteString("\n" + b.tr(c, "tip-save", r.Destination.Short(), f))
				break
			}
		}
	}
	c.Reply(sb.String())
	return nil
}
