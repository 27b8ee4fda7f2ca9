package taxi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
)

// The business console's board (backoffice.Board): a day's rides by
// status. Rides move by themselves (the dispatch assigns a driver, the
// driver's progress follows), so the board has no buttons: it is where the
// dispatcher sees at a glance what is waiting, on its way or done.

var _ backoffice.Board = (*Bot)(nil)

var rideColumnsBoard = []backoffice.Column{
	{Status: statusScheduled, Label: "Scheduled"}, {Status: statusAssigned, Label: "Driver on the way"},
	{Status: statusArrived, Label: "Driver arrived"}, {Status: statusOnTrip, Label: "On trip"},
	{Status: statusDone, Label: "Done"}, {Status: statusCancelled, Label: "Cancelled"},
}

// BoardColumns implements backoffice.Board.
func (b *Bot) BoardColumns() []backoffice.Column { return rideColumnsBoard }

// BoardOrders implements backoffice.Board: the rides picking up in
// [from, to) (booked for later: at their pickup time; now: when booked).
func (b *Bot) BoardOrders(ctx context.Context, bot id.UserID, from, to time.Time) ([]backoffice.Order, error) {
	rides, err := b.queryRides(ctx, `WHERE bot_user_id = $1 AND ((pickup_at >= $2 AND pickup_at < $3)
		  OR (pickup_at = 0 AND created_at >= $2 AND created_at < $3)) ORDER BY created_at LIMIT 500`,
		bot.String(), from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list rides: %w", err)
	}
	var out []backoffice.Order
	for _, r := range rides {
		sum := r.Pickup.Short() + " → " + r.Destination.Short() + " · " + formatMoney(r.Fare, r.Currency)
		if r.Driver != "" {
			sum += " · " + r.Driver
			if r.Plate != "" {
				sum += " (" + r.Plate + ")"
			}
		}
		out = append(out, backoffice.Order{ID: r.Ref, Title: "Ride " + r.Ref, Summary: sum, Customer: id.UserID(r.User),
			Status: r.Status, At: r.when()})
	}
	return out, nil
}

// MoveOrder implements backoffice.Board: rides are not moved by hand.
func (b *Bot) MoveOrder(ctx context.Context, c *handlers.Conversation, order, to string) error {
	return handlers.Errorf("Rides move by themselves as the driver goes; there is nothing to move by hand.")
}

// Taxis run around the clock: what staff may change in the console is
// the greeting (backoffice.Settings).
var _ backoffice.Settings = (*Bot)(nil)

// Settings implements backoffice.Settings.
func (b *Bot) Settings() []backoffice.Setting { return b.texts.Settings("Welcome texts") }

// ApplySettings implements backoffice.Settings.
func (b *Bot) ApplySettings(over map[string]string) error {
	errs := b.texts.Check(over)
	for k := range over {
		if !strings.HasPrefix(k, backoffice.TextPrefix) {
			errs = append(errs, backoffice.FieldError{Key: k, Msg: "there is no such setting"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	b.texts.Apply(over)
	return nil
}
