package appointments_test

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
)

func TestCancel(t *testing.T) {
	h := newBot(t, appointments.Config{})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	q := question(t, say(t, h, "cancel"))
	expect(t, []handlertest.Reply{q}, "Cancel your haircut with Sam on Wed 7 Jan at 10:00?")
	expect(t, say(t, h, "no"), "OK, I kept your appointment.")
	say(t, h, "cancel")
	r := say(t, h, "yes")
	expect(t, r, "Cancelled: your haircut with Sam on Wed 7 Jan at 10:00.")
	if got := h.History("cancellation"); len(got) != 1 {
		t.Fatalf("history: %+v", got)
	}
	expect(t, say(t, h, "my appointments"), "You have no upcoming appointments.")
	expect(t, say(t, h, "cancel"), "You have no upcoming appointments.")

	// The time is free again: Bob books it.
	bob := h.As("@bob:test", "Bob")
	bookAt(t, bob, "haircut", "sam", "wednesday", "10:00")

	// Alice's reminders were set for the cancelled booking: they fire and
	// say nothing.
	if r := h.Advance(48 * time.Hour); len(r) != 0 {
		t.Fatalf("reminders of a cancelled appointment were sent: %q", handlertest.Bodies(r))
	}
}

func TestCancelAfterCutoff(t *testing.T) {
	h := newBot(t, appointments.Config{Contact: "020 123 4567"})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	// Wed 08:30 in Amsterdam: 90 minutes before, the cutoff is 2 hours.
	h.Advance(local(2026, 1, 7, 8, 30).Sub(h.Clock.Now()))
	r := say(t, h, "cancel")
	expect(t, r, "Sorry, it's too late to cancel your haircut online: appointments can be cancelled or moved up to 2 hours before they start. Please contact us: 020 123 4567.")
	expect(t, say(t, h, "move"), "too late to change your haircut online")
	expect(t, say(t, h, "my appointments"), "Wed 7 Jan at 10:00: haircut with Sam")

	// A cancel confirmed after the cutoff passed while the question was open.
	h2 := newBot(t, appointments.Config{})
	bookAt(t, h2, "haircut", "sam", "wednesday", "10:00")
	h2.Advance(local(2026, 1, 7, 7, 45).Sub(h2.Clock.Now()))
	expect(t, say(t, h2, "cancel"), "Cancel your haircut")
	h2.Advance(20 * time.Minute)
	expect(t, say(t, h2, "yes"), "too late to cancel")
	expect(t, say(t, h2, "my appointments"), "Wed 7 Jan at 10:00: haircut with Sam")
}

func TestCancelPicksAmongSeveral(t *testing.T) {
	h := newBot(t, appointments.Config{})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	bookAt(t, h, "beard", "noor", "friday", "16:00")
	expect(t, say(t, h, "my appointments"), "Your appointments:\n• Wed 7 Jan at 10:00: haircut with Sam", "• Fri 9 Jan at 16:00: beard trim with Noor")
	q := question(t, say(t, h, "cancel"))
	if got := labels(q); len(got) != 2 || got[1] != "Fri 9 Jan at 16:00: beard trim with Noor" {
		t.Fatalf("options: %q", got)
	}
	confirm := question(t, h.Choose(q, 2))
	expect(t, []handlertest.Reply{confirm}, "Cancel your beard trim with Noor on Fri 9 Jan at 16:00?")
	expect(t, say(t, h, "1"), "Cancelled: your beard trim")
	expect(t, say(t, h, "my appointments"), "Your appointment:\n• Wed 7 Jan at 10:00: haircut with Sam")
	// Clicking "yes" on the old question again changes nothing: the
	// framework refuses an answer to a question that has moved on.
	expect(t, h.Choose(confirm, 1), "That question has moved on, so I did nothing with your answer.")
	if got := h.History("cancellation"); len(got) != 1 {
		t.Fatalf("cancelled twice: %+v", got)
	}
}

