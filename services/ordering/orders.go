package ordering

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Status is where an order is in the pipeline.
type Status string

// The statuses, in pipeline order; delivered and cancelled are final.
const (
	Received       Status = "received"
	Preparing      Status = "preparing"
	Ready          Status = "ready"
	OutForDelivery Status = "out_for_delivery"
	Delivered      Status = "delivered"
	Cancelled      Status = "cancelled"
)

var rank = map[Status]int{Received: 0, Preparing: 1, Ready: 2, OutForDelivery: 3, Delivered: 4}

// Final says whether an order can no longer change.
func (s Status) Final() bool { return s == Delivered || s == Cancelled }

// Label is how a status reads in a sentence.
func (s Status) Label() string {
	switch s {
	case Preparing:
		return "being prepared"
	case OutForDelivery:
		return "out for delivery"
	}
	return string(s)
}

// Fulfilment modes.
const (
	Delivery = "delivery"
	Pickup   = "pickup"
)

// Line is one line of a cart or an order.
type Line struct {
	Item string `json:"item"`
	Size string `json:"size,omitempty"`
	// Name is how the line read when added: "Margherita (Large 35 cm)".
	Name string `json:"name"`
	Qty  int    `json:"qty"`
	// Price is the unit price in minor units when last checked.
	Price int64 `json:"price"`
}

// Total is the line's price.
func (l Line) Total() int64 { return l.Price * int64(l.Qty) }

// Order is a placed order.
type Order struct {
	Number     int64
	Customer   id.UserID
	Status     Status
	Fulfilment string
	Address    string
	Note       string
	Currency   string
	Lines      []Line
	Fee        int64
	Total      int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Summary reads "2 × Margherita (Large 35 cm), 1 × Cola".
func (o *Order) Summary() string { return summary(o.Lines) }

func summary(lines []Line) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = fmt.Sprintf("%d × %s", l.Qty, l.Name)
	}
	return strings.Join(parts, ", ")
}

// firstNumber is one less than a bot's first order number, so numbers
// look like a shop's (1001, 1002…) rather than 1, 2.
const firstNumber = 1000

// orderQuery holds the service's SQL. Reads run on the DB outside the
// turn; writes run in the turn's transaction (Conversation.OnCommit).
type orderQuery struct{ db *store.DB }

const orderColumns = `number, customer_id, status, fulfilment, address, note, currency, items, delivery_fee, total, created_at, updated_at`

func scanOrder(row interface{ Scan(...any) error }) (*Order, error) {
	var (
		o                Order
		customer, lines  string
		status           string
		created, updated int64
	)
	if err := row.Scan(&o.Number, &customer, &status, &o.Fulfilment, &o.Address, &o.Note, &o.Currency, &lines, &o.Fee, &o.Total, &created, &updated); err != nil {
		return nil, err
	}
	o.Customer, o.Status = id.UserID(customer), Status(status)
	o.CreatedAt, o.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	if err := json.Unmarshal([]byte(lines), &o.Lines); err != nil {
		return nil, fmt.Errorf("order %d: decode lines: %w", o.Number, err)
	}
	return &o, nil
}

// NextNumber is the number the bot's next order gets. Two turns may pick
// the same one; the primary key lets only one commit (Insert returns
// ErrConflict to the other, which is handled again and picks the next).
func (q orderQuery) NextNumber(ctx context.Context, bot id.UserID) (int64, error) {
	var n int64
	err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM ordering_orders WHERE bot_user_id = $1`, bot.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("next order number: %w", err)
	}
	return max(n, firstNumber) + 1, nil
}

// Get loads one order of the bot, or nil.
func (q orderQuery) Get(ctx context.Context, bot id.UserID, number int64) (*Order, error) {
	o, err := scanOrder(q.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM ordering_orders
		WHERE bot_user_id = $1 AND number = $2`, bot.String(), number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load order %d: %w", number, err)
	}
	return o, nil
}

// ByCustomer lists a customer's orders, newest first.
func (q orderQuery) ByCustomer(ctx context.Context, bot, customer id.UserID, limit int) ([]*Order, error) {
	return q.list(ctx, `SELECT `+orderColumns+` FROM ordering_orders
		WHERE bot_user_id = $1 AND customer_id = $2 ORDER BY number DESC LIMIT $3`, bot.String(), customer.String(), limit)
}

