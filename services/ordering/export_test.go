package ordering

import (
	"context"
	"database/sql"
	"time"

	"maunium.net/go/mautrix/id"
)

// SetNumberHook lets a test run code between picking an order number and
// committing the order (to lose the race on purpose).
func SetNumberHook(b *Bot, f func(ctx context.Context, n int64)) { b.numberHook = f }

// SetPictureTimeout shortens how long loading one menu photo may take.
func SetPictureTimeout(b *Bot, d time.Duration) { b.pics.timeout = d }

// InsertOrder and SetStatus expose the writes to storage tests.
func InsertOrder(ctx context.Context, tx *sql.Tx, bot id.UserID, o *Order) error {
	return insertOrder(ctx, tx, bot, o)
}

func SetStatus(ctx context.Context, tx *sql.Tx, bot id.UserID, n int64, from, to Status, actor string, at time.Time) error {
	return setStatus(ctx, tx, bot, n, from, to, actor, at)
}

// Orders exposes the order queries.
func Orders(b *Bot) interface {
	Get(ctx context.Context, bot id.UserID, number int64) (*Order, error)
	ByCustomer(ctx context.Context, bot, customer id.UserID, limit int) ([]*Order, error)
} {
	return b.orders
}
