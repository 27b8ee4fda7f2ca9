package ordering

import (
	"fmt"

	"github.com/bizbots/bizbots/handlers"
)

// texts is the service's message catalogue, English and Dutch, for what
// a customer reads most: the greeting, help, the menu, the cart and the
// checkout. A business overrides or adds texts with `texts:` in the
// bot's config block (same keys; %s and %d stay in the same order).
var texts = handlers.Texts{
	"en": {
		"greet-new":      `Hi %s, welcome to %s! Say "menu" to see what we have, or tell me what you'd like, like "add 2 margherita large". Say "help" for everything I can do.`,
		"greet-back":     `Welcome back, %s! Say "menu" to see what we have.`,
		"greet-usual":    "Welcome back, %s. The usual %s?",
		"usual-yes":      "Yes please",
		"usual-no":       "No, show me the menu",
		"menu":           "What would you like? Pick a category:",
		"added":          `Added %d × %s (%s). Your cart: %s, %s. Say "checkout" when you're ready, or keep adding.`,
		"item":           "1 item",
		"items":          "%d items",
		"which-size":     "Which size?",
		"delivery-or":    "%s for %s. Delivery or pickup? (You can also type the delivery address.)",
		"delivery":       "Delivery",
		"pickup-at":      "Pickup at %s",
		"address?":       `What's the delivery address? (street and number, postcode, city; "cancel" stops the checkout, "help" shows what else you can say)`,
		"note?":          `Any note for us? Type it (like "ring twice" or "no onions"; "help" shows what else you can say), or:`,
		"no-note":        "No note",
		"place?":         "Place this order?",
		"your-order":     "Your order:",
		"fee-line":       "Delivery — %s",
		"total-line":     "Total: %s",
		"delivery-to":    "Delivery to %s",
		"note-line":      "Note: %s",
		"place-yes":      "Yes, place the order",
		"place-no":       "No, not yet",
		"not-ordered":    `OK, nothing is ordered. Your cart is still here: say "checkout" when you're ready.`,
		"stopped":        `OK, I stopped the checkout. Your cart is still here: say "checkout" when you're ready.`,
		"placed":         "Thank you! Your order number is %d.\n%s\n%s I'll message you here as it moves along; ask \"status\" any time.",
		"ready-at":       "It should be ready for pickup at about %s (%d minutes after you ordered).",
		"arrive-at":      "It should arrive at about %s (%d minutes after you ordered).",
		"usual-times":    "Pickup orders are usually ready in about %d minutes; delivery takes about %d minutes.",
		"welcome-open":   "You're welcome! I'll message you here as order %d moves along.",
		"welcome":        `You're welcome! Say "menu" whenever you'd like to order.`,
		"ack-open":       "👍 I'll message you here as order %d moves along.",
		"ack":            `👍 Say "menu" to see what we have, or "help" for everything I can do.`,
		"not-understood": `Sorry, I didn't get "%s". Say "menu" to browse, "add 2 margherita large" to order, or "help" to see what I can do.`,
		"help": `I take orders for %s. You can say:
• menu: browse the menu by category
• search vegan (or just type what you're looking for)
• add 2 margherita large
• cart: see your cart; remove 1 / change 1 to 3 to edit it; empty cart
• checkout: order for delivery or pickup
• the usual: order what you had last time
• status (or "where is my order?"); cancel: cancel an order not yet being prepared
• hours: when we're open
• language: English or Nederlands
• forget me: erase what we know about you`,
	},
	"nl": {
		"greet-new":      `Hoi %s, welkom bij %s! Zeg "menu" om te zien wat we hebben, of zeg wat je wilt, zoals "2 margherita groot". Zeg "hulp" voor alles wat ik kan.`,
		"greet-back":     `Welkom terug, %s! Zeg "menu" om te zien wat we hebben.`,
		"greet-usual":    "Welkom terug, %s. Het gebruikelijke: %s?",
		"usual-yes":      "Ja, graag",
		"usual-no":       "Nee, laat het menu zien",
		"menu":           "Wat wil je? Kies een categorie:",
		"added":          `%d × %s toegevoegd (%s). Je mandje: %s, %s. Zeg "afrekenen" als je klaar bent, of voeg meer toe.`,
		"item":           "1 artikel",
		"items":          "%d artikelen",
		"which-size":     "Welke maat?",
		"delivery-or":    "%s voor %s. Bezorgen of afhalen? (Je kunt ook meteen het bezorgadres typen.)",
		"delivery":       "Bezorgen",
		"pickup-at":      "Afhalen bij %s",
		"address?":       `Wat is het bezorgadres? (straat en huisnummer, postcode, plaats; "annuleren" stopt het afrekenen, "hulp" laat zien wat je nog meer kunt zeggen)`,
		"note?":          `Nog een opmerking voor ons? Typ hem (zoals "twee keer bellen" of "zonder ui"; "hulp" laat zien wat je nog meer kunt zeggen), of:`,
		"no-note":        "Geen opmerking",
		"place?":         "Deze bestelling plaatsen?",
		"your-order":     "Je bestelling:",
		"fee-line":       "Bezorgkosten — %s",
		"total-line":     "Totaal: %s",
		"delivery-to":    "Bezorgen op %s",
		"note-line":      "Opmerking: %s",
		"place-yes":      "Ja, plaats de bestelling",
		"place-no":       "Nee, nog niet",
		"not-ordered":    `Goed, er is niets besteld. Je mandje blijft bewaard: zeg "afrekenen" als je klaar bent.`,
		"stopped":        `Goed, ik ben gestopt met afrekenen. Je mandje blijft bewaard: zeg "afrekenen" als je klaar bent.`,
		"placed":         "Dank je wel! Je bestelnummer is %d.\n%s\n%s Ik stuur je hier een bericht als er iets verandert; vraag \"status\" wanneer je wilt.",
		"ready-at":       "Hij is rond %s klaar om af te halen (%d minuten na je bestelling).",
		"arrive-at":      "Hij wordt rond %s bezorgd (%d minuten na je bestelling).",
		"usual-times":    "Afhaalbestellingen zijn meestal in zo'n %d minuten klaar; bezorgen duurt zo'n %d minuten.",
		"welcome-open":   "Graag gedaan! Ik stuur je hier een bericht als bestelling %d verder is.",
		"welcome":        `Graag gedaan! Zeg "menu" wanneer je wilt bestellen.`,
		"ack-open":       "👍 Ik stuur je hier een bericht als bestelling %d verder is.",
		"ack":            `👍 Zeg "menu" om te zien wat we hebben, of "hulp" voor alles wat ik kan.`,
		"not-understood": `Sorry, "%s" begreep ik niet. Zeg "menu" om te kijken, "2 margherita groot" om te bestellen, of "hulp" voor alles wat ik kan.`,
		"help": `Ik neem bestellingen op voor %s. Je kunt zeggen:
• menu: het menu per categorie
• zoek vegan (of typ gewoon wat je zoekt)
• 2 margherita groot
• mandje: je mandje; verwijder 1 / verander 1 in 3; leeg mandje
• afrekenen: bestellen om te bezorgen of af te halen
• het gebruikelijke: wat je vorige keer had
• status (of "waar blijft mijn bestelling?"); annuleren: een bestelling annuleren die nog niet in de maak is
• openingstijden
• taal: English of Nederlands
• vergeet mij: wis wat we van je weten`,
	},
}

// tr is the text key in the customer's language, formatted with args.
func (t *turn) tr(key string, args ...any) string {
	s := t.b.texts.Now().In(t.c.Language(), key)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}
