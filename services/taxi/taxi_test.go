package taxi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/taxi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// testConfig is the default company with a fixed driver ETA of 4 minutes,
// so the transcripts are predictable.
func testConfig() taxi.Config {
	cfg := taxi.Defaults()
	cfg.ETAMin = config.Duration(4 * time.Minute)
	cfg.ETAMax = config.Duration(4 * time.Minute)
	return cfg
}

// newHarness runs the taxi bot on a database of dialect d (the harness
// start, 2026-01-05 12:00 UTC, is 13:00 in Amsterdam).
func newHarness(t *testing.T, cfg taxi.Config, d store.Dialect) (*handlertest.Harness, *store.DB) {
	t.Helper()
	uri, db := openDB(t, d)
	bot, err := taxi.New(cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	return handlertest.New(t, bot, handlertest.Options{URI: uri}), db
}

// newConsoleBot is a taxi bot of the test config on a fresh database of dialect
// d, and a harness talking to it (for tests that also call the bot's
// console side).
func newConsoleBot(t *testing.T, d store.Dialect) (*taxi.Bot, *handlertest.Harness) {
	t.Helper()
	uri, db := openDB(t, d)
	bot, err := taxi.New(testConfig(), db)
	if err != nil {
		t.Fatal(err)
	}
	return bot, handlertest.New(t, bot, handlertest.Options{URI: uri})
}

// openDB is a fresh, migrated database of dialect d and its URI (for the
// harness, which opens its own connection to it).
func openDB(t *testing.T, d store.Dialect) (string, *store.DB) {
	t.Helper()
	uri := storetest.URI(t, d)
	db, err := store.Open(context.Background(), uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	return uri, db
}

func newBot(t *testing.T) (*handlertest.Harness, *store.DB) {
	return newHarness(t, testConfig(), store.SQLite)
}

// say sends text and expects a reply containing every part.
func say(t *testing.T, h *handlertest.Harness, text string, want ...string) []handlertest.Reply {
	t.Helper()
	r := tell(h, text)
	expect(t, "after "+quote(text), r, want...)
	return r
}

func expect(t *testing.T, what string, r []handlertest.Reply, want ...string) {
	t.Helper()
	got := handlertest.Text(r)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("%s: want %q in:\n%s", what, w, got)
		}
	}
}

// tell sends text a second after the last message: customers type at
// human speed (and so stay within the bot's rate limit).
func tell(h *handlertest.Harness, text string) []handlertest.Reply {
	h.Clock.Advance(time.Second)
	return h.Say(text)
}

func quote(s string) string { return "\"" + s + "\"" }

// advance moves the clock and expects exactly the given replies (none
// when want is empty).
func advance(t *testing.T, h *handlertest.Harness, d time.Duration, want ...string) {
	t.Helper()
	r := h.Advance(d)
	if len(want) == 0 && len(r) > 0 {
		t.Fatalf("after %s: want silence, got %q", d, handlertest.Bodies(r))
	}
	expect(t, "after "+d.String(), r, want...)
}

