package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/e2e/harness"
	"github.com/bizbots/bizbots/services/ordering"
)

// TestBusinessFlows runs the demo businesses of the default config end to
// end, with real clients on Dendrite, in parallel on one stack:
//
//   - pizza (ordering): browse the menu, add a pizza, check out for
//     delivery, confirm, get the order number, ask the status;
//   - taxi: book a ride now from a shared location, confirm the fare, get
//     a driver; the driver arrives, the trip starts and ends with a
//     receipt;
//   - support: a question that is no FAQ becomes a ticket in a staff
//     room, where a second user (Sam) answers in the ticket's thread; the
//     customer and Sam talk through the bot; Sam closes the ticket and the
//     customer rates it.
//
// Questions are answered both ways a customer can: by typing (a number or
// words) and by clicking the bot's keycap reaction.
//
// Config changes for the test, written into the generated bizbots.yaml:
// the pizzeria sells the demo catalog but is open around the clock (the
// default hours, 11:00–23:00 Amsterdam, would fail the test at night);
// the taxi runs on the shortest schedule it accepts (a 1-minute ETA, no
// boarding wait, 200 km/h: about 2 minutes from booking to receipt); the
// support desk gets a staff room, Sam as its staff and always-open hours.
func TestBusinessFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel() // its own stack; see the package comment
	py := harness.PythonWithNio(t)
	pizza := pizzaConfig(t)
	taxi := jsonConfig(t, map[string]any{
		"eta_min":           "1m", // the minimum (services/taxi validates eta_min >= 1m)
		"eta_max":           "1m",
		"boarding_time":     "0s",
		"countdown_minutes": []int{}, // a countdown needs an ETA of 2m or more
		"average_speed_kmh": 200,     // the shortest trip is 1 minute
	})
	var staffRoom string
	start := time.Now()
	// The hooks return errors rather than failing the test: StartStack
	// stops what it started when they do.
	s := harness.StartStackT(t, harness.StackOptions{
		AfterInit: func(ctx context.Context, s *harness.Stack) error {
			if err := harness.SetBotConfig(s.ConfigPath, "pizza", pizza); err != nil {
				return err
			}
			return harness.SetBotConfig(s.ConfigPath, "taxi", taxi)
		},
		BeforeServe: func(ctx context.Context, s *harness.Stack) error {
			// The staff room exists before bizbots starts, so its id is in
			// the config from the first start; the bot is invited later
			// (by Sam's client) and joins it as its staff room.
			sam, err := s.Dendrite.RegisterUser(ctx, "sam", "sam-password", false)
			if err != nil {
				return err
			}
			if err := s.Dendrite.SetDisplayName(ctx, sam, "Sam"); err != nil {
				return err
			}
			staffRoom, err = s.Dendrite.CreateRoom(ctx, sam, map[string]any{
				"name": "Support desk (staff)", "preset": "private_chat",
			})
			if err != nil {
				return err
			}
			support, err := json.Marshal(map[string]any{
				"business":   "Example Shop",
				"staff_room": staffRoom,
				// No staff list: Sam counts as staff by power level (the
				// room's creator has 100), read from Dendrite.
				"hours": map[string]string{}, // always open
			})
			if err != nil {
				return err
			}
			return harness.SetBotConfig(s.ConfigPath, "support", string(support))
		},
	})
	t.Logf("stack up in %s", time.Since(start).Round(time.Millisecond))

	t.Run("pizza", func(t *testing.T) {
		t.Parallel()
		pizzaOrder(t, py, s)
	})
	t.Run("taxi", func(t *testing.T) {
		t.Parallel()
		taxiRide(t, py, s)
	})
	t.Run("support", func(t *testing.T) {
		t.Parallel()
		supportHandoff(t, py, s, staffRoom)
	})
}

