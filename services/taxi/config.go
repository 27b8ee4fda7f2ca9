package taxi

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time_zone must load on hosts without a zoneinfo database

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
)

// Config is the service's config block. Every option has a default (see
// Defaults), so an empty block runs a small Amsterdam taxi company.
type Config struct {
	// Company is the name the bot speaks for.
	Company string `yaml:"company"`
	// Texts override or add to the customer texts per language
	// ({nl: {greet-new: "…"}}); see docs/services/taxi.md.
	Texts handlers.Texts `yaml:"texts"`
	// TimeZone is where "at 18:30" is read and times are shown (an IANA name).
	TimeZone string `yaml:"time_zone"`
	// Currency is the ISO 4217 code of every amount in Fare.
	Currency string `yaml:"currency"`
	Fare     Fare   `yaml:"fare"`
	// AverageSpeedKmh turns a distance into estimated minutes.
	AverageSpeedKmh int `yaml:"average_speed_kmh"`
	// DefaultDistanceKm is the trip length assumed when the pickup or the
	// destination is a typed address (there is no geocoder).
	DefaultDistanceKm float64 `yaml:"default_distance_km"`
	// ETAMin and ETAMax bound how long the simulated driver takes to
	// reach the pickup.
	ETAMin config.Duration `yaml:"eta_min"`
	ETAMax config.Duration `yaml:"eta_max"`
	// BoardingTime is how long after arriving the driver starts the trip.
	BoardingTime config.Duration `yaml:"boarding_time"`
	// CountdownMinutes are the "your driver is N minutes away" updates.
	CountdownMinutes []int `yaml:"countdown_minutes"`
	// ReminderBefore is when a booking for later gets its reminder.
	ReminderBefore config.Duration `yaml:"reminder_before"`
	// DispatchBefore is when a booking for later gets its driver; a
	// booking for sooner than this is dispatched at once.
	DispatchBefore config.Duration `yaml:"dispatch_before"`
	// MaxAdvance is how far ahead a ride can be booked.
	MaxAdvance config.Duration `yaml:"max_advance"`
	// BookingTimeout drops a half-finished booking after this long
	// without an answer.
	BookingTimeout config.Duration `yaml:"booking_timeout"`
	// Fleet are the (simulated) drivers.
	Fleet []Driver `yaml:"fleet"`
	// Places are well-known places with coordinates ("airport"), so a
	// typed name gets a real distance.
	Places []KnownPlace `yaml:"places"`
}

// Fare is the fare formula, in minor units of Config.Currency:
// base + per_km × km + per_minute × estimated minutes, at least minimum.
type Fare struct {
	Base      int64 `yaml:"base"`
	PerKm     int64 `yaml:"per_km"`
	PerMinute int64 `yaml:"per_minute"`
	Minimum   int64 `yaml:"minimum"`
	// CancellationFee is charged when the customer cancels after the
	// driver arrived (0: cancelling is always free).
	CancellationFee int64 `yaml:"cancellation_fee"`
}

// Driver is one car of the fleet.
type Driver struct {
	Name  string `yaml:"name"`
	Car   string `yaml:"car"`
	Plate string `yaml:"plate"`
}

// KnownPlace is a named place with coordinates.
type KnownPlace struct {
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	Lat     *float64 `yaml:"lat"`
	Lon     *float64 `yaml:"lon"`
}

func f(v float64) *float64 { return &v }

// Defaults is the demo company: City Cabs Amsterdam, three drivers, euro
// fares close to Amsterdam's regulated taxi tariff.
func Defaults() Config {
	return Config{
		Company:  "City Cabs Amsterdam",
		TimeZone: "Europe/Amsterdam",
		Currency: "EUR",
		Fare: Fare{
			Base: 450, PerKm: 250, PerMinute: 40, Minimum: 1200, CancellationFee: 500,
		},
		AverageSpeedKmh:   25,
		DefaultDistanceKm: 6,
		ETAMin:            config.Duration(3 * time.Minute),
		ETAMax:            config.Duration(7 * time.Minute),
		BoardingTime:      config.Duration(2 * time.Minute),
		CountdownMinutes:  []int{3, 1},
		ReminderBefore:    config.Duration(30 * time.Minute),
		DispatchBefore:    config.Duration(10 * time.Minute),
		MaxAdvance:        config.Duration(48 * time.Hour),
		BookingTimeout:    config.Duration(15 * time.Minute),
		Fleet: []Driver{
			{Name: "Jan", Car: "black Toyota Prius", Plate: "GX-123-B"},
			{Name: "Fatima", Car: "white Tesla Model 3", Plate: "TS-482-K"},
			{Name: "Pieter", Car: "silver Skoda Octavia", Plate: "HN-907-R"},
		},
		Places: []KnownPlace{
			{Name: "Central Station", Aliases: []string{"centraal", "amsterdam centraal", "centraal station", "station"}, Lat: f(52.3791), Lon: f(4.9003)},
			{Name: "Schiphol Airport", Aliases: []string{"schiphol", "airport", "the airport"}, Lat: f(52.3105), Lon: f(4.7683)},
			{Name: "Dam Square", Aliases: []string{"dam", "the dam"}, Lat: f(52.3731), Lon: f(4.8926)},
			{Name: "Museumplein", Aliases: []string{"rijksmuseum", "museum square"}, Lat: f(52.3573), Lon: f(4.8818)},
			{Name: "RAI Amsterdam", Aliases: []string{"rai"}, Lat: f(52.3406), Lon: f(4.8885)},
			{Name: "Amsterdam Zuid", Aliases: []string{"zuid", "station zuid"}, Lat: f(52.3389), Lon: f(4.8730)},
		},
	}
}

