package ordering_test

import (
	"context"
	"strings"
	"testing"
)

// The console lists a customer's orders with where each stands now.
func TestPastListsOrdersWithTheirStatusNow(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri})
			h.openStaffRoom()
			h.order("Main Street 1")
			h.staff("!order 1001 preparing")
			past, err := h.Bot.Past(context.Background(), bot, h.Customer, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(past) != 1 || past[0].Kind != "order" || past[0].Ref != "1001" || past[0].Status != "being prepared" ||
				!strings.Contains(past[0].Summary, "1 × Margherita") || past[0].Time.IsZero() {
				t.Fatalf("past %+v", past)
			}
			if other, err := h.Bot.Past(context.Background(), bot, "@someone:test", 10); err != nil || len(other) != 0 {
				t.Fatalf("another customer's past: %+v, %v", other, err)
			}
		})
	}
}
