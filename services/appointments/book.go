package appointments

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
)

// draft is the conversation state while booking or moving.
type draft struct {
	Service string `json:"service,omitempty"`
	// Staff is "" until asked, anyone, or a staff id.
	Staff string `json:"staff,omitempty"`
	Day   string `json:"day,omitempty"`   // 2006-01-02, in the shop's zone
	Start int64  `json:"start,omitempty"` // Unix ms of the chosen slot
	// Move is the booking being rescheduled ("" for a new booking).
	Move string `json:"move,omitempty"`
}

// bookingRecord is the data of "booking", "reschedule" and "cancellation"
// history records.
type bookingRecord struct {
	ID      string `json:"id"`
	Service string `json:"service"`
	Staff   string `json:"staff"`
	Start   int64  `json:"start"`
	Price   int64  `json:"price"`
	Cur     string `json:"currency"`
}

// reminderPayload is what a reminder timer carries: the booking and the
// start time it was set for, so a reminder for a moved or cancelled
// appointment is recognised and dropped.
type reminderPayload struct {
	ID    string `json:"id"`
	Start int64  `json:"start"`
}

// maxShown is how many days or times a question lists; with "later" and
// "another day" it stays within the 10 reaction buttons.
const maxShown = 8

func (b *Bot) startBooking(ctx context.Context, c *handlers.Conversation, _ *handlers.Message) error {
	c.Clear()
	var d draft
	if len(b.shop().services) == 1 {
		d.Service = b.shop().services[0].ID
	}
	return b.next(ctx, c, d)
}

// bookWhat handles "book a haircut".
func (b *Bot) bookWhat(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	what := handlers.CommandArgs(m.Text())
	for _, article := range []string{"a ", "an ", "een ", "A ", "An ", "Een "} {
		what = strings.TrimPrefix(what, article)
	}
	c.Clear()
	if sv, ok := b.findService(what); ok {
		return b.next(ctx, c, draft{Service: sv.ID})
	}
	c.Reply(b.tr(c, "no-offer", handlers.CapText(what, 40)))
	return b.askService(c, draft{})
}