// validate checks cfg and reports the first problem, naming the option.
func (cfg *Config) validate() (*time.Location, error) {
	if strings.TrimSpace(cfg.Company) == "" {
		return nil, fmt.Errorf("company: must not be empty")
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil || cfg.TimeZone == "" {
		return nil, fmt.Errorf("time_zone: unknown time zone %q (use an IANA name such as Europe/Amsterdam)", cfg.TimeZone)
	}
	if len(cfg.Currency) != 3 || strings.ToUpper(cfg.Currency) != cfg.Currency {
		return nil, fmt.Errorf("currency: %q is not an ISO 4217 code such as EUR", cfg.Currency)
	}
	for _, a := range []struct {
		name string
		v    int64
	}{{"fare.base", cfg.Fare.Base}, {"fare.per_km", cfg.Fare.PerKm}, {"fare.per_minute", cfg.Fare.PerMinute},
		{"fare.minimum", cfg.Fare.Minimum}, {"fare.cancellation_fee", cfg.Fare.CancellationFee}} {
		if a.v < 0 {
			return nil, fmt.Errorf("%s: must be >= 0 (minor units of %s)", a.name, cfg.Currency)
		}
		if a.v > 100_000_000 {
			return nil, fmt.Errorf("%s: %d is implausibly large (amounts are minor units, e.g. 450 = 4.50 %s)", a.name, a.v, cfg.Currency)
		}
	}
	if cfg.AverageSpeedKmh < 1 || cfg.AverageSpeedKmh > 200 {
		return nil, fmt.Errorf("average_speed_kmh: must be between 1 and 200")
	}
	if cfg.DefaultDistanceKm <= 0 || cfg.DefaultDistanceKm > 1000 {
		return nil, fmt.Errorf("default_distance_km: must be > 0 and at most 1000")
	}
	if cfg.ETAMin.D() < time.Minute {
		return nil, fmt.Errorf("eta_min: must be at least 1m")
	}
	if cfg.ETAMax.D() < cfg.ETAMin.D() {
		return nil, fmt.Errorf("eta_max: must be >= eta_min (%s)", cfg.ETAMin.D())
	}
	if cfg.ETAMax.D() > 2*time.Hour {
		return nil, fmt.Errorf("eta_max: must be at most 2h")
	}
	if cfg.BoardingTime.D() < 0 {
		return nil, fmt.Errorf("boarding_time: must be >= 0")
	}
	for i, m := range cfg.CountdownMinutes {
		if m < 1 || m > 120 {
			return nil, fmt.Errorf("countdown_minutes[%d]: must be between 1 and 120", i)
		}
	}
	if cfg.ReminderBefore.D() < 0 {
		return nil, fmt.Errorf("reminder_before: must be >= 0 (0: no reminder)")
	}
	if cfg.DispatchBefore.D() < 0 {
		return nil, fmt.Errorf("dispatch_before: must be >= 0")
	}
	if cfg.MaxAdvance.D() < time.Hour {
		return nil, fmt.Errorf("max_advance: must be at least 1h")
	}
	if cfg.BookingTimeout.D() < time.Minute {
		return nil, fmt.Errorf("booking_timeout: must be at least 1m")
	}
	if len(cfg.Fleet) == 0 {
		return nil, fmt.Errorf("fleet: needs at least one driver")
	}
	seen := map[string]int{}
	for i, d := range cfg.Fleet {
		switch {
		case strings.TrimSpace(d.Name) == "":
			return nil, fmt.Errorf("fleet[%d].name: must not be empty", i)
		case strings.TrimSpace(d.Car) == "":
			return nil, fmt.Errorf("fleet[%d].car: must not be empty", i)
		case strings.TrimSpace(d.Plate) == "":
			return nil, fmt.Errorf("fleet[%d].plate: must not be empty", i)
		}
		key := strings.ToLower(strings.TrimSpace(d.Name))
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("fleet[%d].name: %q is also fleet[%d] (names identify drivers)", i, d.Name, j)
		}
		seen[key] = i
	}
	names := map[string]string{}
	for i, p := range cfg.Places {
		where := fmt.Sprintf("places[%d]", i)
		if strings.TrimSpace(p.Name) == "" {
			return nil, fmt.Errorf("%s.name: must not be empty", where)
		}
		if p.Lat == nil || *p.Lat < -90 || *p.Lat > 90 {
			return nil, fmt.Errorf("%s.lat: required, between -90 and 90", where)
		}
		if p.Lon == nil || *p.Lon < -180 || *p.Lon > 180 {
			return nil, fmt.Errorf("%s.lon: required, between -180 and 180", where)
		}
		for j, n := range append([]string{p.Name}, p.Aliases...) {
			k := normPlace(n)
			if k == "" {
				return nil, fmt.Errorf("%s.aliases[%d]: must not be empty", where, j-1)
			}
			if reservedWord(k) {
				return nil, fmt.Errorf("%s: %q is a word the bot reserves (home, work, here…)", where, n)
			}
			if other, dup := names[k]; dup && other != where {
				return nil, fmt.Errorf("%s: %q is also a name of %s", where, n, other)
			}
			names[k] = where
		}
	}
	return loc, nil
}
