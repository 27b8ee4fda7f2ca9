package taxi_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/services"
	_ "github.com/bizbots/bizbots/services/taxi"
)

// exampleConfig is the full example of docs/services/taxi.md.
const exampleConfig = `
company: City Cabs Amsterdam
time_zone: Europe/Amsterdam
currency: EUR
fare:
  base: 450
  per_km: 250
  per_minute: 40
  minimum: 1200
  cancellation_fee: 500
average_speed_kmh: 25
default_distance_km: 6
eta_min: 3m
eta_max: 7m
boarding_time: 2m
countdown_minutes: [3, 1]
reminder_before: 30m
dispatch_before: 10m
max_advance: 48h
booking_timeout: 15m
fleet:
  - name: Jan
    car: black Toyota Prius
    plate: GX-123-B
  - name: Fatima
    car: white Tesla Model 3
    plate: TS-482-K
  - name: Pieter
    car: silver Skoda Octavia
    plate: HN-907-R
places:
  - name: Central Station
    aliases: [centraal, amsterdam centraal, centraal station, station]
    lat: 52.3791
    lon: 4.9003
  - name: Schiphol Airport
    aliases: [schiphol, airport, the airport]
    lat: 52.3105
    lon: 4.7683
`

func build(t *testing.T, block string) error {
	t.Helper()
	env := services.Env{Bot: config.Bot{Localpart: "taxi", Service: "taxi"}, ConfigFile: "config.yaml"}
	if block != "" {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(block), &node); err != nil {
			t.Fatal(err)
		}
		env.Bot.Config = *node.Content[0]
	}
	_, err := services.Build(env)
	return err
}

func TestConfigBlocks(t *testing.T) {
	for name, block := range map[string]string{
		"absent":                                "",
		"minimal":                               "company: Taxi Utrecht\n",
		"partial fare keeps the other defaults": "fare:\n  base: 300\n",
		"example":                               exampleConfig,
		"own fleet and zone":                    "time_zone: America/New_York\ncurrency: USD\nfleet:\n  - {name: Sam, car: yellow Ford Crown Victoria, plate: 5ABC123}\nplaces: []\n",
	} {
		if err := build(t, block); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for block, want := range map[string]string{
		"colour: yellow\n":                    `unknown key "colour"`,
		"time_zone: Europe/Atlantis\n":        `time_zone: unknown time zone "Europe/Atlantis"`,
		"eta_min: soon\n":                     `"soon" is not a duration`,
		"fleet:\n  - {name: Sam, car: cab}\n": "fleet[0].plate: must not be empty",
		"fare:\n  per_km: -5\n":               "fare.per_km: must be >= 0",
	} {
		err := build(t, block)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "config.yaml") {
			t.Errorf("%q: want %q, got %v", block, want, err)
		}
	}
}
