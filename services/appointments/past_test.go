package appointments_test

import (
	"context"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store/storetest"
)

// The console lists a customer's bookings with where each stands now.
func TestPastListsBookings(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			h, b := newBotAndHandler(t, appointments.Config{Business: "Barbershop Noord"}, handlertest.Options{URI: storetest.URI(t, d)})
			h = h.As("@ana:test", "Ana")
			h.Open()
			bookAt(t, h, "haircut", "sam", "wednesday", "10:00")
			past, err := b.Past(context.Background(), h.Bot, h.Customer, 10)
			if err != nil || len(past) != 1 || past[0].Kind != "booking" || past[0].Summary != "haircut with Sam" ||
				past[0].Status != "booked" || !past[0].Time.Equal(time.Date(2026, 1, 7, 10, 0, 0, 0, amsterdam)) {
				t.Fatalf("past %+v, err %v", past, err)
			}
		})
	}
}
