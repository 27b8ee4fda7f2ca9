// Package backoffice is what a service implements to appear in the
// business console beyond its conversations: an orders board (Board) and
// editable settings (Settings). Both are optional interfaces of a bot's
// handler, found the way handlers.Welcomer is: a service written outside
// this repository implements them and shows up on the same pages.
//
// The console calls them; it never reads a service's tables. A move is a
// turn like a customer's message: the service queues its status change
// with Conversation.OnCommit and tells the customer with Conversation.Notify,
// and the framework commits both, with the console's own bookkeeping, in
// one transaction (so the customer is told exactly once).
package backoffice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// Column is one status of the board, in pipeline order.
type Column struct {
	Status string
	Label  string
}

// Move is a status an order can go to next, as a button reads ("Ready").
type Move struct {
	To    string
	Label string
}

// Order is one card of the board: an order, a ride, an appointment.
type Order struct {
	// ID is what Move gets back ("1042").
	ID string
	// Title is the card's heading ("Order 1042"); Summary what it is
	// ("2 × Margherita, Cola · pickup").
	Title, Summary string
	Customer       id.UserID
	Status         string
	// At is when it was placed, or when it is due (a ride's pickup, an
	// appointment's start): the day filter uses it.
	At time.Time
	// Moves are the statuses staff may move it to now.
	Moves []Move
}

// Board is a service whose orders staff move through statuses.
type Board interface {
	// BoardColumns are the board's columns.
	BoardColumns() []Column
	// BoardOrders lists bot's orders whose At is in [from, to).
	BoardOrders(ctx context.Context, bot id.UserID, from, to time.Time) ([]Order, error)
	// MoveOrder moves order id to status to, exactly as the service does
	// when staff do it from its staff room: the status change through
	// c.OnCommit, the customer told with c.Notify. c.Customer.ID is the
	// staff member. A move that is not allowed (any more) returns a
	// *handlers.UserError saying why; nothing is then committed.
	MoveOrder(ctx context.Context, c *handlers.Conversation, order, to string) error
}

// Setting is one value staff may change: a price, a name, opening hours,
// a welcome text.
type Setting struct {
	// Key names it ("item.margherita.size.large.price"); keys are stable,
	// the console stores overrides under them.
	Key string
	// Group gathers settings under a heading ("Pizzas · Margherita").
	Group string
	Label string
	Kind  Kind
	// Value is what the bot uses now; Default what the config file says.
	Value, Default string
	Help           string
}

// Kind says how a setting is edited and checked.
type Kind string

// The kinds of setting.
const (
	Text      Kind = "text"
	Multiline Kind = "multiline"
	// Money is a price written with decimals ("12.50").
	Money Kind = "money"
	// SoldOut is "yes" or "no".
	SoldOut Kind = "soldout"
)

// Settings is a service whose settings staff may edit while it runs.
type Settings interface {
	// Settings lists the editable settings with their current values.
	Settings() []Setting
	// ApplySettings replaces every override (key → value; a key left out
	// is back to its default) and takes effect for the next message. It
	// checks all of them first and changes nothing when one is wrong,
	// returning FieldErrors.
	ApplySettings(overrides map[string]string) error
}

// FieldError is a setting's value refused, with the reason in words for
// the staff member.
type FieldError struct {
	Key, Msg string
}

func (e FieldError) Error() string { return e.Key + ": " + e.Msg }

// FieldErrors are every refused value of one ApplySettings.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}

// AsFieldErrors returns err's field errors, or nil.
func AsFieldErrors(err error) FieldErrors {
	var fe FieldErrors
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// ParseMoney reads a price as staff write it ("12.50", "12,50", "12") into
// minor units (1250), for a currency with two decimals.
func ParseMoney(s string) (int64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || !digits(whole) || (hasFrac && (len(frac) == 0 || len(frac) > 2 || !digits(frac))) || len(whole) > 9 {
		return 0, fmt.Errorf("%q is not a price: write it like 12.50", s)
	}
	var v int64
	for _, r := range whole {
		v = v*10 + int64(r-'0')
	}
	frac += strings.Repeat("0", 2-len(frac))
	return v*100 + int64(frac[0]-'0')*10 + int64(frac[1]-'0'), nil
}

// FormatMoney writes minor units as ParseMoney reads them ("12.50").
func FormatMoney(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