// findService matches a typed service by id, name or the start of a word
// of its name; ambiguous text matches nothing.
func (b *Bot) findService(what string) (service, bool) {
	what = strings.TrimSpace(strings.ToLower(what))
	if what == "" {
		return service{}, false
	}
	var found []service
	for _, s := range b.shop().services {
		name := strings.ToLower(s.Name)
		if s.ID == what || name == what {
			return s, true
		}
		for _, a := range s.Aliases {
			if strings.ToLower(a) == what {
				return s, true
			}
		}
		for _, w := range strings.Fields(name) {
			if len(what) >= 3 && (strings.HasPrefix(w, what) || strings.HasPrefix(name, what)) {
				found = append(found, s)
				break
			}
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return service{}, false
}

// next asks for whatever the draft still lacks, or for the confirmation.
func (b *Bot) next(ctx context.Context, c *handlers.Conversation, d draft) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	if d.Staff == "" {
		if staff := b.shop().staffFor(svc.ID); len(staff) == 1 {
			d.Staff = staff[0].ID
		} else {
			return b.askStaff(c, d, svc)
		}
	}
	if d.Day == "" {
		return b.askDay(ctx, c, d, "")
	}
	if d.Start == 0 {
		return b.askSlot(ctx, c, d, time.Time{})
	}
	return b.askConfirm(ctx, c, d)
}

func (b *Bot) save(c *handlers.Conversation, d draft, step string) error {
	if err := c.SetState(d); err != nil {
		return err
	}
	c.Goto(step, flowTimeout)
	return nil
}

func (b *Bot) askService(c *handlers.Conversation, d draft) error {
	d.Service, d.Staff, d.Day, d.Start = "", "", "", 0
	var opts []handlers.Option
	for _, s := range b.shop().services {
		opts = append(opts, handlers.Opt("svc:"+s.ID, fmt.Sprintf("%s (%s, %s)", s.Name, duration(s.Duration), formatMoney(s.Price, b.shop().currency)), s.Aliases...))
	}
	c.Ask(b.tr(c, "what-book?"), opts...)
	return b.save(c, d, stepService)
}

func (b *Bot) pickService(ctx context.Context, c *handlers.Conversation, d draft, key string) error {
	if _, ok := b.shop().service(key); !ok {
		return b.askService(c, d)
	}
	return b.next(ctx, c, draft{Service: key, Move: d.Move})
}

func (b *Bot) askStaff(c *handlers.Conversation, d draft, svc service) error {
	opts := []handlers.Option{handlers.Opt("staff:"+anyone, b.tr(c, "anyone"), "anyone", "anybody", "whoever", "maakt niet uit", "iedereen", "om het even")}
	for _, m := range b.shop().staffFor(svc.ID) {
		opts = append(opts, handlers.Opt("staff:"+m.ID, m.Name))
	}
	c.Ask(b.tr(c, "who?", strings.ToLower(svc.Name)), opts...)
	return b.save(c, d, stepStaff)
}

// with is " with Sam" (" bij Sam"), or "" for anyone.
func (b *Bot) with(lang, staff string) string {
	if staff == "" || staff == anyone {
		return ""
	}
	return b.trl(lang, "with", b.shop().staffName(staff))
}

// availableDays lists up to limit days from from on that have a free slot.
func (b *Bot) availableDays(ctx context.Context, c *handlers.Conversation, d draft, svc service, from time.Time, limit int) ([]time.Time, error) {
	now := c.Now()
	last := b.shop().lastDay(now)
	if from.After(last) {
		return nil, nil
	}
	occ, err := b.occupied(ctx, c.Bot.String(), from, b.shop().addDays(last, 1))
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for day := from; !day.After(last) && len(out) < limit; day = b.shop().addDays(day, 1) {
		if len(b.shop().freeSlots(occ, day, svc, d.Staff, now, d.Move)) > 0 {
			out = append(out, day)
		}
	}
	return out, nil
}

// askDay offers the next days with free slots, from the day keyed from
// ("" for today).
func (b *Bot) askDay(ctx context.Context, c *handlers.Conversation, d draft, from string) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	now := c.Now()
	today := b.shop().day(now)
	start := today
	if t, ok := b.shop().parseDayKey(from); ok && t.After(today) {
		start = t
	}
	d.Day, d.Start = "", 0
	days, err := b.availableDays(ctx, c, d, svc, start, maxShown+1)
	if err != nil {
		return err
	}
	if len(days) == 0 {
		c.Clear()
		c.Reply(b.tr(c, "no-free-days",
			strings.ToLower(svc.Name), b.with(c.Language(), d.Staff), b.shop().horizonDays, b.contactHint(c.Language())))
		return nil
	}
	var opts []handlers.Option
	for i, day := range days {
		if i == maxShown {
			opts = append(opts, handlers.Opt("days:"+dayKey(day), b.tr(c, "later-dates")))
			break
		}
		label := b.shop().dayLabel(c.Language(), day, now)
		switch day.Sub(today).Round(24 * time.Hour) {
		case 0:
			label = b.tr(c, "today-label", label)
		case 24 * time.Hour:
			label = b.tr(c, "tomorrow-label", label)
		}
		opts = append(opts, handlers.Opt("day:"+dayKey(day), label))
	}
	c.Ask(b.tr(c, "which-day?", b.with(c.Language(), d.Staff)), opts...)
	return b.save(c, d, stepDay)
}

// typedDay reads a day the customer typed instead of picking one.
func (b *Bot) typedDay(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	day, min, hasDay, hasTime := b.shop().parseDayTime(m.Text(), c.Now())
	if !hasDay {
		return handlers.Errorf("%s", b.tr(c, "day-not-got"))
	}
	if hasTime {
		return b.chooseDayTime(ctx, c, d, day, min)
	}
	return b.chooseDay(ctx, c, d, day)
}

// chooseDay checks a typed day and offers its free times.
func (b *Bot) chooseDay(ctx context.Context, c *handlers.Conversation, d draft, day time.Time) error {
	if _, ok := b.shop().service(d.Service); !ok {
		return b.askService(c, d)
	}
	if err := b.checkDay(ctx, c, d, day); err != nil {
		return err
	}
	d.Day, d.Start = dayKey(day), 0
	return b.askSlot(ctx, c, d, time.Time{})
}

