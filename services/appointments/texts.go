package appointments

import (
	"fmt"

	"github.com/bizbots/bizbots/handlers"
)

// texts is the service's message catalogue: everything a customer reads,
// in English and Dutch. Override or add with `texts:` in the bot's
// config block. What staff read in the staff room stays English.
var texts = handlers.Texts{
	"en": {
		"timed-out":       "That question timed out, so nothing was changed.",
		"dropped":         `You didn't finish booking, so I dropped it. Say "book" to start again.`,
		"stopped":         "OK, I stopped there; nothing was booked or changed.",
		"no-such-service": "Sorry, we don't offer %q. Please pick a number from 1 to %d.",
		"pick-staff":      `Please pick a number from the list (or "anyone").`,
		"pick-number":     "Please pick a number from the list.",
		"didnt-get":       "Sorry, I didn't get that.",
		"kept":            "OK, I kept your appointment.",
		"question-gone":   `That question is no longer open. Say "book" to make an appointment.`,
		"move-kept":       "OK, your appointment stays as it was.",
		"nothing-booked":  `OK, nothing booked. Say "book" whenever you like.`,
		"answer-number":   "Please answer with a number from the list.",
		"answer-yes-no":   "Please answer with a number from the list (1 for yes).",
		"welcome-next":    `Welcome back, %s. Your next appointment: %s with %s %s. Say "my appointments" to see, move or cancel it, or "book" for another.`,
		"again?":          "Welcome back, %s. Another %s%s?",
		"again-yes":       "Yes, book a %s%s",
		"again-no":        "No, something else",
		"with":            " with %s",
		"greet-new":       `Hi %s, welcome to %s! I can book you a %s. Say "book" to make an appointment, or "help" to see what else I can do.`,
		"greet-back":      `Hi %s! Say "book" to make an appointment at %s, or "help" to see what else I can do.`,
		"list-a":          ", a ",
		"list-or-a":       " or a ",
		"help-cutoff":     " (up to %s before)",
		"help": "I'm the booking assistant of %s. You can say:\n" +
			"• book: make an appointment (%s)\n" +
			"• my appointments: see what you have booked\n" +
			"• move: reschedule an appointment%s\n" +
			"• cancel: cancel an appointment%s\n" +
			"• services: our services and prices\n" +
			"• hours: our opening hours\n" +
			"• language: speak English or Dutch\n" +
			"• forget me: erase what we know about you",
		"our-services":      "Our services:",
		"say-book":          `Say "book" to make an appointment.`,
		"our-hours":         "Our opening hours (%s time):",
		"closed":            "closed",
		"no-upcoming":       `You have no upcoming appointments. Say "book" to make one.`,
		"your-appointment":  "Your appointment:",
		"your-appointments": "Your appointments:",
		"list-end":          `Say "move" to reschedule or "cancel" to cancel.`,
		"describe":          "%s with %s (%s, ref %s)",
		"contact":           " Please contact us: %s.",
		"contact-shop":      " Please contact %s directly.",

		"no-offer":         "Sorry, we don't offer %q.",
		"what-book?":       "What would you like to book?",
		"anyone":           "Anyone",
		"who?":             "Who would you like for your %s?",
		"no-free-days":     "Sorry, there are no free times for a %s%s in the next %d days.%s",
		"later-dates":      "Later dates",
		"today-label":      "Today, %s",
		"tomorrow-label":   "Tomorrow, %s",
		"which-day?":       `Which day would you like%s? You can also type one, like "friday", "20 jan" or "tomorrow at 10:00".`,
		"day-not-got":      `I didn't get that day. Pick a number from the list, or type a day like "tomorrow", "friday" or "20 jan".`,
		"day-passed":       "%s has already passed. Please pick today or a later day.",
		"too-far-until":    "Sorry, I can only book up to %d days ahead, until %s.",
		"closed-on":        "Sorry, we're closed on %s. We're open %s.",
		"staff-off":        `Sorry, %s doesn't work on %s. Pick another day, or say "book" to choose someone else.`,
		"day-full":         "Sorry, there are no free times left on %s%s. Please pick another day.",
		"free-times":       "Free times",
		"other-free-times": "Other free times",
		"day-full-short":   "Sorry, there are no free times left on %s%s.",
		"later-times":      "Later times",
		"another-day":      "Another day",
		"slots?":           "%s for your %s on %s%s. You can also type a time, like 14:15.",
		"pick-or-time":     "Please pick a number from the list, or type a time like 14:15.",
		"not-in-hours":     "Sorry, a %s at %s doesn't fit our opening hours on %s: %s (a %s takes %s).",
		"grid":             "Appointments start every %s. Please pick a time from the list, or type one like 10:%02d.",
		"passed":           "Sorry, %s has already passed.",
		"too-soon":         "Sorry, %s is too soon: we need %s notice.",
		"too-far":          "Sorry, I can only book up to %d days ahead.",
		"taken":            "Sorry, %s is already taken%s.",
		"no-longer-booked": `That appointment is no longer booked. Say "book" to make a new one.`,
		"move?":            "Move your %s from %s to %s%s?",
		"move-yes":         "Yes, move it",
		"other-time":       "Another time",
		"move-no":          "No, keep the old time",
		"book?":            "%s%s on %s (%s, %s). Shall I book it?",
		"book-yes":         "Yes, book it",
		"book-no":          "No, don't book",
		"just-taken":       "Sorry, %s%s was just taken.",
		"moved":            "Moved: your %s is now with %s on %s (was %s).%s",
		"booked":           `Booked: %s with %s on %s (ref %s). It takes %s and costs %s.%s Say "my appointments" to see, move or cancel it.`,
		"remind":           " I'll remind you %s before.",
		"and":              " and ",

		"too-late-cancel":   "Sorry, it's too late to cancel your %s online: appointments can be cancelled or moved up to %s before they start.%s",
		"too-late-change":   "Sorry, it's too late to change your %s online: appointments can be cancelled or moved up to %s before they start.%s",
		"pick-line":         "%s: %s with %s",
		"which-cancel?":     "Which appointment would you like to cancel?",
		"which-move?":       "Which appointment would you like to move?",
		"no-longer-open":    `That appointment is no longer open. Say "my appointments" to see what you have booked.`,
		"cancel?":           "Cancel your %s with %s on %s?",
		"cancel-yes":        "Yes, cancel it",
		"cancel-no":         "No, keep it",
		"cancelled":         `Cancelled: your %s with %s on %s. Say "book" to make a new appointment.`,
		"cancelled-by-shop": `Sorry, %s had to cancel your %s with %s on %s.%s Say "book" to make a new appointment.`,
		"no-longer-offer":   "Sorry, we no longer offer %s, so I can't move it.%s",
		"new-time":          "Let's find a new time for your %s (now %s with %s).",
		"if-cancel":         `If you can't make it, say "cancel".`,
		"if-not":            "If you can't make it, please let us know as soon as possible.",
		"if-contact":        "If you can't make it, please contact us: %s.",
		"reminder":          "⏰ Reminder: your %s with %s is %s (ref %s). %s",

		"today-at":    "today at %s",
		"tomorrow-at": "tomorrow at %s",
		"on":          "on %s",
		"at":          "%s at %s",
		"welcome":     `You're welcome! Say "book" whenever you need an appointment.`,
	},
	"nl": {
		"timed-out":       "Die vraag is verlopen, dus er is niets veranderd.",
		"dropped":         `Je had de afspraak nog niet afgerond, dus die heb ik laten vallen. Zeg "boeken" om opnieuw te beginnen.`,
		"stopped":         "Goed, ik ben gestopt; er is niets geboekt of veranderd.",
		"no-such-service": "Sorry, %q bieden we niet aan. Kies een nummer van 1 tot %d.",
		"pick-staff":      `Kies een nummer uit de lijst (of "maakt niet uit").`,
		"pick-number":     "Kies een nummer uit de lijst.",
		"didnt-get":       "Sorry, dat begreep ik niet.",
		"kept":            "Goed, je afspraak blijft staan.",
		"question-gone":   `Die vraag staat niet meer open. Zeg "boeken" om een afspraak te maken.`,
		"move-kept":       "Goed, je afspraak blijft zoals hij was.",
		"nothing-booked":  `Goed, er is niets geboekt. Zeg "boeken" wanneer je wilt.`,
		"answer-number":   "Antwoord met een nummer uit de lijst.",
		"answer-yes-no":   "Antwoord met een nummer uit de lijst (1 voor ja).",
		"welcome-next":    `Welkom terug, %s. Je volgende afspraak: %s bij %s %s. Zeg "mijn afspraken" om hem te bekijken, te verzetten of af te zeggen, of "boeken" voor nog een.`,
		"again?":          "Welkom terug, %s. Weer een %s%s?",
		"again-yes":       "Ja, boek een %s%s",
		"again-no":        "Nee, iets anders",
		"with":            " bij %s",
		"greet-new":       `Hoi %s, welkom bij %s! Ik kan een %s voor je boeken. Zeg "boeken" om een afspraak te maken, of "hulp" om te zien wat ik nog meer kan.`,
		"greet-back":      `Hoi %s! Zeg "boeken" om een afspraak te maken bij %s, of "hulp" om te zien wat ik nog meer kan.`,
		"list-a":          ", een ",
		"list-or-a":       " of een ",
		"help-cutoff":     " (tot %s van tevoren)",
		"help": "Ik ben de afsprakenassistent van %s. Je kunt zeggen:\n" +
			"• boeken: een afspraak maken (%s)\n" +
			"• mijn afspraken: zien wat je hebt geboekt\n" +
			"• verzetten: een afspraak verplaatsen%s\n" +
			"• annuleren: een afspraak afzeggen%s\n" +
			"• diensten: onze diensten en prijzen\n" +
			"• openingstijden: wanneer we open zijn\n" +
			"• taal: Nederlands of Engels\n" +
			"• vergeet mij: wissen wat we van je weten",
		"our-services":      "Onze diensten:",
		"say-book":          `Zeg "boeken" om een afspraak te maken.`,
		"our-hours":         "Onze openingstijden (tijdzone %s):",
		"closed":            "gesloten",
		"no-upcoming":       `Je hebt geen komende afspraken. Zeg "boeken" om er een te maken.`,
		"your-appointment":  "Je afspraak:",
		"your-appointments": "Je afspraken:",
		"list-end":          `Zeg "verzetten" om te verplaatsen of "annuleren" om af te zeggen.`,
		"describe":          "%s bij %s (%s, ref %s)",
		"contact":           " Neem contact met ons op: %s.",
		"contact-shop":      " Neem rechtstreeks contact op met %s.",

		"no-offer":         "Sorry, %q bieden we niet aan.",
		"what-book?":       "Wat wil je boeken?",
		"anyone":           "Maakt niet uit",
		"who?":             "Bij wie wil je je %s?",
		"no-free-days":     "Sorry, er zijn geen vrije tijden voor een %s%s in de komende %d dagen.%s",
		"later-dates":      "Latere dagen",
		"today-label":      "Vandaag, %s",
		"tomorrow-label":   "Morgen, %s",
		"which-day?":       `Welke dag wil je%s? Je kunt ook een dag typen, zoals "vrijdag", "20 jan" of "morgen om 10:00".`,
		"day-not-got":      `Die dag begreep ik niet. Kies een nummer uit de lijst, of typ een dag zoals "morgen", "vrijdag" of "20 jan".`,
		"day-passed":       "%s is al voorbij. Kies vandaag of een latere dag.",
		"too-far-until":    "Sorry, ik kan maar %d dagen vooruit boeken, tot %s.",
		"closed-on":        "Sorry, op %s zijn we dicht. We zijn open op %s.",
		"staff-off":        `Sorry, %s werkt niet op %s. Kies een andere dag, of zeg "boeken" om iemand anders te kiezen.`,
		"day-full":         "Sorry, op %s zijn er geen vrije tijden meer%s. Kies een andere dag.",
		"free-times":       "Vrije tijden",
		"other-free-times": "Andere vrije tijden",
		"day-full-short":   "Sorry, op %s zijn er geen vrije tijden meer%s.",
		"later-times":      "Latere tijden",
		"another-day":      "Een andere dag",
		"slots?":           "%s voor je %s op %s%s. Je kunt ook een tijd typen, zoals 14:15.",
		"pick-or-time":     "Kies een nummer uit de lijst, of typ een tijd zoals 14:15.",
		"not-in-hours":     "Sorry, een %s om %s past niet in onze openingstijden op %s: %s (een %s duurt %s).",
		"grid":             "Afspraken beginnen elke %s. Kies een tijd uit de lijst, of typ er een zoals 10:%02d.",
		"passed":           "Sorry, %s is al voorbij.",
		"too-soon":         "Sorry, %s is te snel: we hebben %s van tevoren nodig.",
		"too-far":          "Sorry, ik kan maar %d dagen vooruit boeken.",
		"taken":            "Sorry, %s is al bezet%s.",
		"no-longer-booked": `Die afspraak staat niet meer. Zeg "boeken" om een nieuwe te maken.`,
		"move?":            "Je %s verzetten van %s naar %s%s?",
		"move-yes":         "Ja, verzetten",
		"other-time":       "Een andere tijd",
		"move-no":          "Nee, houd de oude tijd",
		"book?":            "%s%s op %s (%s, %s). Zal ik hem boeken?",
		"book-yes":         "Ja, boeken",
		"book-no":          "Nee, niet boeken",
		"just-taken":       "Sorry, %s%s is net bezet.",
		"moved":            "Verzet: je %s is nu bij %s op %s (was %s).%s",
		"booked":           `Geboekt: %s bij %s op %s (ref %s). Het duurt %s en kost %s.%s Zeg "mijn afspraken" om hem te bekijken, te verzetten of af te zeggen.`,
		"remind":           " Ik stuur je %s van tevoren een herinnering.",
		"and":              " en ",

		"too-late-cancel":   "Sorry, het is te laat om je %s online af te zeggen: afspraken kunnen tot %s van tevoren worden afgezegd of verzet.%s",
		"too-late-change":   "Sorry, het is te laat om je %s online te verzetten: afspraken kunnen tot %s van tevoren worden afgezegd of verzet.%s",
		"pick-line":         "%s: %s bij %s",
		"which-cancel?":     "Welke afspraak wil je afzeggen?",
		"which-move?":       "Welke afspraak wil je verzetten?",
		"no-longer-open":    `Die afspraak staat niet meer open. Zeg "mijn afspraken" om te zien wat je hebt geboekt.`,
		"cancel?":           "Je %s bij %s op %s afzeggen?",
		"cancel-yes":        "Ja, afzeggen",
		"cancel-no":         "Nee, laten staan",
		"cancelled":         `Afgezegd: je %s bij %s op %s. Zeg "boeken" om een nieuwe afspraak te maken.`,
		"cancelled-by-shop": `Sorry, %s moest je %s bij %s op %s afzeggen.%s Zeg "boeken" om een nieuwe afspraak te maken.`,
		"no-longer-offer":   "Sorry, %s bieden we niet meer aan, dus ik kan de afspraak niet verzetten.%s",
		"new-time":          "Laten we een nieuwe tijd zoeken voor je %s (nu %s bij %s).",
		"if-cancel":         `Kun je niet? Zeg dan "annuleren".`,
		"if-not":            "Kun je niet? Laat het ons dan zo snel mogelijk weten.",
		"if-contact":        "Kun je niet? Neem dan contact met ons op: %s.",
		"reminder":          "⏰ Herinnering: je %s bij %s is %s (ref %s). %s",

		"today-at":    "vandaag om %s",
		"tomorrow-at": "morgen om %s",
		"on":          "op %s",
		"at":          "%s om %s",
		"welcome":     `Graag gedaan! Zeg "boeken" wanneer je een afspraak wilt.`,
	},
}

// tr is the text key in the customer's language, filled with args.
func (b *Bot) tr(c *handlers.Conversation, key string, args ...any) string {
	return b.trl(c.Language(), key, args...)
}

// trl is the text key in lang, filled with args.
func (b *Bot) trl(lang, key string, args ...any) string {
	s := b.texts.Now().In(lang, key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// staffLang is the language of what the staff room reads.
const staffLang = "en"
