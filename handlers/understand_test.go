package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// checkoutBot asks "Place this order?" on "checkout" and reports answers;
// it stays silent on anything else, as a small Go bot would.
func checkoutBot() handlers.Handler {
	return handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		switch {
		case m.Choice != nil:
			c.Reply("chose " + m.Choice.Key)
		case m.Text() == "checkout":
			c.Ask("Place this order?", handlers.Opt("confirm:yes", "Yes, place the order"), handlers.Opt("confirm:no", "No, not yet"))
		case m.Text() == "usual":
			c.Ask("The usual?", handlers.Opt("usual:yes", "Yes please"), handlers.Opt("usual:no", "No, show me the menu"))
		}
		return nil
	})
}

func eachEngine(t *testing.T, fn func(t *testing.T, uri string)) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) { fn(t, storetest.URI(t, d)) })
	}
}

// What customers type to a yes/no question means yes or no, in English
// and Dutch, without the exact label.
func TestYesAndNoInTheirOwnWords(t *testing.T) {
	eachEngine(t, func(t *testing.T, uri string) {
		h := handlertest.New(t, checkoutBot(), handlertest.Options{URI: uri})
		for answer, want := range map[string]string{
			"yes please": "chose confirm:yes", "yep": "chose confirm:yes", "ok": "chose confirm:yes", "sure": "chose confirm:yes",
			"ja graag": "chose confirm:yes", "👍": "chose confirm:yes", "one": "chose confirm:yes", "place it": "chose confirm:yes",
			"no": "chose confirm:no", "nope": "chose confirm:no", "no wait": "chose confirm:no", "not yet": "chose confirm:no",
			"nee": "chose confirm:no", "twee": "chose confirm:no",
		} {
			h.Say("checkout")
			if got := handlertest.Text(h.Say(answer)); got != want {
				t.Errorf("%q at \"Place this order?\": got %q, want %q", answer, got, want)
			}
		}
	})
}

// An answer that is not understood gets the question again, with its
// choices and the closest options, instead of silence.
func TestUnclearAnswerAsksTheQuestionAgain(t *testing.T) {
	eachEngine(t, func(t *testing.T, uri string) {
		h := handlertest.New(t, checkoutBot(), handlertest.Options{URI: uri})
		h.Say("usual")
		got := handlertest.Text(h.Say("showcase"))
		for _, want := range []string{"didn't get", "Did you mean No, show me the menu?", "The usual?", "1. Yes please"} {
			if !strings.Contains(got, want) {
				t.Fatalf("want %q in:\n%s", want, got)
			}
		}
		if got := handlertest.Text(h.Say("2")); got != "chose usual:no" {
			t.Fatalf("the question asked again still takes its answer: %q", got)
		}
	})
}

// A reaction under a question that has moved on is refused, never acted
// on: 2️⃣ under an old "The usual?" while a checkout is open, 1️⃣ under an
// old confirmation after the order was placed.
func TestOldQuestionsReactionsAreRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, uri string) {
		h := handlertest.New(t, checkoutBot(), handlertest.Options{URI: uri})
		usual := h.Say("usual")[0]
		h.Say("1")
		confirm := h.Say("checkout")[0]
		got := handlertest.Text(h.Choose(usual, 2))
		if !strings.Contains(got, "That question has moved on") || !strings.Contains(got, "Here is where we are") ||
			!strings.Contains(got, "Place this order?") || strings.Contains(got, "chose") {
			t.Fatalf("2️⃣ under the old \"The usual?\" during checkout:\n%s", got)
		}
		if got := handlertest.Text(h.Choose(confirm, 1)); got != "chose confirm:yes" {
			t.Fatalf("the open confirmation still takes its reaction: %q", got)
		}
		got = handlertest.Text(h.Choose(confirm, 1))
		if !strings.Contains(got, "That question has moved on") || strings.Contains(got, "chose") {
			t.Fatalf("1️⃣ again under the answered confirmation placed a second order:\n%s", got)
		}
	})
}

// Typed options are matched with typos, accents and synonyms.
func TestOptionsMatchTyposAndSynonyms(t *testing.T) {
	q := &handlers.Question{Options: []handlers.Option{
		handlers.Opt("small", "Small 25 cm", "klein"), handlers.Opt("medium", "Medium 30 cm"),
		handlers.Opt("large", "Large 35 cm", "big", "groot"), handlers.Opt("cola", "Cola", "coke"),
		handlers.Opt("creme", "Crème brûlée"),
	}}
	for text, want := range map[string]string{
		"meduim": "medium", "the large one": "large", "big": "large", "groot": "large", "coke": "cola", "a coke please": "cola",
		"creme brulee": "creme", "2": "medium", "second": "medium", "last": "creme", "med": "medium",
	} {
		o := q.Match(text)
		if o == nil || o.Key != want {
			t.Errorf("Match(%q) = %v, want %s", text, o, want)
		}
	}
	for _, text := range []string{"huge", "6", "no onions", "ring the bell", ""} {
		if o := q.Match(text); o != nil {
			t.Errorf("Match(%q) = %s, want none", text, o.Key)
		}
	}
	if s := q.Suggest("mediun-ish"); len(s) != 1 || s[0].Key != "medium" {
		t.Errorf("Suggest = %v", s)
	}
}

func TestCommandsAnywhere(t *testing.T) {
	for text, want := range map[string]string{"help": handlers.CommandHelp, "cancel please": handlers.CommandCancel,
		"hulp": handlers.CommandHelp, "vergeet mij": handlers.CommandForget, "help the driver find us": ""} {
		m := &handlers.Message{Kind: handlers.KindMessage, MsgType: "m.text", Body: text}
		if got := m.Command(); got != want {
			t.Errorf("Command(%q) = %q, want %q", text, got, want)
		}
	}
}

// "language" lets the customer pick; writing Dutch switches the
// framework's own texts to Dutch.
func TestLanguageCommandAndDetection(t *testing.T) {
	eachEngine(t, func(t *testing.T, uri string) {
		h := handlertest.New(t, checkoutBot(), handlertest.Options{URI: uri})
		h.Say("checkout")
		if got := handlertest.Text(h.Say("misschien morgen")); !strings.Contains(got, "begreep ik niet") || !strings.Contains(got, "Antwoord met een nummer") {
			t.Fatalf("Dutch customer got:\n%s", got)
		}
		r := h.Say("language")
		if !strings.Contains(handlertest.Text(r), "English") {
			t.Fatalf("language: %s", handlertest.Text(r))
		}
		if got := handlertest.Text(h.Say("english")); !strings.Contains(got, "I'll speak English") {
			t.Fatalf("language english: %s", got)
		}
		if h.StoredCustomer().Facts["language"] != "en" {
			t.Fatalf("language not kept: %v", h.StoredCustomer().Facts)
		}
	})
}