// checkDay says, as an error the customer reads, why a typed day cannot
// be booked (passed, too far, closed, staff off, full), or nil.
func (b *Bot) checkDay(ctx context.Context, c *handlers.Conversation, d draft, day time.Time) error {
	svc, _ := b.shop().service(d.Service)
	now := c.Now()
	label := b.shop().dayLabel(c.Language(), day, now)
	switch {
	case day.Before(b.shop().day(now)):
		return handlers.Errorf("%s", b.tr(c, "day-passed", label))
	case day.After(b.shop().lastDay(now)):
		return handlers.Errorf("%s", b.tr(c, "too-far-until", b.shop().horizonDays, b.shop().dayLabel(c.Language(), b.shop().lastDay(now), now)))
	case len(b.shop().hours[day.Weekday()]) == 0:
		return handlers.Errorf("%s", b.tr(c, "closed-on", plural(c.Language(), day.Weekday()), b.shop().openDays(c.Language())))
	}
	if m, ok := b.shop().member(d.Staff); ok && !m.works(day.Weekday()) {
		return handlers.Errorf("%s", b.tr(c, "staff-off", m.Name, plural(c.Language(), day.Weekday())))
	}
	occ, err := b.occupied(ctx, c.Bot.String(), day, b.shop().addDays(day, 1))
	if err != nil {
		return err
	}
	if len(b.shop().freeSlots(occ, day, svc, d.Staff, now, d.Move)) == 0 {
		return handlers.Errorf("%s", b.tr(c, "day-full", label, b.with(c.Language(), d.Staff)))
	}
	return nil
}

// askSlot offers the free times of the draft's day after after (zero:
// from the start of the day).
func (b *Bot) askSlot(ctx context.Context, c *handlers.Conversation, d draft, after time.Time) error {
	return b.offerSlots(ctx, c, d, func(free []time.Time) ([]time.Time, bool) {
		var later []time.Time
		for _, t := range free {
			if after.IsZero() || t.After(after) {
				later = append(later, t)
			}
		}
		if len(later) > maxShown {
			return later[:maxShown], true
		}
		return later, false
	}, "free-times")
}

// askNear offers the free times of the draft's day nearest to around
// (after a time turned out to be taken).
func (b *Bot) askNear(ctx context.Context, c *handlers.Conversation, d draft, around time.Time) error {
	return b.offerSlots(ctx, c, d, func(free []time.Time) ([]time.Time, bool) {
		return nearest(free, around, maxShown), false
	}, "other-free-times")
}

func (b *Bot) offerSlots(ctx context.Context, c *handlers.Conversation, d draft, pick func([]time.Time) ([]time.Time, bool), title string) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	day, ok := b.shop().parseDayKey(d.Day)
	if !ok {
		return b.askDay(ctx, c, d, "")
	}
	now := c.Now()
	occ, err := b.occupied(ctx, c.Bot.String(), day, b.shop().addDays(day, 1))
	if err != nil {
		return err
	}
	shown, more := pick(b.shop().freeSlots(occ, day, svc, d.Staff, now, d.Move))
	if len(shown) == 0 {
		c.Reply(b.tr(c, "day-full-short", b.shop().dayLabel(c.Language(), day, now), b.with(c.Language(), d.Staff)))
		return b.askDay(ctx, c, d, "")
	}
	d.Start = 0
	var opts []handlers.Option
	for _, t := range shown {
		opts = append(opts, handlers.Opt(fmt.Sprintf("slot:%d", t.UnixMilli()), t.In(b.shop().loc).Format("15:04")))
	}
	if more {
		opts = append(opts, handlers.Opt(fmt.Sprintf("slots:%d", shown[len(shown)-1].UnixMilli()), b.tr(c, "later-times")))
	}
	opts = append(opts, handlers.Opt("slots:day", b.tr(c, "another-day")))
	c.Ask(b.tr(c, "slots?", b.tr(c, title), strings.ToLower(svc.Name), b.shop().dayLabel(c.Language(), day, now), b.with(c.Language(), d.Staff)), opts...)
	return b.save(c, d, stepSlot)
}

