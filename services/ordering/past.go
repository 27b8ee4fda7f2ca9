package ordering

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

var _ handlers.Historian = (*Bot)(nil)

// Past implements handlers.Historian: the customer's orders, newest
// first, with where each stands now (the business console shows them).
func (b *Bot) Past(ctx context.Context, bot, customer id.UserID, limit int) ([]handlers.Past, error) {
	orders, err := b.orders.ByCustomer(ctx, bot, customer, limit)
	if err != nil {
		return nil, err
	}
	out := make([]handlers.Past, 0, len(orders))
	for _, o := range orders {
		out = append(out, handlers.Past{Kind: "order", Ref: fmt.Sprint(o.Number),
			Summary: fmt.Sprintf("%s (%s, %s)", o.Summary(), formatMoney(o.Total, o.Currency), o.Fulfilment),
			Status:  o.Status.Label(), Time: o.CreatedAt})
	}
	return out, nil
}
