package taxi

import (
	"fmt"
	"math"
)

// Estimate is a quote for one trip. Money is integer minor units.
type Estimate struct {
	DistanceM int64 `json:"distance_m"`
	Minutes   int64 `json:"minutes"`
	Fare      int64 `json:"fare"`
	// Guessed is true when the distance is the configured default (a
	// typed address has no coordinates).
	Guessed bool `json:"guessed,omitempty"`
}

// estimate quotes a trip from pickup to destination.
func (cfg *Config) estimate(from, to Place) Estimate {
	var e Estimate
	if from.Geo && to.Geo {
		e.DistanceM = int64(math.Round(haversineMeters(from.Lat, from.Lon, to.Lat, to.Lon)))
	} else {
		e.DistanceM = int64(math.Round(cfg.DefaultDistanceKm * 1000))
		e.Guessed = true
	}
	e.Minutes = cfg.minutesFor(e.DistanceM)
	e.Fare = cfg.fareFor(e.DistanceM, e.Minutes)
	return e
}

// minutesFor is the driving time at the average speed, rounded up, at
// least one minute.
func (cfg *Config) minutesFor(meters int64) int64 {
	perHour := int64(cfg.AverageSpeedKmh) * 1000
	m := (meters*60 + perHour - 1) / perHour
	return max(m, 1)
}

// fareFor applies the formula in integer arithmetic: per_km is charged
// per metre, rounded half up to a minor unit.
func (cfg *Config) fareFor(meters, minutes int64) int64 {
	fare := cfg.Fare.Base + (cfg.Fare.PerKm*meters+500)/1000 + cfg.Fare.PerMinute*minutes
	return max(fare, cfg.Fare.Minimum)
}

const earthRadiusM = 6371008.8 // mean radius (IUGG)

// haversineMeters is the great-circle distance between two points.
func haversineMeters(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// zeroDecimal lists currencies without minor units.
var zeroDecimal = map[string]bool{"JPY": true, "KRW": true, "ISK": true, "CLP": true, "VND": true}

var symbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// formatMoney shows minor units of currency: "€14.60", "CHF 9.00".
func formatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	var amount string
	if zeroDecimal[currency] {
		amount = fmt.Sprintf("%d", minor)
	} else {
		amount = fmt.Sprintf("%d.%02d", minor/100, minor%100)
	}
	if s, ok := symbols[currency]; ok {
		return sign + s + amount
	}
	return sign + currency + " " + amount
}

// formatKm shows metres as kilometres with one decimal.
func formatKm(meters int64) string {
	tenths := (meters + 50) / 100
	return fmt.Sprintf("%d.%d km", tenths/10, tenths%10)
}
