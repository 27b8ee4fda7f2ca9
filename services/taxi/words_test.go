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
	for said, want := range map[string]string{"at tomorrow 07:30": "tomorrow at 07:30", "tomorrow at 7:30": "tomorrow at 07:30", "morgen om 7:30": "morgen om 07:30"} {
		h, _ := newBot(t)
		h.Open()
		say(t, h, "book", "pick you up")
		say(t, h, "Damrak 1", "Where to?")
		say(t, h, "Museumplein 6", "When do you need")
		say(t, h, said, want, "1. ") // "Book it?", or in Dutch for "morgen om 7:30"
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

// A Dutch rider gets the whole ride in Dutch: the quote, the booking,
// the driver, the status, the cancellation and the receipt.
func TestARideInDutch(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			h, _ := newHarness(t, testConfig(), d)
			h.Open()
			say(t, h, "Ik wil een taxi van Centraal Station naar Museumplein 6", "Van Central Station naar Museumplein", "Wanneer heb je de taxi nodig?")
			say(t, h, "nu", "Ongeveer", "minuten", "Zal ik hem boeken?")
			say(t, h, "ja", "Geboekt (rit", "Je chauffeur is Jan", "kenteken")
			say(t, h, "waar is de chauffeur?", "Je chauffeur Jan", "onderweg naar Central Station")
			say(t, h, "annuleer", "is geannuleerd. Dit kost niets.")
			say(t, h, "annuleer", "Je rit", "is al geannuleerd")

			say(t, h, "taxi", "Waar mogen we je ophalen?")
			say(t, h, "Damrak 1", "Waar wil je heen?")
			say(t, h, "Museumplein 6", "Wanneer")
			say(t, h, "gisteren", "kon ik niet lezen als tijd")
			say(t, h, "morgen om 9:00", "morgen om 09:00", "Zal ik hem boeken?")
			say(t, h, "ja", "Geboekt: morgen om 09:00, van Damrak 1 naar Museumplein 6", "Ik herinner je morgen om", `Zeg "annuleer" om te annuleren`)
			say(t, h, "status", "Je rit van Damrak 1 naar Museumplein 6 is geboekt voor morgen 09:00")
			var r []handlertest.Reply
			for range 6 { // the reminder, the driver, the arrival, the trip and its end
				r = append(r, h.Advance(24*time.Hour)...)
			}
			expect(t, "the ride, in Dutch", r, "Herinnering: je taxi", "Je chauffeur is", "Je chauffeur is er, bij Damrak 1", "De rit is begonnen", "Rit klaar", "Bon ", "Prijs: ", "Afstand: ", "(geschat)", "Duur: ", "Chauffeur: ")
		})
	}
}

// A shared location is named in the rider's language.
func TestSharedLocationIsNamedInDutch(t *testing.T) {
	h, _ := newBot(t)
	h.Open()
	say(t, h, "ik wil een taxi", "Waar mogen we je ophalen?")
	r := h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "", "geo_uri": "geo:52.2000,5.1000"})
	expect(t, "far location", r, "Waar wil je heen?")
	say(t, h, "Museumplein 6", "Wanneer")
	say(t, h, "nu", "Van de gedeelde locatie (52.20000, 5.10000) naar Museumplein 6, nu.")
}
