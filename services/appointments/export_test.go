package appointments

import (
	"context"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

// BeforeBook sets a function to run between the check that a slot is free
// and the commit that claims it: where a competing process may commit.
func (b *Bot) BeforeBook(f func()) { b.beforeBook = f }

// CommitBooking commits a booking the way the bot does, in its own
// transaction: another process winning a race.
func CommitBooking(ctx context.Context, db *store.DB, bot, customer, svc, staff string, start time.Time, d time.Duration) (string, error) {
	bk := booking{ID: newRef(), Bot: bot, Customer: customer, Service: svc, Staff: staff, Start: start, End: start.Add(d),
		Price: 2500, Currency: "EUR", Status: "booked"}
	return bk.ID, db.Tx(ctx, func(tx store.Tx) error { return insertBooking(bk, time.Now())(ctx, tx) })
}

// MoveBooking moves a booking the way the bot does.
func MoveBooking(ctx context.Context, db *store.DB, ref string, oldStart time.Time, staff string, start time.Time, d time.Duration) error {
	old := booking{ID: ref, Start: oldStart}
	moved := booking{ID: ref, Staff: staff, Start: start, End: start.Add(d)}
	return db.Tx(ctx, func(tx store.Tx) error {
		var bot string
		if err := tx.QueryRowContext(ctx, `SELECT bot_user_id FROM appointments_bookings WHERE id = $1`, ref).Scan(&bot); err != nil {
			return err
		}
		old.Bot, moved.Bot = bot, bot
		return moveBooking(old, moved, time.Now())(ctx, tx)
	})
}

// CancelBooking cancels a booking the way the bot does.
func CancelBooking(ctx context.Context, db *store.DB, ref string, start time.Time) error {
	return db.Tx(ctx, func(tx store.Tx) error { return cancelBooking(booking{ID: ref, Start: start}, time.Now())(ctx, tx) })
}

// Minutes is a config duration.
func Minutes(n int) config.Duration { return config.Duration(time.Duration(n) * time.Minute) }