func rideStatus(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT status FROM taxi_rides ORDER BY created_at, ref`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// bookNow books a ride for now from a typed address to Central Station.
func bookNow(t *testing.T, h *handlertest.Harness) {
	t.Helper()
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	tell(h, "Central Station")
	tell(h, "now")
	say(t, h, "yes", "Booked (ride TX-")
}

func TestBookNowAndRideToTheReceipt(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			h, db := newHarness(t, testConfig(), d)
			expect(t, "welcome", h.Open(), "Hi Alice, welcome to City Cabs Amsterdam!")
			say(t, h, "book", "Where should we pick you up? Type an address, or share your location")
			say(t, h, "Keizersgracht 123", "Where to?")
			when := say(t, h, "Central Station", "When do you need the taxi?", "1. Now", "2. In 15 min")
			confirm := h.Choose(when[0], 1)
			// 6 km default (typed address): 4.50 + 6 × 2.50 + 15 min × 0.40 = 25.50
			expect(t, "confirm", confirm, "From Keizersgracht 123 to Central Station, now.",
				"About 6.0 km and 15 minutes: €25.50.", "typical 6.0 km city trip", "Book it?")
			say(t, h, "yes", "Booked (ride TX-", "quoted fare €25.50",
				"Your driver is Jan: black Toyota Prius, plate GX-123-B. Jan will be at Keizersgracht 123 in about 4 minutes (13:04).")
			say(t, h, "status", "Your driver Jan (black Toyota Prius, GX-123-B) is on the way to Keizersgracht 123, arriving in about 4 minutes.")

			advance(t, h, time.Minute, "Your driver Jan is 3 minutes away.")
			advance(t, h, time.Minute)
			advance(t, h, time.Minute, "Your driver Jan is 1 minute away.")
			advance(t, h, time.Minute, "Your driver has arrived at Keizersgracht 123: Jan, black Toyota Prius, plate GX-123-B.")
			advance(t, h, 2*time.Minute, "Trip started: on your way to Central Station, arriving around 13:21.")
			advance(t, h, 15*time.Minute, "Trip done: you've arrived at Central Station.", "Fare: €25.50",
				"Distance: 6.0 km (estimated)", "Duration: 15 minutes", "Driver: Jan (GX-123-B)")
			advance(t, h, time.Hour)

			trips := h.History("trip")
			if len(trips) != 1 || trips[0].Summary != "Keizersgracht 123 → Central Station, 6.0 km, €25.50" {
				t.Fatalf("trip history: %+v", trips)
			}
			if got := rideStatus(t, db); len(got) != 1 || got[0] != "done" {
				t.Fatalf("rides: %v", got)
			}
			say(t, h, "trips", "Your recent trips:", "Keizersgracht 123 → Central Station")
		})
	}
}

func TestSharedLocationsUseHaversine(t *testing.T) {
	h, _ := newBot(t)
	// Dam Square, shared from a client; destination a known place.
	r := h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "Dam Square", "geo_uri": "geo:52.3731,4.8926"})
	expect(t, "location", r, "Pickup: Dam Square.", "Where to?")
	tell(h, "airport")
	confirm := tell(h, "now")
	// Great-circle Dam Square → Schiphol is 10 944 m: 27 min at 25 km/h;
	// 4.50 + 10.944 × 2.50 + 27 × 0.40 = 42.66.
	expect(t, "confirm", confirm, "From Dam Square to Schiphol Airport, now.", "About 10.9 km and 27 minutes: €42.66.")
	if strings.Contains(handlertest.Text(confirm), "typical") {
		t.Fatalf("two known positions must not use the default distance: %q", handlertest.Text(confirm))
	}
	// A location during the flow works too, and a location without a
	// usable label gets its coordinates.
	tell(h, "no")
	tell(h, "book")
	r = h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "Location geo:52.36,4.9", "geo_uri": "geo:52.36,4.9"})
	expect(t, "pinned", r, "Where to?")
	say(t, h, "Central Station")
	say(t, h, "now", "From the pinned location (52.36000, 4.90000) to Central Station")
}

func TestScheduledRideGetsReminderAndDriver(t *testing.T) {
	h, db := newBot(t)
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	tell(h, "Central Station")
	say(t, h, "at 18:30", "From Keizersgracht 123 to Central Station, at 18:30.")
	say(t, h, "yes", "Booked: at 18:30, from Keizersgracht 123 to Central Station. Quoted fare €25.50",
		"I'll remind you at 18:00 and send your driver's details at 18:20.")
	if got := rideStatus(t, db); len(got) != 1 || got[0] != "scheduled" {
		t.Fatalf("rides: %v", got)
	}
	say(t, h, "status", "booked for 18:30")
	// 13:00 → 18:00 Amsterdam.
	advance(t, h, 5*time.Hour, "Reminder: your taxi from Keizersgracht 123 to Central Station is booked for 18:30.")
	advance(t, h, 20*time.Minute, "Your driver is Jan", "in about 10 minutes (18:30)")
	advance(t, h, 7*time.Minute, "Your driver Jan is 3 minutes away.")
	advance(t, h, 2*time.Minute, "1 minute away")
	advance(t, h, time.Minute, "Your driver has arrived")
	if got := rideStatus(t, db); got[0] != "arrived" {
		t.Fatalf("rides: %v", got)
	}
}

func TestQuickTimesAndTomorrow(t *testing.T) {
	h, _ := newBot(t)
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	when := tell(h, "Central Station")
	expect(t, "in 30", h.Choose(when[0], 3), "at 13:30")
	tell(h, "no")
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	tell(h, "Central Station")
	say(t, h, "tomorrow at 9", "tomorrow at 09:00")
	say(t, h, "yes", "I'll remind you tomorrow at 08:30")
}

func TestBadTimes(t *testing.T) {
	h, _ := newBot(t)
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	tell(h, "Central Station")
	say(t, h, "at 10:00", "10:00 has already passed (it is 13:00 now)", "tomorrow at 10:00")
	say(t, h, "at 12:59", "12:59 has already passed")
	say(t, h, "whenever", `couldn't read "whenever" as a time`)
	say(t, h, "at 25:00", "couldn't read")
	say(t, h, "18", "couldn't read") // a bare number is not a time
	say(t, h, "in 100 hours", "up to 48 hours ahead")
	if step, _ := h.State(nil); step != "when" {
		t.Fatalf("a bad time must keep the question open, step %q", step)
	}
	say(t, h, "in 20 min", "From Keizersgracht 123 to Central Station, at 13:20.")
}

