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
	rides, err := b.queryRides(ctx, `WHERE bot_user_id = $1 AND user_id = $2 ORDER BY created_at DESC, ref DESC LIMIT $3`,
		bot.String(), customer.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list customer's rides: %w", err)
	}
	var out []handlers.Past
	for _, r := range rides {
		out = append(out, handlers.Past{Kind: "ride", Ref: r.Ref, Summary: r.Pickup.Short() + " → " + r.Destination.Short(),
			Status: strings.ReplaceAll(r.Status, "_", " "), Time: r.when()})
	}
	return out, nil
}

// queryRides reads the rides the query's tail (WHERE … ORDER BY …) selects.
func (b *Bot) queryRides(ctx context.Context, tail string, args ...any) ([]*ride, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+rideColumns+` FROM taxi_rides `+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ride
	for rows.Next() {
		r, err := scanRide(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// when is the ride's time: its pickup when booked for later, else when
// it was booked.
func (r *ride) when() time.Time {
	if r.PickupAt > 0 {
		return time.UnixMilli(r.PickupAt)
	}
	return time.UnixMilli(r.CreatedAt)
}