// typedTime reads a time (or another day) typed instead of picking one.
func (b *Bot) typedTime(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var d draft
	if _, err := c.State(&d); err != nil {
		return err
	}
	day, min, hasDay, hasTime := b.shop().parseDayTime(m.Text(), c.Now())
	switch {
	case hasDay && hasTime:
		return b.chooseDayTime(ctx, c, d, day, min)
	case hasDay:
		return b.chooseDay(ctx, c, d, day)
	case !hasTime:
		return handlers.Errorf("%s", b.tr(c, "pick-or-time"))
	}
	return b.typedClock(ctx, c, d, min)
}

// chooseDayTime takes a day and a time typed together ("tomorrow at
// 10", "morgen om half acht").
func (b *Bot) chooseDayTime(ctx context.Context, c *handlers.Conversation, d draft, day time.Time, min int) error {
	if _, ok := b.shop().service(d.Service); !ok {
		return b.askService(c, d)
	}
	if err := b.checkDay(ctx, c, d, day); err != nil {
		return err
	}
	d.Day, d.Start = dayKey(day), 0
	return b.typedClock(ctx, c, d, min)
}

// typedClock takes a typed time on the draft's day.
func (b *Bot) typedClock(ctx context.Context, c *handlers.Conversation, d draft, min int) error {
	svc, ok := b.shop().service(d.Service)
	day, ok2 := b.shop().parseDayKey(d.Day)
	if !ok || !ok2 {
		return b.next(ctx, c, d)
	}
	dur := int(svc.Duration / time.Minute)
	fits := func(min int) bool {
		ok := false
		for _, sp := range b.shop().hours[day.Weekday()] {
			ok = ok || min >= sp.from && min+dur <= sp.to
		}
		return ok
	}
	// "at 3", "om half acht": a 12-hour clock time means the afternoon or
	// evening when only that is within the opening hours.
	if !fits(min) && min < 12*60 && fits(min+12*60) {
		min += 12 * 60
	}
	label := b.shop().dayLabel(c.Language(), day, c.Now())
	if !fits(min) {
		return handlers.Errorf("%s", b.tr(c, "not-in-hours",
			strings.ToLower(svc.Name), clockString(min), label, b.shop().periods(day.Weekday()), strings.ToLower(svc.Name), duration(svc.Duration)))
	}
	start := b.shop().at(day, min)
	onGrid := false
	for _, t := range b.shop().starts(day, svc) {
		onGrid = onGrid || t.Equal(start)
	}
	if !onGrid {
		return handlers.Errorf("%s", b.tr(c, "grid", duration(b.shop().granularity), int(b.shop().granularity/time.Minute)%60))
	}
	return b.pickSlot(ctx, c, d, start)
}

// pickSlot takes a chosen start time if it is still free.
func (b *Bot) pickSlot(ctx context.Context, c *handlers.Conversation, d draft, start time.Time) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	now := c.Now()
	d.Day = dayKey(b.shop().day(start))
	if !b.shop().bookable(start, now) {
		if start.Before(now.Add(b.shop().minNotice)) {
			if start.Before(now) {
				c.Reply(b.tr(c, "passed", b.shop().when(c.Language(), start, now)))
			} else {
				c.Reply(b.tr(c, "too-soon", b.shop().when(c.Language(), start, now), leadText(c.Language(), b.shop().minNotice)))
			}
		} else {
			c.Reply(b.tr(c, "too-far", b.shop().horizonDays))
			return b.askDay(ctx, c, d, "")
		}
		return b.askSlot(ctx, c, d, time.Time{})
	}
	occ, err := b.occupied(ctx, c.Bot.String(), start, start.Add(svc.Duration))
	if err != nil {
		return err
	}
	if len(b.shop().freeStaff(occ, svc, d.Staff, start, d.Move)) == 0 {
		c.Reply(b.tr(c, "taken", b.shop().when(c.Language(), start, now), b.with(c.Language(), d.Staff)))
		return b.askNear(ctx, c, d, start)
	}
	d.Start = start.UnixMilli()
	return b.askConfirm(ctx, c, d)
}