func TestBadAddresses(t *testing.T) {
	h, _ := newBot(t)
	tell(h, "book")
	say(t, h, "   ", "Please type an address")
	say(t, h, "home", "I don't know your home address yet")
	say(t, h, "here", "I can't see where you are")
	say(t, h, "?", "Please type an address")
	say(t, h, "x1", `"x1" doesn't look like an address`)
	say(t, h, "12", `doesn't look like an address`)
	say(t, h, "yes", `"yes" doesn't look like an address`)
	say(t, h, "book", "Where should we pick you up?") // starts over
	say(t, h, strings.Repeat("Long street ", 30), "too long")
	if got := h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://a/b"}); !strings.Contains(handlertest.Text(got), "Please type an address") {
		t.Fatalf("image as address: %q", handlertest.Bodies(got))
	}
	say(t, h, "Keizersgracht 123", "Where to?")
	say(t, h, "keizersgracht  123", "That is where you are being picked up")
	say(t, h, "Central Station", "When do you need the taxi?")
}

func TestCancel(t *testing.T) {
	h, db := newBot(t)
	say(t, h, "cancel", "You have no ride to cancel.")
	bookNow(t, h)
	say(t, h, "cancel", "Your ride TX-", "to Central Station is cancelled. No charge.")
	say(t, h, "cancel", "is already cancelled, and you have no other ride booked.")
	// The ride's timers still fire, and say nothing.
	advance(t, h, 5*time.Minute)
	advance(t, h, time.Hour)
	if got := rideStatus(t, db); len(got) != 1 || got[0] != "cancelled" {
		t.Fatalf("rides: %v", got)
	}
	if c := h.History("cancellation"); len(c) != 1 || !strings.Contains(c[0].Summary, "cancelled") {
		t.Fatalf("cancellation history: %+v", c)
	}
	// Cancelling a booking in progress drops it.
	tell(h, "book")
	say(t, h, "Keizersgracht 123", "Where to?")
	say(t, h, "cancel", "I dropped this booking; nothing was booked.")
	say(t, h, "Central Station", "Sorry, I didn't get that.")
	// Driver Jan is free again.
	bookNow(t, h)
}

func TestCancelScheduledRideSilencesReminder(t *testing.T) {
	h, db := newBot(t)
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	tell(h, "Central Station")
	tell(h, "at 18:30")
	tell(h, "yes")
	say(t, h, "cancel", "is cancelled. No charge.")
	advance(t, h, 5*time.Hour)
	advance(t, h, time.Hour)
	if got := rideStatus(t, db); got[0] != "cancelled" {
		t.Fatalf("rides: %v", got)
	}
}

