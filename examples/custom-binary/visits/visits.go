// Package visits is a third-party bizbots service: it greets a customer
// with how often they came by, counted in a table of its own. The table
// comes with the service (store.RegisterSchema), so bizbots itself needs
// no change: `migrate` and `serve` create it.
package visits

import (
	"context"
	"database/sql"
	"embed"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schema embed.FS

func init() {
	store.RegisterSchema("shop-visits", schema, "schema")
	services.Register("shop-visits", func(env services.Env) (handlers.Handler, error) {
		return &counter{db: env.DB}, nil
	})
}

type counter struct{ db *store.DB }

func (v *counter) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var n int
	err := v.db.QueryRowContext(ctx, `SELECT count FROM shop_visits WHERE bot = $1 AND customer = $2`,
		c.Bot.String(), c.Customer.ID.String()).Scan(&n)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	c.Replyf("Hello %s, visit number %d!", c.Customer.Name(), n+1)
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO shop_visits (bot, customer, count) VALUES ($1, $2, 1)
			ON CONFLICT (bot, customer) DO UPDATE SET count = shop_visits.count + 1`, c.Bot.String(), c.Customer.ID.String())
		return err
	})
	return nil
}

// ForgetCustomer erases the customer's count when they ask to be forgotten.
func (v *counter) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM shop_visits WHERE bot = $1 AND customer = $2`, bot.String(), customer.String())
	return err
}
