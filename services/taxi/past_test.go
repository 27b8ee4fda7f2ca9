package taxi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/taxi"
	"github.com/bizbots/bizbots/store/storetest"
)

// The console lists a customer's rides with where each stands now.
func TestPastListsRides(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			uri, db := openDB(t, d)
			bot, err := taxi.New(testConfig(), db)
			if err != nil {
				t.Fatal(err)
			}
			h := handlertest.New(t, bot, handlertest.Options{URI: uri})
			say(t, h, "book")
			say(t, h, "Keizersgracht 123")
			say(t, h, "Central Station")
			say(t, h, "now")
			say(t, h, "yes", "Booked (ride TX-")
			past, err := bot.Past(context.Background(), h.Bot, h.Customer, 10)
			if err != nil || len(past) != 1 || past[0].Kind != "ride" || !strings.HasPrefix(past[0].Ref, "TX-") ||
				past[0].Summary != "Keizersgracht 123 → Central Station" || past[0].Status != "assigned" {
				t.Fatalf("past %+v, err %v", past, err)
			}
		})
	}
}
