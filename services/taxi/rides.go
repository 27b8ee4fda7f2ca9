package taxi

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Ride statuses. A ride is open while scheduled, assigned, arrived or
// on_trip; a driver is busy while assigned, arrived or on_trip.
const (
	statusScheduled = "scheduled"
	statusAssigned  = "assigned"
	statusArrived   = "arrived"
	statusOnTrip    = "on_trip"
	statusDone      = "done"
	statusCancelled = "cancelled"
)

// ride is a row of taxi_rides. Times are Unix ms, 0 = not yet.
type ride struct {
	Ref, User, Room, Status string
	Pickup, Destination     Place
	Estimate
	Currency                  string
	PickupAt                  int64
	Driver, Car, Plate        string
	AssignedAt, ETAAt         int64
	ArrivedAt, StartedAt      int64
	FinishedAt, CancelledAt   int64
	Fee, CreatedAt, UpdatedAt int64
}

func (r *ride) open() bool {
	switch r.Status {
	case statusScheduled, statusAssigned, statusArrived, statusOnTrip:
		return true
	}
	return false
}

const rideColumns = `ref, user_id, room_id, status, pickup, destination, distance_m, minutes, fare_minor, currency,
	pickup_at, driver, car, plate, assigned_at, eta_at, arrived_at, started_at, finished_at, cancelled_at, fee_minor, created_at, updated_at`

func scanRide(row interface{ Scan(...any) error }) (*ride, error) {
	var r ride
	var pickup, dest string
	err := row.Scan(&r.Ref, &r.User, &r.Room, &r.Status, &pickup, &dest, &r.DistanceM, &r.Minutes, &r.Fare, &r.Currency,
		&r.PickupAt, &r.Driver, &r.Car, &r.Plate, &r.AssignedAt, &r.ETAAt, &r.ArrivedAt, &r.StartedAt, &r.FinishedAt,
		&r.CancelledAt, &r.Fee, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read taxi ride: %w", err)
	}
	if err := json.Unmarshal([]byte(pickup), &r.Pickup); err != nil {
		return nil, fmt.Errorf("decode ride %s pickup: %w", r.Ref, err)
	}
	if err := json.Unmarshal([]byte(dest), &r.Destination); err != nil {
		return nil, fmt.Errorf("decode ride %s destination: %w", r.Ref, err)
	}
	return &r, nil
}

// rideByRef reads one ride of the bot.
func (b *Bot) rideByRef(ctx context.Context, bot id.UserID, ref string) (*ride, error) {
	return scanRide(b.db.QueryRowContext(ctx, `SELECT `+rideColumns+` FROM taxi_rides WHERE bot_user_id = $1 AND ref = $2`,
		bot.String(), ref))
}

// latestRide reads the customer's most recent ride (open or not), or nil.
func (b *Bot) latestRide(ctx context.Context, bot, user id.UserID) (*ride, error) {
	return scanRide(b.db.QueryRowContext(ctx, `SELECT `+rideColumns+` FROM taxi_rides
		WHERE bot_user_id = $1 AND user_id = $2 ORDER BY created_at DESC, ref DESC LIMIT 1`, bot.String(), user.String()))
}

// openRide reads the customer's open ride, or nil.
func (b *Bot) openRide(ctx context.Context, bot, user id.UserID) (*ride, error) {
	return scanRide(b.db.QueryRowContext(ctx, `SELECT `+rideColumns+` FROM taxi_rides
		WHERE bot_user_id = $1 AND user_id = $2 AND status IN ('scheduled', 'assigned', 'arrived', 'on_trip')
		ORDER BY created_at DESC LIMIT 1`, bot.String(), user.String()))
}

// freeDriver picks a driver without an open ride: the one who has waited
// longest since their last assignment, then in fleet order. ok is false
// when every driver is busy.
func (b *Bot) freeDriver(ctx context.Context, bot id.UserID) (Driver, bool, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT driver, MAX(assigned_at),
		MAX(CASE WHEN status IN ('assigned', 'arrived', 'on_trip') THEN 1 ELSE 0 END)
		FROM taxi_rides WHERE bot_user_id = $1 AND driver <> '' GROUP BY driver`, bot.String())
	if err != nil {
		return Driver{}, false, fmt.Errorf("read drivers: %w", err)
	}
	defer rows.Close()
	last := map[string]int64{}
	busy := map[string]bool{}
	for rows.Next() {
		var name string
		var at int64
		var isBusy int
		if err := rows.Scan(&name, &at, &isBusy); err != nil {
			return Driver{}, false, fmt.Errorf("read drivers: %w", err)
		}
		last[name], busy[name] = at, isBusy == 1
	}
	if err := rows.Err(); err != nil {
		return Driver{}, false, fmt.Errorf("read drivers: %w", err)
	}
	best, found := Driver{}, false
	for _, d := range b.cfg.Fleet {
		if busy[d.Name] {
			continue
		}
		if !found || last[d.Name] < last[best.Name] {
			best, found = d, true
		}
	}
	return best, found, nil
}

// newRef makes a ride reference. It is random, so an event handled again
// after a lost race gets a fresh one.
func newRef() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I
	var buf [6]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	out := []byte("TX-")
	for _, c := range buf {
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}

// conflict turns a lost race into handlers.ErrConflict, so the event is
// handled again against the new state.
func conflict(what string, err error) error {
	if err == nil {
		return nil
	}
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, handlers.ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// insertRide queues the new ride's row for the turn's transaction.
func insertRide(c *handlers.Conversation, r ride) {
	pickup, _ := json.Marshal(r.Pickup)
	dest, _ := json.Marshal(r.Destination)
	bot := c.Bot.String()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO taxi_rides (bot_user_id, ref, user_id, room_id, status, pickup, destination,
			distance_m, minutes, fare_minor, currency, pickup_at, driver, car, plate, assigned_at, eta_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)`,
			bot, r.Ref, r.User, r.Room, r.Status, string(pickup), string(dest),
			r.DistanceM, r.Minutes, r.Fare, r.Currency, r.PickupAt, r.Driver, r.Car, r.Plate, r.AssignedAt, r.ETAAt, r.CreatedAt)
		return conflict("insert taxi ride", err)
	})
}

// moveRide queues a status change from → to, with the columns in set
// (name → value) changed too. If the ride is no longer in from when the
// turn commits, another event got there first: the turn is retried.
func moveRide(c *handlers.Conversation, ref, from, to string, now int64, set ...any) {
	query := `UPDATE taxi_rides SET status = $1, updated_at = $2`
	args := []any{to, now}
	for i := 0; i+1 < len(set); i += 2 {
		args = append(args, set[i+1])
		query += fmt.Sprintf(", %s = $%d", set[i].(string), len(args))
	}
	args = append(args, c.Bot.String(), ref, from)
	n := len(args)
	query += fmt.Sprintf(` WHERE bot_user_id = $%d AND ref = $%d AND status = $%d`, n-2, n-1, n)
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return conflict("update taxi ride", err)
		}
		if k, err := res.RowsAffected(); err != nil || k != 1 {
			return fmt.Errorf("ride %s is no longer %s: %w", ref, from, handlers.ErrConflict)
		}
		return nil
	})
}

// ForgetCustomer implements handlers.Forgetter: the customer's rides go
// with the rest of their data (a driver on such a ride becomes free).
func (b *Bot) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM taxi_rides WHERE bot_user_id = $1 AND user_id = $2`, bot.String(), customer.String()); err != nil {
		return fmt.Errorf("erase taxi rides: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }
