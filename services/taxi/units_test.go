package taxi

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func TestFareIsIntegerArithmetic(t *testing.T) {
	cfg := Defaults()
	for _, tc := range []struct {
		meters, minutes, want int64
	}{
		{0, 1, 1200},                   // minimum fare
		{1000, 3, 1200},                // 4.50 + 2.50 + 1.20 = 8.20 → minimum 12.00
		{6000, 15, 2550},               // 4.50 + 15.00 + 6.00
		{10944, 27, 4266},              // 27.36 rounded half up per metre
		{1002, 1, 1200},                // still the minimum
		{20002, 49, 450 + 5001 + 1960}, // 250 × 20.002 = 5000.5 → 5001
	} {
		if got := cfg.fareFor(tc.meters, tc.minutes); got != tc.want {
			t.Errorf("fareFor(%d m, %d min) = %d, want %d", tc.meters, tc.minutes, got, tc.want)
		}
	}
	if got := cfg.minutesFor(6000); got != 15 { // 14.4 rounded up
		t.Errorf("minutesFor(6000) = %d", got)
	}
	if got := cfg.minutesFor(10); got != 1 {
		t.Errorf("minutesFor(10) = %d", got)
	}
	for minor, want := range map[int64]string{2550: "€25.50", 5: "€0.05", 0: "€0.00", -500: "-€5.00"} {
		if got := formatMoney(minor, "EUR"); got != want {
			t.Errorf("formatMoney(%d) = %q, want %q", minor, got, want)
		}
	}
	if got := formatMoney(1234, "CHF"); got != "CHF 12.34" {
		t.Errorf("CHF: %q", got)
	}
	if got := formatMoney(1500, "JPY"); got != "¥1500" {
		t.Errorf("JPY: %q", got)
	}
}

func TestHaversine(t *testing.T) {
	// Paris (Notre-Dame) to London (Charing Cross): 343.5 km great-circle.
	d := haversineMeters(48.8530, 2.3499, 51.5080, -0.1247)
	if math.Abs(d-343_500) > 1500 {
		t.Fatalf("Paris–London: %.0f m", d)
	}
	if d := haversineMeters(52.37, 4.89, 52.37, 4.89); d != 0 {
		t.Fatalf("same point: %f", d)
	}
	cfg := Defaults()
	e := cfg.estimate(Place{Name: "a"}, Place{Name: "b", Geo: true, Lat: 52, Lon: 4})
	if !e.Guessed || e.DistanceM != 6000 {
		t.Fatalf("text address: %+v", e)
	}
}

func TestParseWhen(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Amsterdam")
	now := time.Date(2026, 1, 5, 12, 0, 20, 0, time.UTC) // 13:00:20 in Amsterdam
	cfg := Defaults()
	cfg.MaxAdvance = config.Duration(48 * time.Hour)
	b := &Bot{cfg: cfg, loc: loc, texts: backoffice.NewTexts(texts)}
	ok := map[string]string{
		"now":              "13:00:20",
		"ASAP":             "13:00:20",
		"in 20 min":        "13:20:20",
		"in 20":            "13:20:20",
		"in 2 hours":       "15:00:20",
		"in an hour":       "14:00:20",
		"in half an hour":  "13:30:20",
		"at 18:30":         "18:30:00",
		"18:30":            "18:30:00",
		"at 18.30":         "18:30:00",
		"6pm":              "18:00:00",
		"at 6:15 pm":       "18:15:00",
		"at 19":            "19:00:00",
		"tomorrow at 9":    "Tue 09:00:00",
		"at 7:45 tomorrow": "Tue 07:45:00",
		"today at 23:59":   "23:59:00",
		"at 13:00":         "13:00:20", // this very minute: now
		"12am tomorrow":    "Tue 00:00:00",
	}
	for in, want := range ok {
		got, err := b.parseWhen("en", in, now)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		format := "15:04:05"
		if strings.HasPrefix(want, "Tue") {
			format = "Mon 15:04:05"
		}
		if s := got.In(loc).Format(format); s != want {
			t.Errorf("%q = %s, want %s", in, s, want)
		}
	}
	bad := map[string]string{
		"at 10:00":                   "10:00 has already passed (it is 13:00 now)",
		"12:59":                      "has already passed",
		"yesterday":                  "couldn't read",
		"18":                         "couldn't read",
		"at 24:00":                   "couldn't read",
		"at 13pm":                    "couldn't read",
		"at 12:75":                   "couldn't read",
		"in a":                       "couldn't read",
		"in 3000 hours":              "up to 48 hours ahead",
		"tomorrow at 18:00 tomorrow": "couldn't read",
		"":                           "Please type when you need the taxi",
	}
	for in, want := range bad {
		_, err := b.parseWhen("en", in, now)
		var ue *handlers.UserError
		if !errors.As(err, &ue) || !strings.Contains(ue.Text, want) {
			t.Errorf("%q: want a user error with %q, got %v", in, want, err)
		}
	}
	// Across midnight "tomorrow" is the next calendar day in the zone.
	late := time.Date(2026, 1, 5, 22, 30, 0, 0, time.UTC) // 23:30 in Amsterdam
	got, err := b.parseWhen("en", "tomorrow at 0:30", late)
	if err != nil || got.Sub(late) != time.Hour {
		t.Fatalf("tomorrow at 0:30 from 23:30: %v %v", got, err)
	}
	if s := b.clock("en", got, late); s != "tomorrow 00:30" {
		t.Fatalf("clock: %q", s)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.TimeZone = "Mars/Olympus" }, `time_zone: unknown time zone "Mars/Olympus"`},
		{func(c *Config) { c.Currency = "euro" }, "currency:"},
		{func(c *Config) { c.Fare.PerKm = -1 }, "fare.per_km: must be >= 0"},
		{func(c *Config) { c.Fare.Base = 1e12 }, "fare.base:"},
		{func(c *Config) { c.AverageSpeedKmh = 0 }, "average_speed_kmh:"},
		{func(c *Config) { c.DefaultDistanceKm = 0 }, "default_distance_km:"},
		{func(c *Config) { c.ETAMin = 0 }, "eta_min:"},
		{func(c *Config) { c.ETAMax = c.ETAMin - 1 }, "eta_max: must be >= eta_min"},
		{func(c *Config) { c.CountdownMinutes = []int{3, 0} }, "countdown_minutes[1]:"},
		{func(c *Config) { c.MaxAdvance = 0 }, "max_advance:"},
		{func(c *Config) { c.BookingTimeout = 0 }, "booking_timeout:"},
		{func(c *Config) { c.Fleet = nil }, "fleet: needs at least one driver"},
		{func(c *Config) { c.Fleet[2].Plate = " " }, "fleet[2].plate: must not be empty"},
		{func(c *Config) { c.Fleet[1].Name = "jan" }, `fleet[1].name: "jan" is also fleet[0]`},
		{func(c *Config) { c.Places[1].Lat = nil }, "places[1].lat: required"},
		{func(c *Config) { c.Places[0].Lon = f(200) }, "places[0].lon:"},
		{func(c *Config) { c.Places[2].Aliases = []string{"airport"} }, `places[2]: "airport" is also a name of places[1]`},
		{func(c *Config) { c.Places[0].Aliases = []string{"home"} }, `places[0]: "home" is a word the bot reserves`},
		{func(c *Config) { c.Company = "" }, "company:"},
	} {
		cfg := Defaults()
		tc.change(&cfg)
		_, err := New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error %q, got %v", tc.want, err)
		}
	}
	if _, err := New(Defaults(), nil); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// TestRideConstraints checks, on both engines, what makes concurrent
