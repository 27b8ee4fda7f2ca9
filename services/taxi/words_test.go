package taxi_test

import (
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

// The misfires of issue 14, in the customer's words, on both engines.
func TestWhatRidersActuallyType(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			h, _ := newHarness(t, testConfig(), d)
			h.Open()
			say(t, h, "I need a taxi from Centraal Station to Museumplein 6", "From Central Station to Museumplein", "When do you need the taxi?")
			say(t, h, "right now please", "Book it?")
			say(t, h, "yes please", "Booked")
			say(t, h, "where is the driver?", "Your driver Jan")
			say(t, h, "cancel please", "cancel")
		})
	}
}

// "at tomorrow 07:30" is tomorrow at 07:30, as is the Dutch "morgen om
// 7:30".
func TestTomorrowInAnyOrder(t *testing.T) {
	for _, said := range []string{"at tomorrow 07:30", "tomorrow at 7:30", "morgen om 7:30"} {
		h, _ := newBot(t)
		h.Open()
		say(t, h, "book", "pick you up")
		say(t, h, "Damrak 1", "Where to?")
		say(t, h, "Museumplein 6", "When do you need")
		say(t, h, said, "tomorrow at 07:30", "1. ") // "Book it?", or in Dutch for "morgen om 7:30"
	}
}

// A shared location without a name is named after the nearest of the
// company's own places; far from all of them, by its coordinates.
func TestSharedLocationIsNamed(t *testing.T) {
	h, _ := newBot(t)
	h.Open()
	r := h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "", "geo_uri": "geo:52.3790,4.9001"})
	expect(t, "near a known place", r, "Pickup: Central Station.", "Where to?")
	h.Clock.Advance(time.Second)
	r = h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "", "geo_uri": "geo:52.2000,5.1000"})
	expect(t, "far location", r, "When do you need")
	say(t, h, "now", "From Central Station to the pinned location (52.20000, 5.10000), now.")
}

// The bot greets with the name it has in the chat list.
func TestGreetingUsesTheBotsName(t *testing.T) {
	uri, db := openDB(t, store.SQLite)
	bot, err := services.Build(services.Env{Bot: config.Bot{Localpart: "taxi", DisplayName: "City Taxi", Service: "taxi"}, ConfigFile: "config.yaml", DB: db})
	if err != nil {
		t.Fatal(err)
	}
	h := handlertest.New(t, bot, handlertest.Options{URI: uri})
	h.Clock.Advance(time.Second)
	expect(t, "greeting", h.Open(), "welcome to City Taxi!")
}
