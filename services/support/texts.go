package support

import (
	"fmt"

	"github.com/bizbots/bizbots/handlers"
)

// texts is the service's message catalogue for what a customer reads
// first and most: the greeting, the FAQ follow-up, tickets, the rating.
// FAQ answers are the business's own text, in the language it wrote
// them. Override or add with `texts:` in the bot's config block.
var texts = handlers.Texts{
	"en": {
		"greet-new":      `Hi %s, welcome to %s support! Ask me a question (shipping, returns, payment…), or say "person" to talk to someone.`,
		"greet-hi":       `Hi %s! What can I help you with? Ask me a question, or say "person" to talk to someone.`,
		"welcome":        "You're welcome! Write any time you need us.",
		"did-it-help":    "Did that help?",
		"helped-yes":     "Yes, thanks",
		"helped-no":      "No, talk to a person",
		"glad":           "Glad I could help! Ask me anything else any time.",
		"ticket-opened":  "I've opened ticket %d for you, %s. %s",
		"no-open-ticket": `You have no open ticket. Ask me a question, or say "person" to talk to someone.`,
		"rated":          "Thank you for your rating!",
	},
	"nl": {
		"greet-new":      `Hoi %s, welkom bij de klantenservice van %s! Stel me een vraag (verzending, retour, betalen…), of zeg "mens" om iemand te spreken.`,
		"greet-hi":       `Hoi %s! Waarmee kan ik je helpen? Stel me een vraag, of zeg "mens" om iemand te spreken.`,
		"welcome":        "Graag gedaan! Schrijf ons wanneer je wilt.",
		"did-it-help":    "Heeft dat geholpen?",
		"helped-yes":     "Ja, bedankt",
		"helped-no":      "Nee, ik wil een mens spreken",
		"glad":           "Fijn dat ik kon helpen! Vraag gerust iets anders.",
		"ticket-opened":  "Ik heb ticket %d voor je geopend, %s. %s",
		"no-open-ticket": `Je hebt geen open ticket. Stel me een vraag, of zeg "mens" om iemand te spreken.`,
		"rated":          "Dank je wel voor je beoordeling!",
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
