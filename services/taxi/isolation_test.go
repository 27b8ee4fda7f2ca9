package taxi_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestAnotherCustomersRideIsOutOfReach: Mallory, knowing Alice's ride
// reference, can neither see nor cancel it; every command works on her
// own rides only. On both engines.
func TestAnotherCustomersRideIsOutOfReach(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			h, _ := newHarness(t, testConfig(), d)
			tell(h, "book")
			tell(h, "Keizersgracht 123")
			tell(h, "Central Station")
			tell(h, "now")
			booked := say(t, h, "yes", "Booked (ride TX-")
			ref := regexp.MustCompile(`TX-[A-Z0-9]+`).FindString(handlertest.Text(booked))
			m := h.As("@mallory:test", "Mallory")
			for _, text := range []string{"status " + ref, "cancel " + ref, ref, "my ride " + ref, "trips", "status", "cancel", "yes"} {
				got := handlertest.Text(tell(m, text))
				for _, secret := range []string{ref, "Keizersgracht", "Central Station", "Jan", "GX-123-B", "Alice"} {
					if strings.Contains(got, secret) {
						t.Fatalf("mallory %q: %q shows %q", text, got, secret)
					}
				}
			}
			say(t, h, "status", "Your driver Jan", "Keizersgracht 123")
		})
	}
}
