package appointments_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
)

// A Dutch customer books, lists and cancels in their own words: the bot
// answers in Dutch from their first message on, reads Dutch days and
// times ("morgen om half elf"), and takes "ja graag" and "annuleren".
func TestDutchCustomerBooksAndCancels(t *testing.T) {
	h := newBot(t, appointments.Config{Business: "Kapsalon Noor"}) // now: Mon 5 Jan, 13:00 in Amsterdam
	h.Open()
	expect(t, say(t, h, "hoi"), "Hoi Alice")
	q := question(t, say(t, h, "ik wil een afspraak maken"))
	expect(t, []handlertest.Reply{q}, "Wat wil je boeken?")
	q = question(t, say(t, h, "knipbeurt"))
	expect(t, []handlertest.Reply{q}, "Bij wie wil je je haircut?")
	if got := labels(q); got[0] != "Maakt niet uit" {
		t.Fatalf("staff: %q", got)
	}
	q = question(t, say(t, h, "maakt niet uit"))
	expect(t, []handlertest.Reply{q}, "Welke dag wil je?", "Morgen, di 6 jan", "wo 7 jan")
	q = question(t, say(t, h, "morgen om half elf"))
	expect(t, []handlertest.Reply{q}, "Haircut op di 6 jan om 10:30 (30 min, €25.00). Zal ik hem boeken?", "Ja, boeken", "Een andere tijd")
	r := say(t, h, "ja graag")
	expect(t, r, "Geboekt: haircut bij ", " op di 6 jan om 10:30 (ref ", "kost €25.00", "Ik stuur je 2 uur van tevoren een herinnering.")
	expect(t, say(t, h, "mijn afspraken"), "Je afspraak:\n• di 6 jan om 10:30: haircut bij ")
	q = question(t, say(t, h, "annuleren"))
	expect(t, []handlertest.Reply{q}, "Je haircut bij ", " op di 6 jan om 10:30 afzeggen?", "Ja, afzeggen")
	expect(t, say(t, h, "ja"), "Afgezegd: je haircut bij ")
	expect(t, say(t, h, "mijn afspraken"), "Je hebt geen komende afspraken.")
}

// A day and time typed together at the day question, with weekday names
// and a 12-hour time the shop can only mean in the afternoon.
func TestDutchDayAndTimeTogether(t *testing.T) {
	h := newBot(t, appointments.Config{})
	h.Open()
	say(t, h, "taal nederlands")
	atDay := func() { // a beard trim with Sam, at "which day?"
		for _, s := range []string{"boeken", "baard", "Sam"} {
			say(t, h, s)
		}
	}
	atDay()
	expect(t, say(t, h, "dinsdag 14:00"), "Beard trim bij Sam op di 6 jan om 14:00")
	expect(t, say(t, h, "nee"), "Goed, er is niets geboekt.")
	atDay()
	expect(t, say(t, h, "woensdag om 3 uur"), "op wo 7 jan om 15:00") // 03:00 is closed; 15:00 is open
	say(t, h, "stop")
	atDay()
	expect(t, say(t, h, "maandag"), "Sorry, op maandag zijn we dicht. We zijn open op di, wo, do, vr, za.")
	expect(t, say(t, h, "morgen om half acht"), "om 07:30 past niet in onze openingstijden op di 6 jan")
}

// A business's own texts replace the service's, dates included; a text
// the service does not have is refused at start with its name.
func TestOwnTexts(t *testing.T) {
	h := newBot(t, appointments.Config{Texts: handlers.Texts{"nl": {
		"greet-new": "Dag %s! Welkom bij %s. Een %s?",
		"at":        "%s, %s uur",
	}}})
	h.Open()
	expect(t, say(t, h, "hoi"), "Dag Alice! Welkom bij the barbershop. Een haircut of een beard trim?")
	for _, s := range []string{"boeken", "baard", "Sam"} {
		say(t, h, s)
	}
	expect(t, say(t, h, "morgen om 10 uur"), "Beard trim bij Sam op di 6 jan, 10:00 uur (15 min, €15.00).")
	_, err := appointments.New(appointments.Config{Texts: handlers.Texts{"nl": {"greet-neww": "x"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), `texts.nl: unknown text "greet-neww"`) {
		t.Fatalf("unknown text: %v", err)
	}
}

// "boeken" alone is Dutch enough: the answer is Dutch from the first word.
func TestDutchFromTheFirstWord(t *testing.T) {
	h := newBot(t, appointments.Config{})
	h.Open()
	expect(t, say(t, h, "boeken"), "Wat wil je boeken?")
	expect(t, say(t, h, "knippen"), "Bij wie wil je je haircut?")
}

// What owners change in the console reaches the running bot at once and
// in every language: an edited English welcome wins for English
// customers, Dutch ones keep the catalogue's Dutch (the console edits the
// English texts only), and the business's own texts from the config still
// apply in the shop rebuilt with the new opening hours.
func TestConsoleEditsInBothLanguages(t *testing.T) {
	h, b := newBotAndHandler(t, appointments.Config{Texts: handlers.Texts{"nl": {"at": "%s, %s uur"}}})
	if err := b.ApplySettings(map[string]string{"hours.mon": "10:00-16:00",
		"text.en.greet-new": "Hello %s, this is %s; we do %s."}); err != nil {
		t.Fatal(err)
	}
	h.Open()
	expect(t, say(t, h, "hello"), "Hello Alice, this is the barbershop; we do haircut or a beard trim.")
	expect(t, say(t, h, "hours"), "Mon: 10:00–12:30, 13:00–16:00")
	nl := h.As("@bob:test", "Bob")
	nl.Open()
	expect(t, say(t, nl, "hoi"), "Hoi Bob, welkom bij the barbershop!")
	expect(t, say(t, nl, "openingstijden"), "ma: 10:00–12:30, 13:00–16:00")
	for _, s := range []string{"boeken", "baard", "Sam"} {
		say(t, nl, s)
	}
	expect(t, say(t, nl, "maandag om 15 uur"), "Beard trim bij Sam op ma 5 jan, 15:00 uur") // closed on mondays before the edit
}
