package appointments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The business cancels an appointment from the console's board: the time
// is free again and the customer is told once.
func TestBoardCancelsAnAppointmentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const bot, customer, room = id.UserID("@barber:test"), "@ana:test", "!ana:test"
		b, err := appointments.New(appointments.Default(), db)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetBotMembership(ctx, db, bot.String(), room, "join", true, customer); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, room, customer, "join", "Ana"); err != nil {
			t.Fatal(err)
		}
		start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
		ref, err := appointments.CommitBooking(ctx, db, bot.String(), customer, "haircut", "sam", start, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, start.Location())
		list, err := b.BoardOrders(ctx, bot, day, day.AddDate(0, 0, 1))
		if err != nil || len(list) != 1 || list[0].Status != "booked" || len(list[0].Moves) != 1 {
			t.Fatalf("board: %+v %v", list, err)
		}
		disp := dispatcher.New(db, []*dispatcher.Bot{{UserID: bot, Handler: b}}, "@bizbots:test", nil, dispatcher.Options{}, zerolog.Nop())
		cancel := func() (int, error) {
			var n int
			err := db.Tx(ctx, func(tx store.Tx) error {
				var err error
				n, err = disp.Act(ctx, tx, bot, "@owner:test", func(_ handlers.Handler, c *handlers.Conversation) error {
					return b.MoveOrder(ctx, c, ref, "cancelled")
				})
				return err
			})
			return n, err
		}
		if n, err := cancel(); err != nil || n != 1 {
			t.Fatalf("cancel: %d messages, %v", n, err)
		}
		var body string
		if err := db.QueryRowContext(ctx, `SELECT content FROM outbox WHERE room_id = $1`, room).Scan(&body); err != nil ||
			!strings.Contains(body, "had to cancel your haircut with Sam") {
			t.Fatalf("customer told %q (%v)", body, err)
		}
		if _, err := cancel(); err == nil || !strings.Contains(err.Error(), "already cancelled") {
			t.Fatalf("a second cancel: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE room_id = $1`, room).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d messages to the customer", n)
		}
		list, _ = b.BoardOrders(ctx, bot, day, day.AddDate(0, 0, 1))
		if len(list) != 1 || list[0].Status != "cancelled" || len(list[0].Moves) != 0 {
			t.Fatalf("board after: %+v", list)
		}

		// A customer who speaks Dutch is told in Dutch.
		const nlCustomer, nlRoom = "@noor:test", "!noor:test"
		if err := store.SetBotMembership(ctx, db, bot.String(), nlRoom, "join", true, nlCustomer); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, nlRoom, nlCustomer, "join", "Noor"); err != nil {
			t.Fatal(err)
		}
		nl := "nl"
		if err := db.Tx(ctx, func(tx store.Tx) error {
			if err := store.TouchCustomer(ctx, tx, bot.String(), nlCustomer, "Noor", time.Now().UnixMilli()); err != nil {
				return err
			}
			return store.UpdateCustomerFacts(ctx, tx, bot.String(), nlCustomer, map[string]*string{"language": &nl}, nil)
		}); err != nil {
			t.Fatal(err)
		}
		if ref, err = appointments.CommitBooking(ctx, db, bot.String(), nlCustomer, "haircut", "sam", start.Add(time.Hour), 30*time.Minute); err != nil {
			t.Fatal(err)
		}
		if n, err := cancel(); err != nil || n != 1 {
			t.Fatalf("cancel the Dutch customer's: %d messages, %v", n, err)
		}
		if err := db.QueryRowContext(ctx, `SELECT content FROM outbox WHERE room_id = $1`, nlRoom).Scan(&body); err != nil ||
			!strings.Contains(body, "moest je haircut bij Sam op") {
			t.Fatalf("Dutch customer told %q (%v)", body, err)
		}
	})
}

// Owners change the opening hours and the greeting in the console; the
// running bot takes them, and a wrong value changes nothing.
func TestSettingsChangeHoursAndGreeting(t *testing.T) {
	b, err := appointments.New(appointments.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	value := func(key string) string {
		for _, s := range b.Settings() {
			if s.Key == key {
				return s.Value
			}
		}
		t.Fatalf("no setting %s", key)
		return ""
	}
	if v := value("hours.mon"); v != "" {
		t.Fatalf("monday: %q (the barbershop is closed on mondays)", v)
	}
	err = b.ApplySettings(map[string]string{"hours.mon": "9 to 5", "text.en.greet-new": "Hi %s!"})
	fe := backoffice.AsFieldErrors(err)
	if len(fe) != 2 {
		t.Fatalf("errors: %v", err)
	}
	for _, f := range fe {
		if f.Key == "hours.mon" && !strings.Contains(f.Msg, "must look like 09:00-18:00") {
			t.Errorf("hours: %s", f.Msg)
		}
	}
	if err := b.ApplySettings(map[string]string{"hours.mon": "10:00-16:00", "text.en.greet-new": "Hello %s, this is %s; we do %s."}); err != nil {
		t.Fatal(err)
	}
	if v := value("hours.mon"); v != "10:00-16:00" {
		t.Fatalf("monday now: %q", v)
	}
	if v := value("text.en.greet-new"); v != "Hello %s, this is %s; we do %s." {
		t.Fatalf("greeting now: %q", v)
	}
	if v := value("hours.tue"); v != "09:00-18:00" {
		t.Fatalf("tuesday changed: %q", v)
	}
}
