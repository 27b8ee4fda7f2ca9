package appointments_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestAnotherCustomersBookingIsOutOfReach: Mallory, knowing Alice's
// booking reference, can neither see, move nor cancel it. On both
// engines.
func TestAnotherCustomersBookingIsOutOfReach(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			h := newBot(t, appointments.Config{Business: "Sam's Barbershop"}, handlertest.Options{URI: storetest.URI(t, d)})
			say(t, h, "book")
			say(t, h, "haircut")
			say(t, h, "anyone")
			say(t, h, "wednesday")
			say(t, h, "10:00")
			booked := handlertest.Text(say(t, h, "1"))
			ref := regexp.MustCompile(`ref ([A-Z0-9]{8})`).FindStringSubmatch(booked)
			if ref == nil {
				t.Fatalf("no reference in %q", booked)
			}
			m := h.As("@mallory:test", "Mallory")
			for _, text := range []string{"cancel " + ref[1], "move " + ref[1], ref[1], "my appointments", "cancel", "move", "1", "yes"} {
				got := handlertest.Text(say(t, m, text))
				for _, secret := range []string{ref[1], "Wed 7 Jan at 10:00", "Alice"} {
					if strings.Contains(got, secret) {
						t.Fatalf("mallory %q: %q shows %q", text, got, secret)
					}
				}
			}
			expect(t, say(t, h, "my appointments"), "Wed 7 Jan at 10:00", ref[1])
		})
	}
}
