package handlers

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bizbots/bizbots/internal/understand"
)

// Texts is a message catalogue: for each language ("en", "nl"), texts by
// key. A service keeps one with its English and Dutch texts; a business
// overrides or adds texts from its config with Merge.
type Texts map[string]map[string]string

// In returns the text for key in lang, else in English, else the key
// itself (so a missing text shows up instead of vanishing).
func (t Texts) In(lang, key string) string {
	if s, ok := t[lang][key]; ok {
		return s
	}
	if s, ok := t["en"][key]; ok {
		return s
	}
	return key
}

// Merge returns a catalogue with over's texts replacing or adding to t's.
func (t Texts) Merge(over Texts) Texts {
	out := Texts{}
	for _, src := range []Texts{t, over} {
		for lang, texts := range src {
			if out[lang] == nil {
				out[lang] = map[string]string{}
			}
			for k, v := range texts {
				out[lang][k] = v
			}
		}
	}
	return out
}

// Check refuses overrides of texts t does not have (in English), and
// language codes that cannot be one, so a typo in a business's config is
// found at start-up instead of never shown. Errors name the key.
func (t Texts) Check(over Texts) error {
	for lang, m := range over {
		if len(lang) < 2 || len(lang) > 5 {
			return fmt.Errorf("texts: %q is not a language code such as en or nl", lang)
		}
		for k := range m {
			if _, ok := t["en"][k]; !ok {
				known := make([]string, 0, len(t["en"]))
				for k := range t["en"] {
					known = append(known, k)
				}
				sort.Strings(known)
				return fmt.Errorf("texts.%s: unknown text %q (known: %s)", lang, k, strings.Join(known, ", "))
			}
		}
	}
	return nil
}

// Languages the understanding layer and the framework's own texts know.
var Languages = []string{"en", "nl"}

// factLanguage is the customer fact holding their language.
const factLanguage = "language"

// Language is the customer's language: the one they chose with the
// "language" command or the one they wrote in, else the bot's ("en").
func (c *Conversation) Language() string {
	if l := c.Customer.Fact(factLanguage); l != "" {
		return l
	}
	if c.language != "" {
		return c.language
	}
	return "en"
}

// LanguageOf is the language of a customer known by their facts (as
// store.LoadCustomer reads them), for texts sent outside their
// conversation; "en" when they never chose or wrote one.
func LanguageOf(facts map[string]string) string {
	if l := facts[factLanguage]; l != "" {
		return l
	}
	return "en"
}

// SetLanguage sets the customer's language for this bot.
func (c *Conversation) SetLanguage(lang string) { c.SetFact(factLanguage, lang) }

// detectLanguage keeps the language a customer first writes in, when
// they have not chosen one; the "language" command changes it.
func (c *Conversation) detectLanguage(m *Message) {
	if !m.IsText() || c.Customer.Fact(factLanguage) != "" {
		return
	}
	if g := understand.Guess(m.Body); g != "" && g != c.Language() && len(understand.Words(m.Body)) > 0 {
		if g == "nl" || len(understand.Words(m.Body)) >= 2 {
			c.SetLanguage(g)
		}
	}
}

// languageCommand handles "language" (offers the choice) and "language
// nl" / "taal nederlands" (sets it). ok is false for other messages.
func (c *Conversation) languageCommand(m *Message) (ok bool) {
	if m.Choice != nil && strings.HasPrefix(m.Choice.Key, "bizbots:language:") {
		c.SetLanguage(strings.TrimPrefix(m.Choice.Key, "bizbots:language:"))
		c.Notice(c.text(msgLanguageSet))
		return true
	}
	if !m.IsText() {
		return false
	}
	cmd, arg := understand.Command(m.Body)
	if cmd != understand.Language {
		return false
	}
	if lang := languageCode(arg); lang != "" {
		c.SetLanguage(lang)
		c.Notice(c.text(msgLanguageSet))
		return true
	}
	c.Ask(c.text(msgWhichLanguage),
		Opt("bizbots:language:en", "English", "engels", "en"), Opt("bizbots:language:nl", "Nederlands", "dutch", "nl"))
	return true
}

