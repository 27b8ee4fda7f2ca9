package taxi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store/storetest"
)

// A booked ride is on the console's board under its status, on its day;
// rides move by themselves, so a move by hand is refused.
func TestRidesOnTheBoard(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			bot, h := newConsoleBot(t, d)
			bookNow(t, h)
			now := h.Clock.Now()
			day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
			rides, err := bot.BoardOrders(context.Background(), h.Bot, day, day.AddDate(0, 0, 1))
			if err != nil || len(rides) != 1 {
				t.Fatalf("rides %+v %v", rides, err)
			}
			r := rides[0]
			if r.Status != "assigned" || !strings.Contains(r.Summary, "Keizersgracht 123 → Central Station") || r.Customer != h.Customer || len(r.Moves) != 0 {
				t.Fatalf("ride %+v", r)
			}
			columns := map[string]bool{}
			for _, c := range bot.BoardColumns() {
				columns[c.Status] = true
			}
			if !columns[r.Status] {
				t.Fatalf("status %s has no column", r.Status)
			}
			if other, _ := bot.BoardOrders(context.Background(), h.Bot, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)); len(other) != 0 {
				t.Fatalf("the next day: %+v", other)
			}
		})
	}
}
