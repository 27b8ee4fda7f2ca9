package appointments_test

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store"
)

func build(t *testing.T, block string) error {
	t.Helper()
	env := services.Env{Bot: config.Bot{Localpart: "barber", DisplayName: "Kapsalon Sam", Service: "appointments"}, ConfigFile: "config.yaml"}
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

// TestDocExampleBuilds keeps the full example of
// docs/services/appointments.md valid.
func TestDocExampleBuilds(t *testing.T) {
	doc, err := os.ReadFile("../../docs/services/appointments.md")
	must(t, err)
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in the doc")
	}
	var cfg struct {
		Bots []config.Bot `yaml:"bots"`
	}
	must(t, yaml.Unmarshal([]byte(block), &cfg))
	if len(cfg.Bots) != 1 || cfg.Bots[0].Config.Kind == 0 {
		t.Fatalf("example: %+v", cfg)
	}
	if _, err := services.Build(services.Env{Bot: cfg.Bots[0], ConfigFile: "appointments.md"}); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	for _, ok := range []string{"", "{}", "business: Kapsalon Sam", "services:\n  - {id: cut, name: Cut, duration: 20m, price: 0}", "reminders: []\ncancellation_cutoff: 0s"} {
		if err := build(t, ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for block, want := range map[string]string{
		"colour: red":                                     `unknown key "colour"`,
		"time_zone: Mars/Olympus":                         `time_zone "Mars/Olympus": unknown time zone`,
		"currency: euro":                                  `currency "euro": use a three-letter ISO 4217 code`,
		"slot_granularity: 7m":                            "slot_granularity 7m0s: must be a multiple of 5m",
		"slot_granularity: soon":                          `"soon" is not a duration`,
		"booking_horizon_days: 0":                         "booking_horizon_days 0: must be between 1 and 366",
		"reminders: [24h, -1h]":                           "reminders[1] -1h0m0s: must be > 0",
		"cancellation_cutoff: -2h":                        "cancellation_cutoff -2h0m0s: must not be negative",
		"services: []":                                    "services: at least one service is needed",
		"services: [{id: Cut, name: Cut, duration: 30m}]": `services[0].id "Cut": use lowercase letters`,
		"services: [{id: cut, name: Cut, duration: 32m}]": "services[0].duration 32m0s: must be a multiple of 5m",
		"services: [{id: cut, name: Cut, duration: 30m, price: -5}]":                        "services[0].price -5: must be ≥ 0",
		"services: [{id: cut, name: Cut, duration: 30m}, {id: cut, name: C, duration: 5m}]": `services[1].id "cut": used twice`,
		"services: [{id: cut, duration: 30m}]":                                              "services[0].name: required",
		"staff: [{id: sam, name: Sam, services: [shave]}]":                                  `staff[0].services[0]: unknown service "shave"`,
		"staff: [{id: sam, name: Sam, days: [funday]}]":                                     `staff[0].days[0] "funday": use mon, tue`,
		"staff: [{id: any, name: Anyone}]":                                                  `staff[0].id "any"`,
		"staff: [{id: sam, name: Sam, services: [beard]}]":                                  "services[0] (haircut): no staff member does it",
		"hours: {funday: '09:00-17:00'}":                                                    "hours.funday: use mon, tue",
		"hours: {mon: '9-5'}":                                                               `hours.mon: "9-5" must look like 09:00-18:00`,
		"hours: {mon: '09:00-12:00, 11:00-17:00'}":                                          "hours.mon: periods overlap",
		"hours: {}":         "hours: the business is never open",
		"breaks: [lunch]":   `breaks[0] "lunch": must look like 12:30-13:00`,
		"staff_room: staff": `staff_room "staff": use a room id`,
	} {
		err := build(t, block)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "config.yaml") {
			t.Errorf("%s:\n got %v\nwant …%s…", block, err, want)
		}
	}
}

func TestMinimalConfigFallsBackToTheBarbershop(t *testing.T) {
	// Only hours given: the default services, staff, zone and currency
	// stay; the default lunch break goes with the default hours.
	h := newBot(t, appointments.Config{Hours: map[string]string{"mon": "10:00-16:00"}})
	expect(t, say(t, h, "hours"), "Mon: 10:00–16:00\nTue: closed")
	say(t, h, "book")
	say(t, h, "haircut")
	q := question(t, say(t, h, "anyone"))
	if got := labels(q); got[0] != "Today, Mon 5 Jan" {
		t.Fatalf("days: %q", got)
	}
	q = question(t, h.Choose(q, 1))
	if got := labels(q); got[0] != "13:15" {
		t.Fatalf("first free slot after now (13:00:0x): %q", got)
	}
	// The display name is the business name when none is configured.
	h2 := handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
		env := services.Env{Bot: config.Bot{Localpart: "barber", DisplayName: "Kapsalon Sam", Service: "appointments"}, DB: db}
		b, err := services.Build(env)
		must(t, err)
		return b
	})
	expect(t, h2.Open(), "welcome to Kapsalon Sam!")
}

func TestMoneyAndTimeInOtherSettings(t *testing.T) {
	h := newBot(t, appointments.Config{
		TimeZone: "Asia/Tokyo", Currency: "JPY",
		Services: []appointments.ServiceConfig{{ID: "cut", Name: "Cut", Duration: appointments.Minutes(60), Price: 4500}},
		Staff:    []appointments.StaffConfig{{ID: "ken", Name: "Ken"}},
		Hours:    map[string]string{"mon": "10:00-20:00", "tue": "10:00-20:00"},
	})
	// Mon 12:00 UTC is 21:00 in Tokyo: today is over.
	// One service, one person: straight to the day.
	q := question(t, say(t, h, "book"))
	if got := labels(q); got[0] != "Tomorrow, Tue 6 Jan" {
		t.Fatalf("days: %q", got)
	}
	expect(t, say(t, h, "tomorrow"), "Free times for your cut on Tue 6 Jan")
	expect(t, say(t, h, "2pm"), "Cut with Ken on Tue 6 Jan at 14:00 (1 h, ¥4500). Shall I book it?")
}
