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
	})
}