// bookings safe: a second open ride of a customer, a second active ride
// of a driver and a status change from a state the ride is no longer in
// all fail with handlers.ErrConflict (the event is then handled again).
func TestRideConstraints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bot := id.UserID("@taxi:test")
		commit := func(fn func(c *handlers.Conversation)) error {
			c := handlers.NewConversation(bot, "!room:test", handlers.Customer{ID: "@alice:test"}, "")
			fn(c)
			return db.Tx(ctx, func(tx store.Tx) error {
				for _, f := range c.Effects().Commits {
					if err := f(ctx, tx); err != nil {
						return err
					}
				}
				return nil
			})
		}
		r := ride{Ref: "TX-AAAAAA", User: "@alice:test", Room: "!room:test", Status: statusAssigned,
			Pickup: Place{Name: "a"}, Destination: Place{Name: "b"}, Currency: "EUR", Driver: "Jan", CreatedAt: 1}
		if err := commit(func(c *handlers.Conversation) { insertRide(c, r) }); err != nil {
			t.Fatal(err)
		}
		// Same customer, another open ride.
		r2 := r
		r2.Ref, r2.Driver, r2.Status = "TX-BBBBBB", "", statusScheduled
		if err := commit(func(c *handlers.Conversation) { insertRide(c, r2) }); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("second open ride: %v", err)
		}
		// Another customer, the same (busy) driver.
		r3 := r
		r3.Ref, r3.User = "TX-CCCCCC", "@bob:test"
		if err := commit(func(c *handlers.Conversation) { insertRide(c, r3) }); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("busy driver: %v", err)
		}
		// A stale transition.
		if err := commit(func(c *handlers.Conversation) { moveRide(c, r.Ref, statusArrived, statusOnTrip, 2) }); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("stale move: %v", err)
		}
		// Done, the driver and the customer are free again.
		if err := commit(func(c *handlers.Conversation) {
			moveRide(c, r.Ref, statusAssigned, statusDone, 3, "finished_at", int64(3))
		}); err != nil {
			t.Fatal(err)
		}
		if err := commit(func(c *handlers.Conversation) { insertRide(c, r3) }); err != nil {
			t.Fatalf("driver free again: %v", err)
		}
		b := &Bot{cfg: Defaults(), db: db}
		d, ok, err := b.freeDriver(ctx, bot)
		if err != nil || !ok || d.Name != "Fatima" {
			t.Fatalf("free driver: %+v %v %v", d, ok, err)
		}
		got, err := b.rideByRef(ctx, bot, r.Ref)
		if err != nil || got.Status != statusDone || got.FinishedAt != 3 || got.Pickup.Name != "a" {
			t.Fatalf("ride: %+v %v", got, err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.ForgetCustomer(ctx, tx, bot, "@alice:test"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.rideByRef(ctx, bot, r.Ref); got != nil {
			t.Fatalf("forgotten ride still there: %+v", got)
		}
		if got, _ := b.rideByRef(ctx, bot, r3.Ref); got == nil {
			t.Fatal("bob's ride was erased with alice's")
		}
	})
}
