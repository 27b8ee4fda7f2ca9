package appointments

import (
	"context"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

var _ handlers.Historian = (*Bot)(nil)

// Past implements handlers.Historian: the customer's bookings, latest
// appointment first, as they stand (booked, cancelled, moved).
func (b *Bot) Past(ctx context.Context, bot, customer id.UserID, limit int) ([]handlers.Past, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+bookingColumns+` FROM appointments_bookings
		WHERE bot_user_id = $1 AND user_id = $2 ORDER BY starts_at DESC LIMIT $3`, bot.String(), customer.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("list customer's bookings: %w", err)
	}
	defer rows.Close()
	var out []handlers.Past
	for rows.Next() {
		bk, err := scanBooking(rows)
		if err != nil {
			return nil, fmt.Errorf("list customer's bookings: %w", err)
		}
		out = append(out, handlers.Past{Kind: "booking", Ref: bk.ID,
			Summary: fmt.Sprintf("%s with %s", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff)),
			Status:  strings.ReplaceAll(bk.Status, "_", " "), Time: bk.Start})
	}
	return out, rows.Err()
}
