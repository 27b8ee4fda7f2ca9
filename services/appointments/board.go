package appointments

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/store"
)

// The business console's board (backoffice.Board): a day's appointments,
// upcoming, past or cancelled; the business may cancel an upcoming one,
// and the customer is told, as the staff room is.

var _ backoffice.Board = (*Bot)(nil)

const (
	columnUpcoming  = "booked"
	columnPast      = "past"
	columnCancelled = "cancelled"
)

// BoardColumns implements backoffice.Board.
func (b *Bot) BoardColumns() []backoffice.Column {
	return []backoffice.Column{{Status: columnUpcoming, Label: "Upcoming"}, {Status: columnPast, Label: "Past"},
		{Status: columnCancelled, Label: "Cancelled"}}
}

// BoardOrders implements backoffice.Board: the appointments starting in
// [from, to).
func (b *Bot) BoardOrders(ctx context.Context, bot id.UserID, from, to time.Time) ([]backoffice.Order, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+bookingColumns+` FROM appointments_bookings
		WHERE bot_user_id = $1 AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at LIMIT 500`,
		bot.String(), from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list appointments: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	var out []backoffice.Order
	for rows.Next() {
		bk, err := scanBooking(rows)
		if err != nil {
			return nil, fmt.Errorf("list appointments: %w", err)
		}
		o := backoffice.Order{ID: bk.ID, Title: b.shop().serviceName(bk.Service) + " " + bk.Start.In(b.shop().loc).Format("15:04"),
			Summary: b.describe(staffLang, *bk), Customer: id.UserID(bk.Customer), Status: bk.Status, At: bk.Start}
		switch {
		case bk.Status == columnCancelled:
		case !bk.End.After(now):
			o.Status = columnPast
		default:
			o.Moves = []backoffice.Move{{To: columnCancelled, Label: "Cancel"}}
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// MoveOrder implements backoffice.Board: the business cancels an upcoming
// appointment; its time becomes free and the customer is told.
func (b *Bot) MoveOrder(ctx context.Context, c *handlers.Conversation, order, to string) error {
	if to != columnCancelled {
		return handlers.Errorf("An appointment can only be cancelled here.")
	}
	bk, err := scanBooking(b.db.QueryRowContext(ctx, `SELECT `+bookingColumns+` FROM appointments_bookings
		WHERE id = $1 AND bot_user_id = $2`, order, c.Bot.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return handlers.Errorf("There is no appointment %s.", handlers.CapText(order, 20))
	}
	if err != nil {
		return fmt.Errorf("read booking %s: %w", order, err)
	}
	now := c.Now()
	switch {
	case bk.Status == columnCancelled:
		return handlers.Errorf("Appointment %s is already cancelled.", bk.ID)
	case !bk.End.After(now):
		return handlers.Errorf("Appointment %s is over; it can't be cancelled any more.", bk.ID)
	}
	lang, err := b.customerLanguage(ctx, c.Bot.String(), bk.Customer)
	if err != nil {
		return err
	}
	sh := b.shop()
	what := fmt.Sprintf("%s with %s on %s", sh.serviceName(bk.Service), sh.staffName(bk.Staff), sh.when(staffLang, bk.Start, now))
	cancel := cancelBooking(*bk, now)
	data, _ := json.Marshal(bookingRecord{ID: bk.ID, Service: bk.Service, Staff: bk.Staff, Start: bk.Start.UnixMilli(), Price: bk.Price, Cur: bk.Currency})
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		if err := cancel(ctx, tx); err != nil {
			return err
		}
		return store.AddHistory(ctx, tx, c.Bot.String(), bk.Customer, "cancellation", what+" cancelled by "+sh.name, data, now.UnixMilli())
	})
	c.Notify(id.UserID(bk.Customer), b.trl(lang, "cancelled-by-shop", sh.name, sh.serviceName(bk.Service),
		sh.staffName(bk.Staff), sh.when(lang, bk.Start, now), b.contactHint(lang)))
	b.tellStaff(c, fmt.Sprintf("❌ Cancelled %s: %s, by %s in the business console. The customer has been told.", bk.ID, what, c.Customer.ID))
	return nil
}

// customerLanguage is the language a customer of bot chose or wrote in,
// for what the business sends them from the console.
func (b *Bot) customerLanguage(ctx context.Context, bot, customer string) (string, error) {
	cu, err := store.LoadCustomer(ctx, b.db, bot, customer)
	if err != nil {
		return "", err
	}
	if cu == nil {
		return handlers.LanguageOf(nil), nil
	}
	return handlers.LanguageOf(cu.Facts), nil
}
