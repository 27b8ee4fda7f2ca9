package appointments_test

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
)

// openAnotherChat makes the customer invite the bot into a second direct
// chat (a returning customer on a new device or after leaving), which
// makes the bot greet them there.
func openAnotherChat(t *testing.T, h *handlertest.Harness, room string) []handlertest.Reply {
	t.Helper()
	ts := h.Clock.Now().UnixMilli()
	ev := func(n, typ, stateKey string, content map[string]any) map[string]any {
		return map[string]any{"event_id": "$" + room[1:5] + n, "room_id": room, "sender": h.Customer.String(),
			"type": typ, "state_key": stateKey, "origin_server_ts": ts, "content": content}
	}
	r, err := h.Session.Inject(context.Background(),
		ev("join", "m.room.member", h.Customer.String(), map[string]any{"membership": "join", "displayname": "Ana"}),
		ev("invite", "m.room.member", h.Bot.String(), map[string]any{"membership": "invite", "is_direct": true}))
	must(t, err)
	logReplies(t, r)
	return r
}

func TestGreetings(t *testing.T) {
	h := newBot(t, appointments.Config{Business: "Barbershop Noord"}).As("@ana:test", "Ana")
	expect(t, h.Open(), "Hi Ana, welcome to Barbershop Noord! I can book you a haircut or a beard trim.")
	expect(t, say(t, h, "hello"), "Hi Ana")
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")

	// With an appointment coming up, it is what they hear about.
	expect(t, say(t, h, "hi"), "Welcome back, Ana. Your next appointment: haircut with Sam on Wed 7 Jan at 10:00.")
	expect(t, openAnotherChat(t, h, "!second:test"), "Welcome back, Ana. Your next appointment: haircut with Sam on Wed 7 Jan at 10:00.")

	// After it, they are offered the same again.
	h.Advance(72 * time.Hour)
	r := say(t, h, "hi")
	q := question(t, r)
	expect(t, r, "Welcome back, Ana. Another haircut with Sam?")
	if got := labels(q); got[0] != "Yes, book a haircut with Sam" || got[1] != "No, something else" {
		t.Fatalf("options: %q", got)
	}
	expect(t, say(t, h, "yes"), "Which day would you like with Sam?")
	expect(t, say(t, h, "stop"), "OK, I stopped there; nothing was booked or changed.")
	expect(t, openAnotherChat(t, h, "!third:test"), "Welcome back, Ana. Another haircut with Sam?")

	r = say(t, h, "hi")
	expect(t, say(t, h, "no"), "What would you like to book?")
	_ = r
}

func TestHelpHoursServicesAndExpiry(t *testing.T) {
	h := newBot(t, appointments.Config{})
	expect(t, say(t, h, "help"), "• book: make an appointment (haircut or a beard trim)", "• cancel: cancel an appointment (up to 2 hours before)", "forget me")
	expect(t, say(t, h, "hours"), "Our opening hours (Europe/Amsterdam time):\nMon: closed\nTue: 09:00–12:30, 13:00–18:00", "Sat: 09:00–12:30, 13:00–18:00\nSun: closed")
	expect(t, say(t, h, "prices"), "Our services:\n• Haircut: 30 min, €25.00\n• Beard trim: 15 min, €15.00")
	expect(t, say(t, h, "what is this"), "Sorry, I didn't get that.", "You can say:")

	say(t, h, "book")
	say(t, h, "haircut")
	h.Advance(31 * time.Minute)
	r := say(t, h, "2")
	if got := handlertest.Bodies(r); len(got) != 1 || got[0] != "You didn't finish booking, so I dropped it. Say \"book\" to start again." {
		t.Fatalf("after the timeout: %q", got)
	}
	// Commands work in the middle of a flow too.
	say(t, h, "book")
	expect(t, say(t, h, "my appointments"), "You have no upcoming appointments.")
	if step, _ := h.State(nil); step != "" {
		t.Fatalf("flow still at %q", step)
	}
}

func TestForgetMeErasesBookings(t *testing.T) {
	h := newBot(t, appointments.Config{})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	say(t, h, "forget me")
	expect(t, say(t, h, "yes"), "I have erased everything")
	var n int
	must(t, h.DB.QueryRow(`SELECT count(*) FROM appointments_bookings`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d bookings left", n)
	}
	// The time is free for others, and the old reminders stay silent.
	bookAt(t, h.As("@bob:test", "Bob"), "haircut", "sam", "wednesday", "10:00")
	if r := h.Advance(24 * time.Hour); len(r) != 0 {
		for _, x := range r {
			if x.Room == h.Session.Room(h.Bot, h.Customer) {
				t.Fatalf("a forgotten customer was reminded: %q", x.Body)
			}
		}
	}
}