// jsonConfig renders a bot's config block as one line of JSON (valid YAML).
func jsonConfig(t testing.TB, v any) string {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// pizzaConfig is the ordering bot's config block: the demo pizzeria's
// catalog (ordering.DefaultCatalog, what the bot sells without a config
// block) open every day, all day. The service has no way to change only
// the hours of the demo catalog: a catalog block without items is refused.
func pizzaConfig(t testing.TB) string {
	t.Helper()
	cat := ordering.DefaultCatalog()
	cat.Hours = map[string]string{"daily": "00:00-24:00"}
	y, err := yaml.Marshal(map[string]any{"catalog": cat})
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

// pizzaOrder: a new customer orders a large margherita for delivery.
func pizzaOrder(t *testing.T, py string, s *harness.Stack) {
	start := time.Now()
	registerUser(t, s, "ana", "Ana")
	d := startSession(t, py, s, "ana", "pizza", "", 3*time.Minute)
	defer d.checkNoApology()
	d.expect(flowTimeout, "Hi Ana, welcome to Pizza Place!")
	d.say("hours")
	d.expect(flowTimeout, "every day 00:00–24:00. We're open now.")

	d.say("menu")
	q := d.expect(flowTimeout, "Pick a category", "1. Pizzas", "2. Drinks")
	d.react(q, 1) // Pizzas, by reaction
	d.expect(flowTimeout, "Pizzas:", "sold out right now: Calzone", "1. Margherita")
	d.say("1") // Margherita, typed
	q = d.expect(flowTimeout, "Margherita", "Which size?", "3. Large 35 cm · €12.50")
	d.react(q, 3) // Large, by reaction
	d.expect(flowTimeout, "Added 1 × Margherita (Large 35 cm) (€12.50)")

	d.say("checkout")
	d.expect(flowTimeout, "1 item for €12.50. Delivery or pickup?", "1. Delivery (+€2.50)")
	d.say("1") // delivery, typed
	d.expect(flowTimeout, "What's the delivery address?")
	d.say("1 Main St, 1011 AB Amsterdam")
	d.expect(flowTimeout, "Any note for us?")
	d.say("ring twice")
	q = d.expect(flowTimeout, "Your order:", "Total: €15.00", "Delivery to 1 Main St, 1011 AB Amsterdam", "Note: ring twice", "Place this order?")
	d.react(q, 1) // "Yes, place the order", by reaction
	d.expect(flowTimeout, "Thank you! Your order number is 1001.")

	d.say("status")
	d.expect(flowTimeout, "Order 1001", "received")
	t.Logf("pizza order 1001 placed and tracked in %s", time.Since(start).Round(time.Millisecond))
}

var (
	bookedRe = regexp.MustCompile(`Booked \(ride (TX-[A-Z0-9]+)\), quoted fare (€[0-9.]+)\.`)
	quoteRe  = regexp.MustCompile(`From Dam Square to Central Station, now\.\n.*: (€[0-9.]+)\.`)
)

// taxiRide: a new customer books a ride now, with a shared location as the
// pickup, and rides to the receipt.
func taxiRide(t *testing.T, py string, s *harness.Stack) {
	start := time.Now()
	registerUser(t, s, "bob", "Bob")
	d := startSession(t, py, s, "bob", "taxi", "", 5*time.Minute)
	defer d.checkNoApology()
	d.expect(flowTimeout, "Hi Bob, welcome to City Taxi!") // the bot's display name

	d.say("book")
	d.expect(flowTimeout, "Where should we pick you up?")
	d.location("geo:52.3731,4.8926", "Dam Square")
	d.expect(flowTimeout, "Where to?")
	d.say("Central Station")
	q := d.expect(flowTimeout, "When do you need the taxi?", "1. Now")
	d.react(q, 1) // now, by reaction
	quote := d.expect(flowTimeout, "From Dam Square to Central Station, now.", "Book it?")
	m := quoteRe.FindStringSubmatch(quote.Body)
	if m == nil {
		t.Fatalf("no fare in the quote %q", quote.Body)
	}
	fare := m[1]
	d.say("yes") // typed
	booked := d.expect(flowTimeout, "Booked (ride TX-", "Your driver is")
	m = bookedRe.FindStringSubmatch(booked.Body)
	if m == nil {
		t.Fatalf("booking confirmation %q: no ride ref and fare", booked.Body)
	}
	ref := m[1]
	if m[2] != fare {
		t.Errorf("booked at %s, quoted %s", m[2], fare)
	}
	bookedAt := time.Now()
	t.Logf("taxi: ride %s booked for %s in %s; the driver comes in 1 minute", ref, fare, time.Since(start).Round(time.Millisecond))

	// eta_min 1m, then no boarding wait, then a 1-minute trip; timers fire
	// within a poll interval (1s) of being due.
	d.expect(90*time.Second, "Your driver has arrived at Dam Square")
	arrivedAfter := time.Since(bookedAt)
	d.expect(30*time.Second, "Trip started: on your way to Central Station")
	receipt := d.expect(90*time.Second, "Trip done: you've arrived at Central Station.", "Receipt "+ref, "Fare: "+fare)
	t.Logf("taxi: driver arrived %s after booking, receipt %s after booking:\n%s",
		arrivedAfter.Round(100*time.Millisecond), time.Since(bookedAt).Round(100*time.Millisecond), receipt.Body)

	d.say("status")
	d.expect(flowTimeout, "You have no ride booked.")
}

// supportHandoff: a customer's question that is no FAQ becomes a ticket;
// Sam answers it from the staff room, in the ticket's thread.
func supportHandoff(t *testing.T, py string, s *harness.Stack, staffRoom string) {
	start := time.Now()
	// Sam's client uses the staff room and invites the bot, which joins
	// and posts the staff commands.
	staff := startSession(t, py, s, "sam", "support", staffRoom, 3*time.Minute)
	defer staff.checkNoApology()
	staff.expect(flowTimeout, "New tickets appear in this room", "!close")

	registerUser(t, s, "cleo", "Cleo")
	d := startSession(t, py, s, "cleo", "support", "", 3*time.Minute)
	defer d.checkNoApology()
	d.expect(flowTimeout, "Hi Cleo, welcome to Example Shop support!")

	const question = "My blender makes a strange grinding noise since yesterday"
	d.say(question)
	d.expect(flowTimeout, "I've opened ticket 1 for you, Cleo.", "A person will answer here.")

	post := staff.expect(flowTimeout, "New ticket 1 from Cleo (@cleo:localhost)", "> "+question)
	if post.Thread != "" {
		t.Errorf("the ticket post is itself in a thread (%s)", post.Thread)
	}
	const answer = "Hi Cleo, sorry about that. Is it the X200 model?"
	staff.sayInThread(post.EventID, answer)
	d.expect(flowTimeout, "Sam (support): "+answer)

	const followUp = "Yes, the X200, bought in March."
	d.say(followUp)
	relay := staff.expect(flowTimeout, "Cleo: "+followUp)
	if relay.Thread != post.EventID {
		t.Errorf("the customer's message reached the staff room outside the ticket's thread: thread %q, want %q", relay.Thread, post.EventID)
	}

	staff.sayInThread(post.EventID, "!close")
	d.expect(flowTimeout, "Sam (support) closed ticket 1.")
	q := d.expect(flowTimeout, "How did we do on ticket 1?", "5. excellent")
	d.react(q, 5) // excellent, by reaction
	d.expect(flowTimeout, "Thank you for your rating!")
	rated := staff.expect(flowTimeout, "Cleo rated ticket 1: 5/5")
	if rated.Thread != post.EventID {
		t.Errorf("the rating was posted outside the ticket's thread: thread %q, want %q", rated.Thread, post.EventID)
	}

	// Everything Sam saw from the bot about the ticket, for the log.
	var b strings.Builder
	for _, m := range staff.botMessages() {
		fmt.Fprintf(&b, "  [thread %t] %q\n", m.Thread != "", m.Body)
	}
	t.Logf("support: ticket 1 opened, answered, closed and rated in %s; the staff room:\n%s", time.Since(start).Round(time.Millisecond), b.String())
}