func (b *Bot) askConfirm(ctx context.Context, c *handlers.Conversation, d draft) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	now := c.Now()
	start := time.UnixMilli(d.Start)
	if d.Move != "" {
		old, err := b.bookingByID(ctx, c.Bot, c.Customer.ID, d.Move)
		if err != nil {
			return err
		}
		if old == nil || old.Status != "booked" {
			c.Clear()
			c.Reply(b.tr(c, "no-longer-booked"))
			return nil
		}
		c.Ask(b.tr(c, "move?", strings.ToLower(svc.Name), b.shop().when(c.Language(), old.Start, now), b.shop().when(c.Language(), start, now), b.with(c.Language(), d.Staff)),
			handlers.Opt("confirm:yes", b.tr(c, "move-yes")), handlers.Opt("confirm:other", b.tr(c, "other-time")), handlers.Opt("confirm:no", b.tr(c, "move-no")))
		return b.save(c, d, stepConfirm)
	}
	c.Ask(b.tr(c, "book?", svc.Name, b.with(c.Language(), d.Staff), b.shop().when(c.Language(), start, now),
		duration(svc.Duration), formatMoney(svc.Price, b.shop().currency)),
		handlers.Opt("confirm:yes", b.tr(c, "book-yes")), handlers.Opt("confirm:other", b.tr(c, "other-time")), handlers.Opt("confirm:no", b.tr(c, "book-no")))
	return b.save(c, d, stepConfirm)
}