func TestReschedule(t *testing.T) {
	h := newBot(t, appointments.Config{})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	bob := h.As("@bob:test", "Bob")
	bookAt(t, bob, "haircut", "sam", "wednesday", "11:00")

	expect(t, say(t, h, "move"), "Let's find a new time for your haircut (now Wed 7 Jan at 10:00 with Sam).", "Who would you like for your haircut?")
	say(t, h, "sam")
	say(t, h, "wednesday")
	// Into Bob's slot, and overlapping it: refused, with alternatives.
	r := say(t, h, "11:00")
	expect(t, r, "Sorry, Wed 7 Jan at 11:00 is already taken with Sam.", "Other free times")
	for _, l := range labels(question(t, r)) {
		if l == "10:45" || l == "11:00" || l == "11:15" {
			t.Fatalf("offered a taken time: %q", labels(question(t, r)))
		}
	}
	expect(t, say(t, h, "11:15"), "Sorry, Wed 7 Jan at 11:15 is already taken with Sam.")
	// Her own current time does not block moving by 15 minutes.
	expect(t, say(t, h, "10:15"), "Move your haircut from Wed 7 Jan at 10:00 to Wed 7 Jan at 10:15 with Sam?")
	expect(t, say(t, h, "another time"), "Free times for your haircut on Wed 7 Jan with Sam")
	say(t, h, "thursday")
	expect(t, say(t, h, "14:00"), "Move your haircut from Wed 7 Jan at 10:00 to Thu 8 Jan at 14:00 with Sam?")
	expect(t, say(t, h, "yes"), "Moved: your haircut is now with Sam on Thu 8 Jan at 14:00 (was Wed 7 Jan at 10:00). I'll remind you 24 hours and 2 hours before.")
	if got := h.History("reschedule"); len(got) != 1 {
		t.Fatalf("history: %+v", got)
	}
	expect(t, say(t, h, "my appointments"), "Your appointment:\n• Thu 8 Jan at 14:00: haircut with Sam")
	// The old time is free: Carol gets Wed 10:00.
	bookAt(t, h.As("@carol:test", "Carol"), "haircut", "sam", "wednesday", "10:00")

	// Reminders: Wed 10:00's are dropped, Thu 14:00's arrive (Thu 13:00 UTC).
	r = h.Advance(local(2026, 1, 7, 13, 59).Sub(h.Clock.Now()))
	if len(r) != 0 {
		t.Fatalf("a reminder for the old time was sent: %q", handlertest.Bodies(r))
	}
	expect(t, h.Advance(time.Minute), "⏰ Reminder: your haircut with Sam is tomorrow at 14:00")
}

func TestRescheduleLosesRaceAtCommit(t *testing.T) {
	ctx := context.Background()
	h, b := newBotAndHandler(t, appointments.Config{})
	bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
	say(t, h, "move")
	say(t, h, "sam")
	say(t, h, "thursday")
	expect(t, say(t, h, "14:00"), "Move your haircut from Wed 7 Jan at 10:00 to Thu 8 Jan at 14:00 with Sam?")
	raced := 0
	b.BeforeBook(func() {
		if raced++; raced == 1 {
			_, err := appointments.CommitBooking(ctx, h.DB, h.Bot.String(), "@bob:test", "haircut", "sam", local(2026, 1, 8, 14, 15), 30*time.Minute)
			must(t, err)
		}
	})
	r := say(t, h, "yes")
	expect(t, r, "Sorry, Thu 8 Jan at 14:00 with Sam was just taken.", "Other free times for your haircut on Thu 8 Jan with Sam")
	reject(t, r, "Moved")
	expect(t, say(t, h, "my appointments"), "Wed 7 Jan at 10:00: haircut with Sam")
}

func TestAnyoneGetsWhoeverIsFree(t *testing.T) {
	h := newBot(t, appointments.Config{})
	bookAt(t, h, "haircut", "anyone", "wednesday", "10:00")
	bob := h.As("@bob:test", "Bob")
	r := bookAt(t, bob, "haircut", "anyone", "wednesday", "10:00")
	expect(t, r, "Booked: haircut with Noor on Wed 7 Jan at 10:00")
	// Both barbers are busy at 10:00 and 10:15 now.
	carol := h.As("@carol:test", "Carol")
	say(t, carol, "book")
	say(t, carol, "haircut")
	say(t, carol, "anyone")
	say(t, carol, "wednesday")
	expect(t, say(t, carol, "10:15"), "Sorry, Wed 7 Jan at 10:15 is already taken.")
}

func TestStaffOnlyDoSomeServicesAndDays(t *testing.T) {
	h := newBot(t, appointments.Config{Staff: []appointments.StaffConfig{
		{ID: "sam", Name: "Sam", Days: []string{"tue", "wed"}},
		{ID: "kim", Name: "Kim", Services: []string{"beard"}},
	}})
	// Only Sam does haircuts: no staff question.
	say(t, h, "book")
	q := question(t, say(t, h, "haircut"))
	expect(t, []handlertest.Reply{q}, "Which day would you like with Sam?")
	if got := labels(q); got[0] != "Tomorrow, Tue 6 Jan" || got[2] != "Tue 13 Jan" {
		t.Fatalf("Sam's days: %q", got)
	}
	expect(t, say(t, h, "friday"), "Sorry, Sam doesn't work on Fridays.")
}

func TestStaffRoomHearsOfChanges(t *testing.T) {
	h := newBot(t, appointments.Config{StaffRoom: "!staff:test"})
	say(t, h, "book")
	say(t, h, "haircut")
	say(t, h, "sam")
	say(t, h, "wednesday")
	say(t, h, "10:00")
	r := say(t, h, "yes")
	var staff []string
	for _, x := range r {
		if x.Room == "!staff:test" {
			staff = append(staff, x.Body)
		}
	}
	if len(staff) != 1 || !contains(staff[0], "📅 New booking ") || !contains(staff[0], "haircut with Sam on Wed 7 Jan at 10:00 for Alice (@alice:test)") {
		t.Fatalf("staff room: %q", staff)
	}
}
