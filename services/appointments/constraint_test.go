package appointments_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestOverlapIsRefusedByTheDatabase: whatever the handler believed, the
// database refuses two overlapping bookings of one staff member, on both
// engines, and the refusal is an ErrConflict (the turn is handled again).
func TestOverlapIsRefusedByTheDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const bot = "@barber:test"
		half := 30 * time.Minute
		ten := local(2026, 1, 7, 10, 0)
		book := func(customer, staff string, start time.Time, d time.Duration) (string, error) {
			return appointments.CommitBooking(ctx, db, bot, customer, "haircut", staff, start, d)
		}
		conflict := func(err error, what string) {
			t.Helper()
			if !errors.Is(err, handlers.ErrConflict) {
				t.Fatalf("%s: got %v, want ErrConflict", what, err)
			}
		}
		first, err := book("@ana:test", "sam", ten, half)
		must(t, err)
		_, err = book("@bob:test", "sam", ten.Add(15*time.Minute), half)
		conflict(err, "overlapping the second half")
		_, err = book("@bob:test", "sam", ten.Add(-5*time.Minute), 10*time.Minute)
		conflict(err, "overlapping the first 5 minutes")
		_, err = book("@bob:test", "sam", ten.Add(29*time.Minute), 5*time.Minute)
		conflict(err, "starting off the 5-minute grid inside it")
		adjacent, err := book("@bob:test", "sam", ten.Add(half), half)
		must(t, err)
		_, err = book("@cy:test", "noor", ten.Add(15*time.Minute), half)
		must(t, err)
		_, err = book("@dee:test", "sam", ten, half)
		conflict(err, "the same slot again")
		if _, err := appointments.CommitBooking(ctx, db, "@other-shop:test", "@ana:test", "haircut", "sam", ten, half); err != nil {
			t.Fatalf("another business's sam is another person: %v", err)
		}

		conflict(appointments.MoveBooking(ctx, db, adjacent, ten.Add(half), "sam", ten.Add(15*time.Minute), half), "moving into a taken slot")
		must(t, appointments.MoveBooking(ctx, db, adjacent, ten.Add(half), "sam", ten.Add(2*time.Hour), half))
		conflict(appointments.MoveBooking(ctx, db, adjacent, ten.Add(half), "sam", ten.Add(3*time.Hour), half), "moving from a time it no longer has")
		must(t, appointments.CancelBooking(ctx, db, first, ten))
		conflict(appointments.CancelBooking(ctx, db, first, ten), "cancelling twice")
		_, err = book("@dee:test", "sam", ten.Add(15*time.Minute), half) // 10:15-10:45 is free now
		must(t, err)

		var bookings, granules int
		must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM appointments_bookings WHERE bot_user_id = $1 AND status = 'booked'`, bot).Scan(&bookings))
		must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM appointments_slots WHERE bot_user_id = $1`, bot).Scan(&granules))
		if bookings != 3 || granules != 18 {
			t.Fatalf("%d bookings with %d granules, want 3 with 18 (refused ones must leave nothing)", bookings, granules)
		}
	})
}

// TestLostRaceAtCommit forces the race the constraint exists for, on both
// engines: Bob checked that the slot was free, then another process booked
// it before Bob's turn committed. Bob's commit fails on the constraint, his
// message is handled again at once, and he is told it was just taken.
func TestLostRaceAtCommit(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			h, b := newBotAndHandler(t, appointments.Config{}, handlertest.Options{URI: storetest.URI(t, d)})
			bob := h.As("@bob:test", "Bob")
			bob.Say("book")
			bob.Say("haircut")
			bob.Say("sam")
			bob.Say("wednesday")
			expect(t, bob.Say("10:00"), "Shall I book it?")
			raced := 0
			b.BeforeBook(func() {
				if raced++; raced == 1 {
					_, err := appointments.CommitBooking(ctx, h.DB, h.Bot.String(), "@ana:test", "haircut", "sam", local(2026, 1, 7, 10, 0), 30*time.Minute)
					must(t, err)
				}
			})
			r := say(t, bob, "yes")
			if raced != 1 {
				t.Fatalf("the free check ran %d times after the race, want 1 (the retry must see the slot taken)", raced)
			}
			expect(t, r, "Sorry, Wed 7 Jan at 10:00 with Sam was just taken.", "Other free times for your haircut on Wed 7 Jan with Sam")
			q := question(t, r)
			if got := labels(q); got[0] != "09:00" || got[3] != "10:30" || got[len(got)-1] != "Another day" {
				t.Fatalf("alternatives: %q", got)
			}
			var attempts int
			must(t, h.DB.QueryRowContext(ctx, `SELECT max(attempts) FROM inbox`).Scan(&attempts))
			// Attempts count the failed tries: the lost race, once.
			if attempts != 1 {
				t.Fatalf("the lost race should have cost exactly one retry, got %d failed attempts, want 1", attempts)
			}
			// The alternative works.
			expect(t, say(t, bob, "10:30"), "Haircut with Sam on Wed 7 Jan at 10:30")
			expect(t, say(t, bob, "yes"), "Booked: haircut with Sam on Wed 7 Jan at 10:30")
		})
	}
}