// book makes (or moves) the appointment. It checks the slot against what
// is committed now; the granule rows written at commit catch anyone who
// booked it in the meantime, and the turn then runs again and lands in
// the "just taken" branch.
func (b *Bot) book(ctx context.Context, c *handlers.Conversation, d draft) error {
	svc, ok := b.shop().service(d.Service)
	if !ok {
		return b.askService(c, d)
	}
	now := c.Now()
	start := time.UnixMilli(d.Start)
	if d.Start == 0 {
		return b.next(ctx, c, d)
	}
	var old *booking
	if d.Move != "" {
		var err error
		if old, err = b.bookingByID(ctx, c.Bot, c.Customer.ID, d.Move); err != nil {
			return err
		}
		if old == nil || old.Status != "booked" {
			c.Clear()
			c.Reply(b.tr(c, "no-longer-booked"))
			return nil
		}
		if !b.beforeCutoff(*old, now) {
			c.Clear()
			c.Reply(b.tooLate(c, "change", *old))
			return nil
		}
	}
	if !b.shop().bookable(start, now) {
		return b.pickSlot(ctx, c, d, start) // explains and offers other times
	}
	occ, err := b.occupied(ctx, c.Bot.String(), start, start.Add(svc.Duration))
	if err != nil {
		return err
	}
	free := b.shop().freeStaff(occ, svc, d.Staff, start, d.Move)
	if len(free) == 0 {
		c.Reply(b.tr(c, "just-taken", b.shop().when(c.Language(), start, now), b.with(c.Language(), d.Staff)))
		d.Day = dayKey(b.shop().day(start))
		return b.askNear(ctx, c, d, start)
	}
	if b.beforeBook != nil {
		b.beforeBook() // tests: another process commits here
	}
	staff := free[0]
	if old != nil {
		for _, f := range free {
			if f == old.Staff {
				staff = f // moving "anyone": keep the same person when free
			}
		}
	}
	c.Clear()
	if old != nil {
		moved := *old
		moved.Staff, moved.Start, moved.End = staff, start, start.Add(svc.Duration)
		c.OnCommit(moveBooking(*old, moved, now))
		rec := bookingRecord{ID: moved.ID, Service: moved.Service, Staff: moved.Staff, Start: moved.Start.UnixMilli(), Price: moved.Price, Cur: moved.Currency}
		if err := c.Record("reschedule", fmt.Sprintf("%s with %s moved from %s to %s", b.shop().serviceName(moved.Service),
			b.shop().staffName(moved.Staff), b.shop().when(staffLang, old.Start, now), b.shop().when(staffLang, start, now)), rec); err != nil {
			return err
		}
		leads, err := b.setReminders(c, moved)
		if err != nil {
			return err
		}
		c.Reply(b.tr(c, "moved", b.shop().serviceName(moved.Service), b.shop().staffName(staff),
			b.shop().when(c.Language(), start, now), b.shop().when(c.Language(), old.Start, now), b.reminderSentence(c.Language(), leads)))
		b.tellStaff(c, fmt.Sprintf("🔁 Moved %s: %s with %s, now %s (was %s with %s), for %s (%s)", moved.ID,
			b.shop().serviceName(moved.Service), b.shop().staffName(staff), b.shop().when(staffLang, start, now), b.shop().when(staffLang, old.Start, now),
			b.shop().staffName(old.Staff), c.Customer.Name(), c.Customer.ID))
		return nil
	}
	bk := booking{
		ID: newRef(), Bot: c.Bot.String(), Customer: c.Customer.ID.String(), Service: svc.ID, Staff: staff,
		Start: start, End: start.Add(svc.Duration), Price: svc.Price, Currency: b.shop().currency, Status: "booked",
	}
	c.OnCommit(insertBooking(bk, now))
	rec := bookingRecord{ID: bk.ID, Service: bk.Service, Staff: bk.Staff, Start: bk.Start.UnixMilli(), Price: bk.Price, Cur: bk.Currency}
	if err := c.Record("booking", fmt.Sprintf("%s with %s on %s", b.shop().serviceName(bk.Service), b.shop().staffName(staff), b.shop().when(staffLang, start, now)), rec); err != nil {
		return err
	}
	leads, err := b.setReminders(c, bk)
	if err != nil {
		return err
	}
	c.Reply(b.tr(c, "booked",
		b.shop().serviceName(bk.Service), b.shop().staffName(staff), b.shop().when(c.Language(), start, now), bk.ID,
		duration(svc.Duration), formatMoney(bk.Price, bk.Currency), b.reminderSentence(c.Language(), leads)))
	b.tellStaff(c, fmt.Sprintf("📅 New booking %s: %s with %s on %s for %s (%s)", bk.ID, b.shop().serviceName(bk.Service),
		b.shop().staffName(staff), b.shop().when(staffLang, start, now), c.Customer.Name(), c.Customer.ID))
	return nil
}

// setReminders sets a timer per configured lead time that is still in
// the future, and returns those lead times.
func (b *Bot) setReminders(c *handlers.Conversation, bk booking) ([]time.Duration, error) {
	payload, err := json.Marshal(reminderPayload{ID: bk.ID, Start: bk.Start.UnixMilli()})
	if err != nil {
		return nil, err
	}
	var set []time.Duration
	now := c.Now()
	for _, lead := range b.shop().reminders {
		if at := bk.Start.Add(-lead); at.After(now) {
			c.After(at.Sub(now), "reminder", string(payload))
			set = append(set, lead)
		}
	}
	return set, nil
}

// reminderSentence is " I'll remind you 24 hours and 2 hours before." or "".
func (b *Bot) reminderSentence(lang string, leads []time.Duration) string {
	if len(leads) == 0 {
		return ""
	}
	var parts []string
	for _, l := range leads {
		parts = append(parts, leadText(lang, l))
	}
	list := parts[0]
	if len(parts) > 1 {
		list = strings.Join(parts[:len(parts)-1], ", ") + b.trl(lang, "and") + parts[len(parts)-1]
	}
	return b.trl(lang, "remind", list)
}

// answerAgain handles "Another haircut with Sam?".
func (b *Bot) answerAgain(ctx context.Context, c *handlers.Conversation, yes bool) error {
	var d draft
	found, err := c.State(&d)
	if err != nil {
		return err
	}
	if !yes || !found {
		c.Clear()
		return b.startBooking(ctx, c, nil)
	}
	d.Day, d.Start, d.Move = "", 0, ""
	return b.next(ctx, c, d)
}
