package appointments_test

import (
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
)

func TestBookListAndRemind(t *testing.T) {
	h := newBot(t, appointments.Config{Business: "Sam's Barbershop"})
	r := h.Open()
	logReplies(t, r)
	expect(t, r, "Hi Alice, welcome to Sam's Barbershop! I can book you a haircut or a beard trim.")

	q := question(t, say(t, h, "book"))
	if got := labels(q); len(got) != 2 || got[0] != "Haircut (30 min, €25.00)" || got[1] != "Beard trim (15 min, €15.00)" {
		t.Fatalf("services: %q", got)
	}
	q = question(t, say(t, h, "haircut"))
	if got := labels(q); len(got) != 3 || got[0] != "Anyone" || got[1] != "Sam" {
		t.Fatalf("staff: %q", got)
	}
	q = question(t, h.Choose(q, 2)) // Sam, by reaction
	logReplies(t, []handlertest.Reply{q})
	if got := labels(q); got[0] != "Tomorrow, Tue 6 Jan" || got[1] != "Wed 7 Jan" || got[len(got)-1] != "Later dates" {
		t.Fatalf("days: %q", got)
	}
	q = question(t, say(t, h, "wednesday"))
	if got := labels(q); got[0] != "09:00" || got[7] != "10:45" || got[8] != "Later times" || got[9] != "Another day" {
		t.Fatalf("slots: %q", got)
	}
	q = question(t, say(t, h, "10:00"))
	expect(t, []handlertest.Reply{q}, "Haircut with Sam on Wed 7 Jan at 10:00 (30 min, €25.00). Shall I book it?")
	r = say(t, h, "1")
	expect(t, r, "Booked: haircut with Sam on Wed 7 Jan at 10:00 (ref ", "costs €25.00", "I'll remind you 24 hours and 2 hours before.")

	if got := h.History("booking"); len(got) != 1 || got[0].Summary != "haircut with Sam on Wed 7 Jan at 10:00" {
		t.Fatalf("history: %+v", got)
	}
	expect(t, say(t, h, "my appointments"), "Your appointment:\n• Wed 7 Jan at 10:00: haircut with Sam (€25.00, ref ")

	// Wed 10:00 in Amsterdam is 09:00 UTC; now is Mon 12:00 UTC.
	r = h.Advance(21*time.Hour - time.Minute)
	if len(r) != 0 {
		t.Fatalf("early reminder: %q", handlertest.Bodies(r))
	}
	r = h.Advance(time.Minute)
	logReplies(t, r)
	expect(t, r, "⏰ Reminder: your haircut with Sam is tomorrow at 10:00", `say "cancel"`)
	r = h.Advance(22 * time.Hour)
	logReplies(t, r)
	expect(t, r, "⏰ Reminder: your haircut with Sam is today at 10:00", "please let us know")
}

