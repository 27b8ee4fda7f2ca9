package ordering_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services/ordering"
)

// An Amsterdam customer orders in Dutch, and is answered in Dutch.
func TestOrderingInDutch(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri})
			h.Open()
			expect(t, "hoi", h.say("hoi, ik wil een pizza"), "Margherita")
			expect(t, "twee margherita groot", h.say("twee margherita groot"), "2 × Margherita (Large 35 cm) toegevoegd", "Je mandje: 2 artikelen")
			expect(t, "afrekenen", h.say("afrekenen"), "Bezorgen of afhalen?")
			expect(t, "ophalen", h.say("ophalen"), "Nog een opmerking voor ons?")
			expect(t, "geen", h.say("nee"), "Je bestelling:", "Afhalen bij Pizza Place", "Deze bestelling plaatsen?")
			expect(t, "ja graag", h.say("ja graag"), "Je bestelnummer is 1001")
			// "language english" switches back.
			expect(t, "language", h.say("language english"), "I'll speak English")
			expect(t, "help", h.say("help"), "I take orders for Pizza Place")
		})
	}
}

// A business overrides a text in its config; a text key that does not
// exist is refused at start-up, naming the key.
func TestTextsOverrides(t *testing.T) {
	h := newHarness(t, setup{cfg: ordering.Config{Texts: handlers.Texts{"nl": {"greet-new": "Welkom bij de Pizzabakker, %s! (%s)"}}}})
	expect(t, "override", h.say("hoi"), "Welkom bij de Pizzabakker, Alice! (Pizza Place)")
	if _, err := ordering.New(ordering.Config{Texts: handlers.Texts{"nl": {"greet-neww": "x"}}}, h.DB); err == nil || !strings.Contains(err.Error(), `texts.nl: unknown text "greet-neww"`) {
		t.Fatalf("unknown text key: %v", err)
	}
}