func TestCancelAfterArrivalCostsTheFee(t *testing.T) {
	h, _ := newBot(t)
	bookNow(t, h)
	advance(t, h, 3*time.Minute, "Your driver Jan is 1 minute away.") // the late "3 minutes" one stays silent
	advance(t, h, time.Minute, "Your driver has arrived", "Cancelling from now on costs €5.00")
	q := say(t, h, "cancel", "Jan is already waiting for you at Keizersgracht 123, so cancelling now costs €5.00. Cancel anyway?")
	expect(t, "keep", h.Choose(q[0], 2), "your ride stays booked")
	say(t, h, "cancel", "costs €5.00")
	say(t, h, "yes", "is cancelled. A cancellation fee of €5.00 applies.")
	advance(t, h, 30*time.Minute) // no "trip started"
	if c := h.History("cancellation"); len(c) != 1 || !strings.Contains(c[0].Summary, "fee €5.00") {
		t.Fatalf("cancellation history: %+v", c)
	}
}

func TestCancelAfterArrivalIsFreeWithoutAFee(t *testing.T) {
	cfg := testConfig()
	cfg.Fare.CancellationFee = 0
	h, _ := newHarness(t, cfg, store.SQLite)
	bookNow(t, h)
	advance(t, h, 4*time.Minute, "Your driver has arrived")
	say(t, h, "cancel", "is cancelled. No charge.")
}

func TestCannotCancelDuringTrip(t *testing.T) {
	h, _ := newBot(t)
	bookNow(t, h)
	advance(t, h, 4*time.Minute, "arrived")
	advance(t, h, 2*time.Minute, "Trip started")
	say(t, h, "cancel", "has already started, so it can't be cancelled")
	advance(t, h, 15*time.Minute, "Trip done")
}

func TestOneOpenRideAtATime(t *testing.T) {
	h, _ := newBot(t)
	bookNow(t, h)
	say(t, h, "book", "You already have a ride booked (TX-", "Say \"cancel\" to cancel it before booking another.")
	if step, _ := h.State(nil); step != "" {
		t.Fatalf("step %q after a refused booking", step)
	}
	// A booking that was started before the first one was confirmed is
	// refused at confirmation.
	bob := h.As("@bob:test", "Bob")
	tell(bob, "book")
	tell(bob, "Dam")
	tell(bob, "airport")
	tell(bob, "now")
	expect(t, "bob", tell(bob, "yes"), "Booked", "Fatima")
	h2 := h.As("@alice:test", "Alice")
	expect(t, "alice again", h2.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "x", "geo_uri": "geo:52.37,4.89"}), "You already have a ride booked")
}

func TestNoDriverFreeOffersRetry(t *testing.T) {
	cfg := testConfig()
	cfg.Fleet = cfg.Fleet[:1]
	h, _ := newHarness(t, cfg, store.SQLite)
	bookNow(t, h) // Jan is busy now
	bob := h.As("@bob:test", "Bob")
	tell(bob, "book")
	tell(bob, "Dam")
	tell(bob, "Central Station")
	tell(bob, "now")
	q := tell(bob, "yes")
	expect(t, "busy", q, "Sorry, all our drivers are busy right now. Shall I try again?", "1. Try again", "2. No thanks")
	expect(t, "still busy", bob.Choose(q[len(q)-1], 1), "all our drivers are busy")
	// Alice cancels: Jan is free.
	say(t, h, "cancel", "cancelled")
	expect(t, "retry", tell(bob, "try again"), "Booked (ride TX-", "Your driver is Jan")
	// "No thanks" ends the booking.
	carol := h.As("@carol:test", "Carol")
	tell(carol, "book")
	tell(carol, "Dam")
	tell(carol, "Central Station")
	tell(carol, "now")
	tell(carol, "yes")
	expect(t, "no thanks", tell(carol, "2"), "OK. Say \"book\" when you need a taxi.")
}