func TestBadInputs(t *testing.T) {
	h := newBot(t, appointments.Config{})
	// Unknown service, typed with the command and at the question.
	r := say(t, h, "book a massage")
	expect(t, r, `Sorry, we don't offer "massage".`, "What would you like to book?")
	expect(t, say(t, h, "massage"), `Sorry, we don't offer "massage". Please pick a number from 1 to 2.`)
	expect(t, say(t, h, "7"), `Sorry, we don't offer "7".`)
	expect(t, say(t, h, "beard"), "Who would you like for your beard trim?")
	expect(t, say(t, h, "noor"), "Which day would you like with Noor?")

	// Days: closed, past, beyond the 30-day horizon, nonsense.
	expect(t, say(t, h, "monday"), "Sorry, we're closed on Mondays. We're open Tue, Wed, Thu, Fri, Sat.")
	expect(t, say(t, h, "today"), "Sorry, we're closed on Mondays.")
	expect(t, say(t, h, "2026-01-02"), "Fri 2 Jan has already passed. Please pick today or a later day.")
	expect(t, say(t, h, "5 feb"), "Sorry, I can only book up to 30 days ahead, until Wed 4 Feb.")
	expect(t, say(t, h, "2026-03-01"), "Sorry, I can only book up to 30 days ahead, until Wed 4 Feb.")
	expect(t, say(t, h, "whenever"), "I didn't get that day.")
	expect(t, say(t, h, "4 feb"), "Free times for your beard trim on Wed 4 Feb with Noor.")

	// Times: outside opening hours, in the lunch break, running past
	// closing, off the 15-minute grid, nonsense.
	expect(t, say(t, h, "08:00"), "Sorry, a beard trim at 08:00 doesn't fit our opening hours on Wed 4 Feb: 09:00–12:30, 13:00–18:00 (a beard trim takes 15 min).")
	expect(t, say(t, h, "12:30"), "doesn't fit our opening hours")
	expect(t, say(t, h, "12:20"), "doesn't fit our opening hours")
	expect(t, say(t, h, "17:50"), "doesn't fit our opening hours")
	expect(t, say(t, h, "19:00"), "doesn't fit our opening hours")
	expect(t, say(t, h, "10:05"), "Appointments start every 15 min.")
	expect(t, say(t, h, "25:00"), "Please pick a number from the list, or type a time like 14:15.")
	// The last slot before closing and before lunch are fine.
	expect(t, say(t, h, "5:45pm"), "Beard trim with Noor on Wed 4 Feb at 17:45 (15 min, €15.00). Shall I book it?")
	expect(t, say(t, h, "maybe"), "Please answer with a number from the list (1 for yes).")
	expect(t, say(t, h, "no"), "OK, nothing booked.")
	if step, _ := h.State(nil); step != "" {
		t.Fatalf("flow still at %q", step)
	}
	// An answer to a closed question.
	expect(t, say(t, h, "2"), "Sorry, I didn't get that.", "You can say:")
}

func TestSlotInThePast(t *testing.T) {
	// Tuesday 6 Jan, 12:50 in Amsterdam: lunch until 13:00.
	h := newBot(t, appointments.Config{}, handlertest.Options{Start: monday.Add(24*time.Hour - 10*time.Minute)})
	say(t, h, "book")
	say(t, h, "haircut")
	say(t, h, "anyone")
	q := question(t, say(t, h, "today"))
	if got := labels(q); got[0] != "13:00" {
		t.Fatalf("today's first free time: %q", got)
	}
	r := say(t, h, "10:00")
	expect(t, r, "Sorry, Tue 6 Jan at 10:00 has already passed.", "Free times for your haircut on Tue 6 Jan")
	if got := labels(question(t, r)); got[0] != "13:00" {
		t.Fatalf("offered: %q", got)
	}
	expect(t, say(t, h, "13:00"), "Haircut on Tue 6 Jan at 13:00 (30 min, €25.00). Shall I book it?")
	h.Advance(15 * time.Minute) // the customer hesitates past the start
	r = say(t, h, "yes")
	expect(t, r, "Sorry, Tue 6 Jan at 13:00 has already passed.", "Free times for your haircut on Tue 6 Jan")
	reject(t, r, "Booked")
	if got := labels(question(t, r)); got[0] != "13:15" {
		t.Fatalf("offered: %q", got)
	}
	say(t, h, "13:15")
	expect(t, say(t, h, "yes"), "Booked: haircut with Sam on Tue 6 Jan at 13:15")
}

func TestPagingDaysAndTimes(t *testing.T) {
	h := newBot(t, appointments.Config{})
	say(t, h, "book")
	say(t, h, "beard")
	q := question(t, say(t, h, "sam"))
	q = question(t, say(t, h, "later dates"))
	if got := labels(q); got[0] != "Fri 16 Jan" || got[6] != "Sat 24 Jan" {
		t.Fatalf("later dates: %q", got)
	}
	q = question(t, h.Choose(q, 1))
	q = question(t, say(t, h, "later"))
	if got := labels(q); got[0] != "11:00" || got[8] != "Later times" {
		t.Fatalf("later times: %q", got)
	}
	q = question(t, say(t, h, "another day"))
	expect(t, []handlertest.Reply{q}, "Which day would you like with Sam?")
	expect(t, h.Choose(q, 2), "Free times for your beard trim on Wed 7 Jan with Sam")
}
