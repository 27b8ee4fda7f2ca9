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

		// The quote, the booking, the ride's status and its end.
		"pickup-offer?":     "Where should we pick you up? Pick one, type an address, or share your location.",
		"other-address":     "Other address",
		"where-to-offer?":   "Where to?",
		"other":             "Other",
		"type-address":      "OK: type the address, or share a location (📎 → Location).",
		"choice-gone":       "Sorry, that choice is no longer available. Please type the address.",
		"address-please":    "Please type an address, or share a location (📎 → Location).",
		"no-option":         "There is no option %d. Pick 1 to %d, type an address, or share a location.",
		"same-place":        "That is where you are being picked up. Where do you want to go?",
		"when-please":       `Please type when you need the taxi: "now", "at 18:30" or "in 20 min".`,
		"quote-trip":        "From %s to %s, %s.",
		"quote-fare":        "About %s and %s: %s.",
		"quote-guessed":     "(A typed address has no map position, so I count a typical %s city trip. Share locations for an exact quote.)",
		"book-it-please":    "Shall I book it? Reply 1 for yes or 2 for no.",
		"lost-track":        `Sorry, I lost track of this booking. Say "book" to start again.`,
		"time-passed":       "The time you picked (%s) has passed in the meantime.",
		"booked-later":      "Booked: %s, from %s to %s. Quoted fare %s (ride %s).",
		"remind-and-driver": "I'll remind you %s and send your driver's details %s.",
		"driver-details":    "I'll send your driver's details %s.",
		"cancel-free":       `Say "cancel" to cancel, free of charge until the driver arrives.`,
		"all-busy?":         "Sorry, all our drivers are busy right now. Shall I try again?",
		"try-again":         "Try again",
		"no-thanks":         "No thanks",
		"booked-now":        "Booked (ride %s), quoted fare %s. %s",
		"ok-later":          `OK. Say "book" when you need a taxi.`,
		"already-booked":    `You already have a ride booked (%s): %s Say "cancel" to cancel it before booking another.`,
		"driver-line":       "🚕 Your driver is %s: %s, plate %s. %s will be at %s in about %s (%s).",
		"status-scheduled":  "Your ride from %s to %s is booked for %s (quoted %s). Your driver's details follow %s.",
		"status-assigned":   "Your driver %s (%s, %s) is on the way to %s, arriving in about %s.",
		"status-arrived":    "Your driver %s is waiting for you at %s: %s, plate %s.",
		"status-on-trip":    "You're on your way to %s with %s, arriving around %s.",
		"status-line":       "%s (ride %s)",
		"no-ride":           `You have no ride booked. Say "book" to order a taxi.`,
		"ride-stays":        "OK, your ride stays booked.",
		"draft-dropped":     `OK, I dropped this booking; nothing was booked. Say "book" whenever you need a taxi.`,
		"already-cancelled": "Your ride %s to %s is already cancelled, and you have no other ride booked.",
		"nothing-to-cancel": `You have no ride to cancel. Say "book" to order a taxi.`,
		"trip-started-no":   "Your trip to %s has already started, so it can't be cancelled any more. Ask %s to stop if you need to get out.",
		"fee?":              "%s is already waiting for you at %s, so cancelling now costs %s. Cancel anyway?",
		"fee-yes":           "Yes, cancel (%s fee)",
		"fee-no":            "No, keep my ride",
		"no-charge":         "No charge.",
		"fee-applies":       "A cancellation fee of %s applies.",
		"cancelled":         "Your ride %s to %s is cancelled. %s",
		"fee-please":        "Cancel with the fee? Reply 1 for yes or 2 for no.",
		"ride-ended":        "That ride has already ended; there is nothing to cancel.",
		"started-meantime":  "Your trip to %s has started in the meantime, so it can't be cancelled any more.",
		"reminder":          `⏰ Reminder: your taxi from %s to %s is booked for %s. Your driver's details follow %s. Say "cancel" if you no longer need it.`,
		"driver-away":       "Your driver %s is %s away.",
		"driver-arrived":    "🚕 Your driver has arrived at %s: %s, %s, plate %s.",
		"fee-from-now":      "(Cancelling from now on costs %s.)",
		"trip-started":      "Trip started: on your way to %s, arriving around %s. Enjoy the ride!",
		"no-driver":         `I'm very sorry: no driver became free for your %s ride to %s, so I had to cancel it. You won't be charged. Say "book" to try again.`,
		"still-looking":     "All our drivers are busy at the moment. I'm still looking for one for your %s ride and will message you as soon as someone is free.",
		"trip-done":         "Trip done: you've arrived at %s. Thanks for riding with %s!",
		"receipt":           "Receipt %s",
		"fare":              "Fare: %s",
		"distance":          "Distance: %s",
		"estimated":         "(estimated)",
		"duration":          "Duration: %s",
		"driver":            "Driver: %s (%s)",
		"tip-save":          `Tip: to book %s faster next time, say "save this as %s".`,
		"timed-out":         `Your booking timed out, so I dropped it. Say "book" to start again.`,
		"welcome-back-ride": "Welcome back, %s. %s",
		"again?":            "Welcome back, %s. %s to %s again?",
		"again-yes":         "Yes, book it again",
		"again-no":          "No, somewhere else",
		"welcome-ride":      "You're welcome! %s",
		"trip":              "From %s to %s.",
		"pickup-is":         "Pickup: %s.",
		"text-only":         `I can only read text and shared locations. Say "book" to order a taxi.`,
		"no-trips":          `You have no trips with us yet. Say "book" to order a taxi.`,
		"recent-trips":      "Your recent trips:",
		"too-far":           "I can only take bookings up to %s ahead.",
		"time-gone":         `%[1]s has already passed (it is %[2]s now). Please pick a later time, say "tomorrow at %[1]s", or "now".`,
		"not-a-time":        `Sorry, I couldn't read %q as a time. Try "now", "at 18:30", "in 20 min" or "tomorrow at 9:00".`,
		"no-favourite":      `I don't know your %s address yet. Type the address; afterwards you can say "save this as %s".`,
		"cant-see":          "I can't see where you are. Share your location (📎 → Location) or type the address.",
		"not-an-address":    `Sorry, %q doesn't look like an address. Type a street and number (e.g. "Keizersgracht 123"), a place such as "%s", or share a location.`,
		"too-long":          "That address is too long (at most %d characters).",
		"save-which":        `Save which place? Say for example "save Keizersgracht 123 as %s".`,
		"already-fav":       "That already is your %s.",
		"saved-fav":         `Saved %s as your %[2]s. Next time, just say "%[2]s".`,
		"help": "I'm the %[1]s bot. I can:\n\n" +
			"- **book**: order a taxi, now or for later (\"at 18:30\", \"in 20 min\", \"tomorrow at 9\")\n" +
			"- **status**: where your driver is\n" +
			"- **cancel**: cancel your ride (free until the driver arrives)\n" +
			"- **save this as home** / **save Keizersgracht 12 as work**: favourite places; then just say \"home\"\n" +
			"- **trips**: your recent trips and receipts\n" +
			"- **forget me**: erase what %[1]s knows about you\n\n" +
			"For a pickup or destination, type an address, pick a recent place, or share a location (📎 → Location).",
		// Words for times and amounts.
		"minute":   "minute",
		"minutes":  "minutes",
		"hour":     "hour",
		"hours":    "hours",
		"at-time":  "at %s",
		"tomorrow": "tomorrow",
		"on-day":   "on %s at %s",
		"now-lc":   "now",
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

		"pickup-offer?":     "Waar mogen we je ophalen? Kies er een, typ een adres, of deel je locatie.",
		"other-address":     "Ander adres",
		"where-to-offer?":   "Waar wil je heen?",
		"other":             "Anders",
		"type-address":      "Goed: typ het adres, of deel een locatie (📎 → Locatie).",
		"choice-gone":       "Sorry, die keuze is er niet meer. Typ het adres.",
		"address-please":    "Typ een adres, of deel een locatie (📎 → Locatie).",
		"no-option":         "Er is geen keuze %d. Kies 1 tot en met %d, typ een adres, of deel een locatie.",
		"same-place":        "Daar word je opgehaald. Waar wil je heen?",
		"when-please":       `Typ wanneer je de taxi nodig hebt: "nu", "om 18:30" of "over 20 minuten".`,
		"quote-trip":        "Van %s naar %s, %s.",
		"quote-fare":        "Ongeveer %s en %s: %s.",
		"quote-guessed":     "(Een getypt adres heeft geen plek op de kaart, dus ik reken met een gewone rit van %s in de stad. Deel locaties voor een precieze prijs.)",
		"book-it-please":    "Zal ik hem boeken? Antwoord 1 voor ja of 2 voor nee.",
		"lost-track":        `Sorry, ik ben deze boeking kwijtgeraakt. Zeg "taxi" om opnieuw te beginnen.`,
		"time-passed":       "De tijd die je koos (%s) is intussen voorbij.",
		"booked-later":      "Geboekt: %s, van %s naar %s. Geschatte prijs %s (rit %s).",
		"remind-and-driver": "Ik herinner je %s en stuur de gegevens van je chauffeur %s.",
		"driver-details":    "Ik stuur de gegevens van je chauffeur %s.",
		"cancel-free":       `Zeg "annuleer" om te annuleren, gratis tot de chauffeur er is.`,
		"all-busy?":         "Sorry, al onze chauffeurs zijn nu bezet. Zal ik het opnieuw proberen?",
		"try-again":         "Opnieuw proberen",
		"no-thanks":         "Nee, dank je",
		"booked-now":        "Geboekt (rit %s), geschatte prijs %s. %s",
		"ok-later":          `Goed. Zeg "taxi" wanneer je er een nodig hebt.`,
		"already-booked":    `Je hebt al een rit geboekt (%s): %s Zeg "annuleer" om die te annuleren voor je een nieuwe boekt.`,
		"driver-line":       "🚕 Je chauffeur is %s: %s, kenteken %s. %s is over ongeveer %[6]s bij %[5]s (%[7]s).",
		"status-scheduled":  "Je rit van %s naar %s is geboekt voor %s (geschat %s). De gegevens van je chauffeur volgen %s.",
		"status-assigned":   "Je chauffeur %s (%s, %s) is onderweg naar %s en is er over ongeveer %s.",
		"status-arrived":    "Je chauffeur %s wacht op je bij %s: %s, kenteken %s.",
		"status-on-trip":    "Je bent met %[2]s onderweg naar %[1]s en komt rond %[3]s aan.",
		"status-line":       "%s (rit %s)",
		"no-ride":           `Je hebt geen rit geboekt. Zeg "taxi" om een taxi te bestellen.`,
		"ride-stays":        "Goed, je rit blijft geboekt.",
		"draft-dropped":     `Goed, ik ben gestopt met deze boeking; er is niets geboekt. Zeg "taxi" wanneer je er een nodig hebt.`,
		"already-cancelled": "Je rit %s naar %s is al geannuleerd, en je hebt geen andere rit geboekt.",
		"nothing-to-cancel": `Je hebt geen rit om te annuleren. Zeg "taxi" om een taxi te bestellen.`,
		"trip-started-no":   "Je rit naar %s is al begonnen, dus annuleren kan niet meer. Vraag %s om te stoppen als je eruit wilt.",
		"fee?":              "%s wacht al op je bij %s, dus annuleren kost nu %s. Toch annuleren?",
		"fee-yes":           "Ja, annuleren (%s kosten)",
		"fee-no":            "Nee, houd mijn rit",
		"no-charge":         "Dit kost niets.",
		"fee-applies":       "Je betaalt %s annuleringskosten.",
		"cancelled":         "Je rit %s naar %s is geannuleerd. %s",
		"fee-please":        "Annuleren met kosten? Antwoord 1 voor ja of 2 voor nee.",
		"ride-ended":        "Die rit is al voorbij; er is niets te annuleren.",
		"started-meantime":  "Je rit naar %s is intussen begonnen, dus annuleren kan niet meer.",
		"reminder":          `⏰ Herinnering: je taxi van %s naar %s is geboekt voor %s. De gegevens van je chauffeur volgen %s. Zeg "annuleer" als je hem niet meer nodig hebt.`,
		"driver-away":       "Je chauffeur %s is er over %s.",
		"driver-arrived":    "🚕 Je chauffeur is er, bij %s: %s, %s, kenteken %s.",
		"fee-from-now":      "(Annuleren kost vanaf nu %s.)",
		"trip-started":      "De rit is begonnen: op weg naar %s, aankomst rond %s. Goede reis!",
		"no-driver":         `Het spijt me zeer: er kwam geen chauffeur vrij voor je rit van %s naar %s, dus ik heb hem geannuleerd. Je betaalt niets. Zeg "taxi" om het opnieuw te proberen.`,
		"still-looking":     "Al onze chauffeurs zijn nu bezet. Ik zoek nog een chauffeur voor je rit van %s en stuur je een bericht zodra er een vrij is.",
		"trip-done":         "Rit klaar: je bent aangekomen bij %s. Bedankt voor je rit met %s!",
		"receipt":           "Bon %s",
		"fare":              "Prijs: %s",
		"distance":          "Afstand: %s",
		"estimated":         "(geschat)",
		"duration":          "Duur: %s",
		"driver":            "Chauffeur: %s (%s)",
		"tip-save":          `Tip: om %s de volgende keer sneller te boeken, zeg "save this as %s".`,
		"timed-out":         `Je boeking duurde te lang, dus ik ben ermee gestopt. Zeg "taxi" om opnieuw te beginnen.`,
		"welcome-back-ride": "Welkom terug, %s. %s",
		"again?":            "Welkom terug, %s. Weer van %s naar %s?",
		"again-yes":         "Ja, boek hem weer",
		"again-no":          "Nee, ergens anders heen",
		"welcome-ride":      "Graag gedaan! %s",
		"trip":              "Van %s naar %s.",
		"pickup-is":         "Ophalen: %s.",
		"text-only":         `Ik kan alleen tekst en gedeelde locaties lezen. Zeg "taxi" om een taxi te bestellen.`,
		"no-trips":          `Je hebt nog geen ritten met ons. Zeg "taxi" om een taxi te bestellen.`,
		"recent-trips":      "Je laatste ritten:",
		"too-far":           "Ik neem boekingen aan tot %s vooruit.",
		"time-gone":         `%[1]s is al voorbij (het is nu %[2]s). Kies een latere tijd, zeg "morgen om %[1]s", of "nu".`,
		"not-a-time":        `Sorry, %q kon ik niet lezen als tijd. Probeer "nu", "om 18:30", "over 20 minuten" of "morgen om 9:00".`,
		"no-favourite":      `Ik ken je adres voor %s nog niet. Typ het adres; daarna kun je zeggen "save this as %s".`,
		"cant-see":          "Ik kan niet zien waar je bent. Deel je locatie (📎 → Locatie) of typ het adres.",
		"not-an-address":    `Sorry, %q lijkt geen adres. Typ een straat en nummer (bijv. "Keizersgracht 123"), een plek zoals "%s", of deel een locatie.`,
		"too-long":          "Dat adres is te lang (hooguit %d tekens).",
		"save-which":        `Welke plek bewaren? Zeg bijvoorbeeld "save Keizersgracht 123 as %s".`,
		"already-fav":       "Dat is al je %s.",
		"saved-fav":         `%s bewaard als je %[2]s. Zeg de volgende keer gewoon "%[2]s".`,
		"help": "Ik ben de bot van %[1]s. Ik kan:\n\n" +
			"- **taxi**: een taxi bestellen, voor nu of voor later (\"om 18:30\", \"over 20 minuten\", \"morgen om 9\")\n" +
			"- **status**: waar je chauffeur is\n" +
			"- **annuleer**: je rit annuleren (gratis tot de chauffeur er is)\n" +
			"- **save this as home** / **save Keizersgracht 12 as work**: vaste plekken bewaren; zeg daarna gewoon \"home\"\n" +
			"- **trips**: je laatste ritten en bonnen\n" +
			"- **vergeet mij**: wissen wat %[1]s van je weet\n\n" +
			"Voor ophalen of bestemming: typ een adres, kies een recente plek, of deel een locatie (📎 → Locatie).",
		"minute":   "minuut",
		"minutes":  "minuten",
		"hour":     "uur",
		"hours":    "uur",
		"at-time":  "om %s",
		"tomorrow": "morgen",
		"on-day":   "op %s om %s",
		"now-lc":   "nu",
	},
}

// trl is the text key in lang, formatted with args: for messages
// sent outside a conversation's turn and for the helpers that build
// parts of a sentence.
func (b *Bot) trl(lang, key string, args ...any) string {
	s := b.texts.In(lang, key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// tr is the text key in the customer's language, formatted with args.
func (b *Bot) tr(c *handlers.Conversation, key string, args ...any) string {
	s := b.texts.In(c.Language(), key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