func TestScheduledRideWithNoDriverKeepsLookingThenGivesUp(t *testing.T) {
	cfg := testConfig()
	cfg.Fleet = cfg.Fleet[:1]
	h, db := newHarness(t, cfg, store.SQLite)
	bob := h.As("@bob:test", "Bob")
	tell(bob, "book")
	tell(bob, "Dam")
	tell(bob, "Central Station")
	tell(bob, "in 30 min") // 13:30: driver assigned at 13:20
	tell(bob, "yes")
	// Alice takes Jan at 13:19 on a long trip.
	h.Advance(19 * time.Minute)
	tell(h, "book")
	tell(h, "Dam")
	tell(h, "airport")
	tell(h, "now")
	tell(h, "yes")
	r := h.Advance(time.Minute)
	expect(t, "bob waits", r, "All our drivers are busy at the moment. I'm still looking for one for your 13:30 ride")
	r = h.Advance(time.Minute) // retry: silent
	if strings.Contains(handlertest.Text(r), "still looking") {
		t.Fatalf("the busy notice is sent once: %q", handlertest.Bodies(r))
	}
	for range 30 { // bounded: the give-up is 15 min after 13:30
		h.Advance(time.Minute)
	}
	got := rideStatus(t, db)
	if len(got) != 2 || got[0] != "cancelled" {
		t.Fatalf("rides: %v", got)
	}
	if c := bob.History("cancellation"); len(c) != 1 || !strings.Contains(c[0].Summary, "no driver free") {
		t.Fatalf("bob's history: %+v", c)
	}
}

func TestFavouritesAndRecentPlaces(t *testing.T) {
	h, _ := newBot(t)
	say(t, h, "save this as home", "Save which place?")
	bookNow(t, h)
	h.Advance(4 * time.Minute)
	h.Advance(2 * time.Minute)
	expect(t, "receipt", h.Advance(15*time.Minute), `Tip: to book Central Station faster next time, say "save this as home".`)
	say(t, h, "save Keizersgracht 123 as home", "Saved Keizersgracht 123 as your home. Next time, just say \"home\".")
	say(t, h, "save this as work", "Saved Central Station as your work.")
	if f := h.StoredCustomer().Facts; !strings.Contains(f["home"], "Keizersgracht 123") || !strings.Contains(f["work"], "Central Station") {
		t.Fatalf("facts: %v", f)
	}
	q := tell(h, "book")
	if len(q) != 1 || len(q[0].Options) != 3 || q[0].Options[0].Label != "Home (Keizersgracht 123)" ||
		q[0].Options[1].Label != "Work (Central Station)" || q[0].Options[2].Label != "Other address" {
		t.Fatalf("pickup question: %+v", q)
	}
	where := h.Choose(q[0], 1)
	if len(where) != 1 || len(where[0].Options) != 2 || where[0].Options[0].Label != "Work (Central Station)" {
		t.Fatalf("destination question: %+v", where)
	}
	say(t, h, "Other", "type the address")
	say(t, h, "Dam", "When do you need the taxi?")
	tell(h, "now")
	say(t, h, "yes", "Your driver is Fatima", "will be at Home (Keizersgracht 123)") // Jan drove last
	h.Advance(4 * time.Minute)
	h.Advance(2 * time.Minute)
	h.Advance(15 * time.Minute)

	// Now Dam Square is recent too: "Where to? 1. Work 2. Dam Square 3. Other".
	tell(h, "book")
	where = tell(h, "home")
	expect(t, "recent", where, "Where to?", "1. Work (Central Station)", "2. Dam Square", "3. Other")
	say(t, h, "5", "There is no option 5")
	say(t, h, "2", "When do you need the taxi?")
	say(t, h, "now", "From Home (Keizersgracht 123) to Dam Square, now.")
}

func TestWelcomeBackOffersTheLastTrip(t *testing.T) {
	h, _ := newBot(t)
	bookNow(t, h)
	h.Advance(4 * time.Minute)
	h.Advance(2 * time.Minute)
	h.Advance(15 * time.Minute)
	tell(h, "save Keizersgracht 123 as home")

	q := say(t, h, "hi", "Welcome back, Alice. Home to Central Station again?", "1. Yes, book it again")
	say(t, h, "yes", "When do you need the taxi?")
	say(t, h, "now", "From Home (Keizersgracht 123) to Central Station, now.")
	tell(h, "no")

	// Re-inviting the bot greets the same way.
	ev := h.Session.Message(h.Bot, h.Customer, "m.room.member", map[string]any{"membership": "invite", "is_direct": true})
	ev["state_key"] = h.Bot.String()
	r, err := h.Session.Inject(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "re-invite", r, "Welcome back, Alice. Home to Central Station again?")
	say(t, h, "2", "Where should we pick you up?")
	_ = q

	// Commands still work while the question is open.
	tell(h, "cancel")
	say(t, h, "hello", "again?")
	say(t, h, "status", "You have no ride booked.")
	say(t, h, "2", "Where should we pick you up?")
	say(t, h, "cancel", "I dropped this booking")

	// With a ride open, the greeting is its status.
	bookNow(t, h)
	say(t, h, "hello", "Welcome back, Alice. Your driver Fatima (white Tesla Model 3, TS-482-K) is on the way")
}

