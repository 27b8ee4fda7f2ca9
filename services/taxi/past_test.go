package taxi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/store/storetest"
)

// The console lists a customer's rides with where each stands now.
func TestPastListsRides(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			bot, h := newConsoleBot(t, d)
			bookNow(t, h)
			past, err := bot.Past(context.Background(), h.Bot, h.Customer, 10)
			if err != nil || len(past) != 1 || past[0].Kind != "ride" || !strings.HasPrefix(past[0].Ref, "TX-") ||
				past[0].Summary != "Keizersgracht 123 → Central Station" || past[0].Status != "assigned" {
				t.Fatalf("past %+v, err %v", past, err)
			}
		})
	}
}