func languageCode(s string) string {
	switch understand.Fold(s) {
	case "en", "english", "engels":
		return "en"
	case "nl", "dutch", "nederlands", "hollands":
		return "nl"
	}
	return ""
}

// The framework's own texts.
const (
	msgReplyNumber           = "reply-number"
	msgReplyNumberOrReaction = "reply-number-or-reaction"
	msgNotUnderstood         = "not-understood"
	msgNotUnderstoodQuoted   = "not-understood-quoted"
	msgDidYouMean            = "did-you-mean"
	msgOr                    = "or"
	msgMovedOn               = "moved-on"
	msgMovedOnHere           = "moved-on-here"
	msgWhichLanguage         = "which-language"
	msgLanguageSet           = "language-set"
	msgForgetAsk             = "forget-ask"
	msgForgetYes             = "forget-yes"
	msgForgetNo              = "forget-no"
	msgForgetDone            = "forget-done"
	msgForgetKept            = "forget-kept"
)

var frameworkTexts = Texts{
	"en": {
		msgReplyNumber:           "Reply with a number",
		msgReplyNumberOrReaction: "Reply with a number or tap a reaction",
		msgNotUnderstood:         "Sorry, that doesn't answer my question.",
		msgNotUnderstoodQuoted:   "Sorry, I didn't get %q as an answer.",
		msgDidYouMean:            "Did you mean %s?",
		msgOr:                    "or",
		msgMovedOn:               `That question has moved on, so I did nothing with your answer. Say "help" to see what I can do.`,
		msgMovedOnHere:           "That question has moved on, so I did nothing with your answer. Here is where we are:",
		msgWhichLanguage:         "Which language shall I speak?",
		msgLanguageSet:           "OK, I'll speak English.",
		msgForgetAsk:             "This erases everything I know about you: your details, your history with us and any open conversation. Are you sure?",
		msgForgetYes:             "Yes, forget me",
		msgForgetNo:              "No, keep my data",
		msgForgetDone:            "Done: I have erased everything I knew about you — your details, your history and our open conversations. If you write again, I'll treat you as a new customer.",
		msgForgetKept:            "OK, I erased nothing.",
	},
	"nl": {
		msgReplyNumber:           "Antwoord met een nummer",
		msgReplyNumberOrReaction: "Antwoord met een nummer of tik op een reactie",
		msgNotUnderstood:         "Sorry, dat is geen antwoord op mijn vraag.",
		msgNotUnderstoodQuoted:   "Sorry, %q begreep ik niet als antwoord.",
		msgDidYouMean:            "Bedoelde je %s?",
		msgOr:                    "of",
		msgMovedOn:               `Die vraag is voorbij, dus ik heb niets met je antwoord gedaan. Zeg "hulp" om te zien wat ik kan.`,
		msgMovedOnHere:           "Die vraag is voorbij, dus ik heb niets met je antwoord gedaan. Hier zijn we gebleven:",
		msgWhichLanguage:         "Welke taal zal ik spreken?",
		msgLanguageSet:           "Goed, ik spreek Nederlands.",
		msgForgetAsk:             "Dit wist alles wat ik van je weet: je gegevens, je geschiedenis bij ons en elk open gesprek. Weet je het zeker?",
		msgForgetYes:             "Ja, vergeet mij",
		msgForgetNo:              "Nee, bewaar mijn gegevens",
		msgForgetDone:            "Klaar: ik heb alles gewist wat ik van je wist — je gegevens, je geschiedenis en onze open gesprekken. Als je weer schrijft, ben je een nieuwe klant voor me.",
		msgForgetKept:            "Goed, ik heb niets gewist.",
	},
}

func (c *Conversation) text(key string) string { return frameworkTexts.In(c.Language(), key) }

func (c *Conversation) textf(key string, args ...any) string {
	return fmt.Sprintf(c.text(key), args...)
}