func TestHelpAndUnknownInput(t *testing.T) {
	h, _ := newBot(t)
	say(t, h, "help", "**book**", "**cancel**", "save this as home", "forget me")
	say(t, h, "what's the weather", "Sorry, I didn't get that.")
	say(t, h, "trips", "You have no trips with us yet.")
	if r := h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://a/b"}); !strings.Contains(handlertest.Text(r), "only read text and shared locations") {
		t.Fatalf("image: %q", handlertest.Bodies(r))
	}
	// Mid-booking, help and status answer without losing the booking.
	tell(h, "book")
	tell(h, "Keizersgracht 123")
	say(t, h, "help", "**book**")
	say(t, h, "Central Station", "When do you need the taxi?")
	// A booking left alone expires.
	h.Advance(16 * time.Minute)
	say(t, h, "now", "Your booking timed out")
}

func TestForgetMeErasesRides(t *testing.T) {
	h, db := newBot(t)
	bookNow(t, h)
	q := tell(h, "forget me")
	h.Choose(q[0], 1)
	if got := rideStatus(t, db); len(got) != 0 {
		t.Fatalf("rides left after forget me: %v", got)
	}
	advance(t, h, time.Hour) // its timers are gone or silent
	// Jan is free again for someone else.
	bob := h.As("@bob:test", "Bob")
	bookNow(t, bob)
}

// TestRideSurvivesARestart books a ride, then throws the bot and its
// dispatcher away and starts new ones on the same database: the ride's
// timers, stored with it, carry on where they were.
func TestRideSurvivesARestart(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			uri := storetest.URI(t, d)
			start := func(at time.Time) *handlertest.Harness {
				db, err := store.Open(context.Background(), uri, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if _, _, err := db.Upgrade(context.Background()); err != nil {
					t.Fatal(err)
				}
				bot, err := taxi.New(testConfig(), db)
				if err != nil {
					t.Fatal(err)
				}
				return handlertest.New(t, bot, handlertest.Options{URI: uri, Start: at})
			}
			h := start(time.Time{})
			bookNow(t, h)
			advance(t, h, time.Minute, "3 minutes away")

			// Down for two minutes; the next process picks up the timers
			// where the first left them: "1 minute" is due.
			h2 := start(h.Clock.Now().Add(2 * time.Minute))
			advance(t, h2, 0, "Your driver Jan is 1 minute away.")
			advance(t, h2, time.Minute, "Your driver has arrived")
			advance(t, h2, 2*time.Minute, "Trip started")
			advance(t, h2, 15*time.Minute, "Trip done")
			if n := len(h2.History("trip")); n != 1 {
				t.Fatalf("%d trips", n)
			}
		})
	}
}

// TestLateTimersCatchUp: when timers are handled late (the service was
// down for 40 minutes), the simulated ride catches up on its own
// schedule: the receipt counts the planned 15 minutes, and the stale
// countdowns say nothing.
func TestLateTimersCatchUp(t *testing.T) {
	h, _ := newBot(t)
	bookNow(t, h)
	r := h.Advance(40 * time.Minute)
	// A timer set for the past fires on the dispatcher's next poll; the
	// harness's Step stops when the inbox is empty, so poll twice more.
	r = append(r, h.Advance(0)...)
	r = append(r, h.Advance(0)...)
	got := handlertest.Bodies(r)
	if len(got) != 3 || !strings.Contains(got[0], "has arrived") || !strings.Contains(got[1], "Trip started") ||
		!strings.Contains(got[1], "arriving around 13:21") || !strings.Contains(got[2], "Duration: 15 minutes") {
		t.Fatalf("catch-up: %q", got)
	}
}