// Open lists the bot's orders that are not delivered or cancelled, oldest
// first.
func (q orderQuery) Open(ctx context.Context, bot id.UserID, limit int) ([]*Order, error) {
	return q.list(ctx, `SELECT `+orderColumns+` FROM ordering_orders
		WHERE bot_user_id = $1 AND status NOT IN ('delivered', 'cancelled') ORDER BY number LIMIT $2`, bot.String(), limit)
}

func (q orderQuery) list(ctx context.Context, query string, args ...any) ([]*Order, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// insertOrder writes a new order and its first status entry.
func insertOrder(ctx context.Context, tx *sql.Tx, bot id.UserID, o *Order) error {
	lines, err := json.Marshal(o.Lines)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO ordering_orders (bot_user_id, `+orderColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		bot.String(), o.Number, o.Customer.String(), string(o.Status), o.Fulfilment, o.Address, o.Note, o.Currency,
		string(lines), o.Fee, o.Total, o.CreatedAt.UnixMilli(), o.UpdatedAt.UnixMilli())
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("order number %d taken meanwhile: %w", o.Number, handlers.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert order %d: %w", o.Number, err)
	}
	return addStatus(ctx, tx, bot, o.Number, o.Status, o.Customer.String(), o.CreatedAt)
}

// setStatus moves an order from one status to another. It fails with
// ErrConflict when the order is no longer in from (someone else changed
// it since the handler read it); the event is then handled again and the
// handler sees the new status.
func setStatus(ctx context.Context, tx *sql.Tx, bot id.UserID, number int64, from, to Status, actor string, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE ordering_orders SET status = $1, updated_at = $2
		WHERE bot_user_id = $3 AND number = $4 AND status = $5`, string(to), at.UnixMilli(), bot.String(), number, string(from))
	if err != nil {
		return fmt.Errorf("update order %d: %w", number, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("order %d is no longer %s: %w", number, from, handlers.ErrConflict)
	}
	return addStatus(ctx, tx, bot, number, to, actor, at)
}

func addStatus(ctx context.Context, tx *sql.Tx, bot id.UserID, number int64, s Status, actor string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO ordering_status_history (bot_user_id, number, status, actor, created_at)
		VALUES ($1, $2, $3, $4, $5)`, bot.String(), number, string(s), actor, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("record status of order %d: %w", number, err)
	}
	return nil
}

// StatusEntry is one step of an order's status history.
type StatusEntry struct {
	Status Status
	Actor  string
	Time   time.Time
}

// History lists an order's status changes, oldest first.
func (q orderQuery) History(ctx context.Context, bot id.UserID, number int64) ([]StatusEntry, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT status, actor, created_at FROM ordering_status_history
		WHERE bot_user_id = $1 AND number = $2 ORDER BY id`, bot.String(), number)
	if err != nil {
		return nil, fmt.Errorf("order %d history: %w", number, err)
	}
	defer rows.Close()
	var out []StatusEntry
	for rows.Next() {
		var (
			e      StatusEntry
			s      string
			millis int64
		)
		if err := rows.Scan(&s, &e.Actor, &millis); err != nil {
			return nil, err
		}
		e.Status, e.Time = Status(s), time.UnixMilli(millis)
		out = append(out, e)
	}
	return out, rows.Err()
}

// forgetCustomer anonymises a customer's orders: the rows stay (order
// numbers are never reused and the shop keeps its sales), but who ordered,
// where to and their note are erased.
func forgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	if _, err := tx.ExecContext(ctx, `UPDATE ordering_status_history SET actor = ''
		WHERE bot_user_id = $1 AND actor = $2`, bot.String(), customer.String()); err != nil {
		return fmt.Errorf("forget order history: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ordering_orders SET customer_id = '', address = '', note = ''
		WHERE bot_user_id = $1 AND customer_id = $2`, bot.String(), customer.String()); err != nil {
		return fmt.Errorf("forget orders: %w", err)
	}
	return nil
}
