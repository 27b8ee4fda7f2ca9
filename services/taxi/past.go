package taxi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

var _ handlers.Historian = (*Bot)(nil)

// Past implements handlers.Historian: the customer's rides, newest first,
// with where each stands (scheduled, assigned, on trip, done…).
func (b *Bot) Past(ctx context.Context, bot, customer id.UserID, limit int) ([]handlers.Past, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+rideColumns+` FROM taxi_rides
		WHERE bot_user_id = $1 AND user_id = $2 ORDER BY created_at DESC, ref DESC LIMIT $3`, bot.String(), customer.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list customer's rides: %w", err)
	}
	defer rows.Close()
	var out []handlers.Past
	for rows.Next() {
		r, err := scanRide(rows)
		if err != nil {
			return nil, err
		}
		at := r.CreatedAt
		if r.PickupAt > 0 {
			at = r.PickupAt
		}
		out = append(out, handlers.Past{Kind: "ride", Ref: r.Ref, Summary: r.Pickup.Short() + " → " + r.Destination.Short(),
			Status: strings.ReplaceAll(r.Status, "_", " "), Time: time.UnixMilli(at)})
	}
	return out, rows.Err()
}
