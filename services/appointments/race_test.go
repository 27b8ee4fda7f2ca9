package appointments_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestRaceForOneSlot has 20 customers, each with their own harness (own
// dispatcher, sender and connection pool: as many bizbots processes) on
// one shared database, confirm the same slot at the same moment. Exactly
// one gets it; every other one is told it was just taken and offered
// other times; the database holds one booking.
func TestRaceForOneSlot(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { raceForOneSlot(t, d) })
	}
}

func raceForOneSlot(t *testing.T, dialect store.Dialect) {
	const customers = 20
	ctx := context.Background()
	uri := storetest.URI(t, dialect)
	hs := make([]*handlertest.Harness, customers)
	for i := range hs {
		hs[i] = newBot(t, appointments.Config{}, handlertest.Options{URI: uri}).
			As(id.UserID(fmt.Sprintf("@c%02d:test", i)), fmt.Sprintf("Customer %d", i))
		hs[i].Say("book")
		hs[i].Say("haircut")
		hs[i].Say("sam")
		hs[i].Say("wednesday")
		expect(t, hs[i].Say("10:00"), "Haircut with Sam on Wed 7 Jan at 10:00 (30 min, €25.00). Shall I book it?")
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	replies := make([][]handlertest.Reply, customers)
	errs := make([]error, customers)
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			replies[i], errs[i] = h.Session.Say(ctx, h.Bot, h.Customer, "yes")
		}()
	}
	close(start)
	wg.Wait()
	var all []handlertest.Reply
	for i := range hs {
		if errs[i] != nil {
			t.Fatalf("customer %d: %v", i, errs[i])
		}
		all = append(all, replies[i]...)
	}
	// A harness may have handled, or sent, another customer's turn (they
	// share the inbox and outbox like processes do): drain everything,
	// then sort the replies by room.
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatal("work still pending after 20 rounds")
		}
		for _, h := range hs {
			r, err := h.Session.Step(ctx)
			must(t, err)
			all = append(all, r...)
		}
		in, err := hs[0].DB.PendingRooms(ctx, store.QueueInbox, 1)
		must(t, err)
		out, err := hs[0].DB.PendingRooms(ctx, store.QueueOutbox, 1)
		must(t, err)
		if len(in) == 0 && len(out) == 0 {
			break
		}
	}
	byRoom := map[id.RoomID][]handlertest.Reply{}
	for _, r := range all {
		byRoom[r.Room] = append(byRoom[r.Room], r)
	}

	won := 0
	for i, h := range hs {
		r := byRoom[h.Session.Room(h.Bot, h.Customer)]
		text := handlertest.Text(r)
		switch {
		case strings.Contains(text, "Booked: haircut with Sam on Wed 7 Jan at 10:00"):
			won++
			if len(r) != 1 {
				t.Errorf("winner %d got %q", i, handlertest.Bodies(r))
			}
		case strings.Contains(text, "Sorry, Wed 7 Jan at 10:00 with Sam was just taken."):
			q := question(t, r)
			got := strings.Join(labels(q), ",")
			if !strings.Contains(got, "10:30") || strings.Contains(got, "10:00") || strings.Contains(got, "09:45") {
				t.Errorf("customer %d: alternatives %s", i, got)
			}
		default:
			t.Errorf("customer %d got neither a booking nor \"just taken\": %q", i, handlertest.Bodies(r))
		}
	}
	if won != 1 {
		t.Fatalf("%d customers got the slot, want exactly 1", won)
	}

	db := hs[0].DB
	var bookings, granules, owners int
	must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM appointments_bookings WHERE status = 'booked'`).Scan(&bookings))
	must(t, db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT booking_id) FROM appointments_slots WHERE staff = 'sam'`).Scan(&granules, &owners))
	if bookings != 1 || granules != 6 || owners != 1 {
		t.Fatalf("database: %d bookings, %d granules of %d bookings; want 1, 6 (30 min), 1", bookings, granules, owners)
	}
	var retried int
	must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE attempts > 1`).Scan(&retried))
	t.Logf("%s: %d of %d confirmations lost the race at commit (unique violation → handled again)", dialect, retried, customers-1)
}
