package taxi

import (
	"fmt"

	"github.com/bizbots/bizbots/handlers"
)

// texts is the service's message catalogue for the booking a customer
// goes through: greeting, the questions, the answer to "no". Override
// or add with `texts:` in the bot's config block.
var texts = handlers.Texts{
	"en": {
		"greet-new":      `Hi %s, welcome to %s! I can get you a taxi now or book one for later: say "book", or tell me where, like "from %s to Museumplein 6". Say "help" to see what else I can do.`,
		"greet-back":     `Welcome back, %s! Say "book" to order a taxi.`,
		"pickup?":        "Where should we pick you up? Type an address, or share your location (📎 → Location).",
		"where-to?":      "Where to? Type an address or a place, or share a location.",
		"when?":          `When do you need the taxi? Or type a time, like "at 18:30" or "in 20 min".`,
		"now":            "Now",
		"in15":           "In 15 min",
		"in30":           "In 30 min",
		"book-it?":       "Book it?",
		"book-yes":       "Yes, book it",
		"book-no":        "No, cancel",
		"nothing-booked": `OK, nothing booked. Say "book" whenever you need a taxi.`,
		"unknown":        `Sorry, I didn't get that. Say "book" to order a taxi, "status" to see your ride, or "help" for more.`,
		"welcome":        `You're welcome! Say "book" whenever you need a taxi.`,
	},
	"nl": {
		"greet-new":      `Hoi %s, welkom bij %s! Ik regel een taxi voor nu of voor later: zeg "taxi", of zeg waarheen, zoals "van %s naar Museumplein 6". Zeg "hulp" voor wat ik nog meer kan.`,
		"greet-back":     `Welkom terug, %s! Zeg "taxi" om een taxi te bestellen.`,
		"pickup?":        "Waar mogen we je ophalen? Typ een adres, of deel je locatie (📎 → Locatie).",
		"where-to?":      "Waar wil je heen? Typ een adres of een plek, of deel een locatie.",
		"when?":          `Wanneer heb je de taxi nodig? Of typ een tijd, zoals "om 18:30" of "over 20 minuten".`,
		"now":            "Nu",
		"in15":           "Over 15 min",
		"in30":           "Over 30 min",
		"book-it?":       "Zal ik hem boeken?",
		"book-yes":       "Ja, boek maar",
		"book-no":        "Nee, annuleren",
		"nothing-booked": `Goed, er is niets geboekt. Zeg "taxi" wanneer je er een nodig hebt.`,
		"unknown":        `Sorry, dat begreep ik niet. Zeg "taxi" om een taxi te bestellen, "status" voor je rit, of "hulp" voor meer.`,
		"welcome":        `Graag gedaan! Zeg "taxi" wanneer je er een nodig hebt.`,
	},
}

// tr is the text key in the customer's language, formatted with args.
func (b *Bot) tr(c *handlers.Conversation, key string, args ...any) string {
	s := b.texts.In(c.Language(), key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
