package appointments

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// booking is one row of appointments_bookings.
type booking struct {
	ID       string
	Bot      string
	Customer string
	Service  string
	Staff    string
	Start    time.Time
	End      time.Time
	Price    int64
	Currency string
	Status   string
}

const bookingColumns = `id, bot_user_id, user_id, service, staff, starts_at, ends_at, price, currency, status`

func scanBooking(sc interface{ Scan(...any) error }) (*booking, error) {
	var b booking
	var start, end int64
	if err := sc.Scan(&b.ID, &b.Bot, &b.Customer, &b.Service, &b.Staff, &start, &end, &b.Price, &b.Currency, &b.Status); err != nil {
		return nil, err
	}
	b.Start, b.End = time.UnixMilli(start), time.UnixMilli(end)
	return &b, nil
}

// bookingByID reads one of a customer's bookings; nil when there is none.
func (b *Bot) bookingByID(ctx context.Context, bot, customer id.UserID, ref string) (*booking, error) {
	row := b.db.QueryRowContext(ctx, `SELECT `+bookingColumns+` FROM appointments_bookings
		WHERE id = $1 AND bot_user_id = $2 AND user_id = $3`, ref, bot.String(), customer.String())
	bk, err := scanBooking(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read booking %s: %w", ref, err)
	}
	return bk, nil
}

// upcoming lists a customer's booked appointments that have not ended,
// soonest first.
func (b *Bot) upcoming(ctx context.Context, bot, customer id.UserID, now time.Time) ([]booking, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+bookingColumns+` FROM appointments_bookings
		WHERE bot_user_id = $1 AND user_id = $2 AND status = 'booked' AND ends_at > $3
		ORDER BY starts_at LIMIT 20`, bot.String(), customer.String(), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read upcoming bookings: %w", err)
	}
	defer rows.Close()
	var out []booking
	for rows.Next() {
		bk, err := scanBooking(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *bk)
	}
	return out, rows.Err()
}

// claimSlots writes the granule rows of a booking. A unique violation
// means someone else holds part of that time: the turn lost a race and is
// handled again at once, against the new state.
func claimSlots(ctx context.Context, tx *sql.Tx, bk booking) error {
	for _, g := range granules(bk.Start, bk.End.Sub(bk.Start)) {
		_, err := tx.ExecContext(ctx, `INSERT INTO appointments_slots (bot_user_id, staff, slot_start, booking_id)
			VALUES ($1, $2, $3, $4)`, bk.Bot, bk.Staff, g, bk.ID)
		if store.IsUniqueViolation(err) {
			return fmt.Errorf("%s is taken at %s: %w", bk.Staff, time.UnixMilli(g).UTC().Format(time.RFC3339), handlers.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("claim slot: %w", err)
		}
	}
	return nil
}

// insertBooking stores a new booking and claims its time.
func insertBooking(bk booking, now time.Time) handlers.CommitFunc {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO appointments_bookings
			(id, bot_user_id, user_id, service, staff, starts_at, ends_at, price, currency, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'booked', $10, $10)`,
			bk.ID, bk.Bot, bk.Customer, bk.Service, bk.Staff, bk.Start.UnixMilli(), bk.End.UnixMilli(),
			bk.Price, bk.Currency, now.UnixMilli())
		if store.IsUniqueViolation(err) { // the random reference collided
			return fmt.Errorf("booking reference %s: %w", bk.ID, handlers.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert booking: %w", err)
		}
		return claimSlots(ctx, tx, bk)
	}
}

// moveBooking gives a booking a new time (and maybe staff member), as long
// as it is still booked at the time the customer saw.
func moveBooking(old, moved booking, now time.Time) handlers.CommitFunc {
	return func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE appointments_bookings SET staff = $1, starts_at = $2, ends_at = $3, updated_at = $4
			WHERE id = $5 AND status = 'booked' AND starts_at = $6`,
			moved.Staff, moved.Start.UnixMilli(), moved.End.UnixMilli(), now.UnixMilli(), old.ID, old.Start.UnixMilli())
		if err != nil {
			return fmt.Errorf("move booking: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("booking %s changed meanwhile: %w", old.ID, handlers.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM appointments_slots WHERE booking_id = $1`, old.ID); err != nil {
			return fmt.Errorf("free old slots: %w", err)
		}
		return claimSlots(ctx, tx, moved)
	}
}

// cancelBooking marks a booking cancelled and frees its time.
func cancelBooking(bk booking, now time.Time) handlers.CommitFunc {
	return func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE appointments_bookings SET status = 'cancelled', updated_at = $1
			WHERE id = $2 AND status = 'booked' AND starts_at = $3`, now.UnixMilli(), bk.ID, bk.Start.UnixMilli())
		if err != nil {
			return fmt.Errorf("cancel booking: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("booking %s changed meanwhile: %w", bk.ID, handlers.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM appointments_slots WHERE booking_id = $1`, bk.ID); err != nil {
			return fmt.Errorf("free slots: %w", err)
		}
		return nil
	}
}

// ForgetCustomer implements handlers.Forgetter: a customer who asks to be
// forgotten loses their bookings, upcoming ones included, and the time
// they held becomes free.
func (b *Bot) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM appointments_slots WHERE booking_id IN
		(SELECT id FROM appointments_bookings WHERE bot_user_id = $1 AND user_id = $2)`, bot.String(), customer.String()); err != nil {
		return fmt.Errorf("forget appointment slots: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM appointments_bookings WHERE bot_user_id = $1 AND user_id = $2`,
		bot.String(), customer.String()); err != nil {
		return fmt.Errorf("forget bookings: %w", err)
	}
	return nil
}

// refAlphabet has no 0/O or 1/I, so a reference read out loud survives.
const refAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newRef makes a booking reference: 8 characters, 40 random bits. A
// collision is caught by the primary key and retried.
func newRef() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = refAlphabet[int(b[i])%len(refAlphabet)]
	}
	return string(b)
}
