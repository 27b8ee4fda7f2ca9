package backoffice_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
)

func TestParseMoney(t *testing.T) {
	for in, want := range map[string]int64{"12.50": 1250, "12,5": 1250, "12": 1200, " 0.05 ": 5, "1234567.89": 123456789} {
		if got, err := backoffice.ParseMoney(in); err != nil || got != want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, _ := backoffice.ParseMoney(backoffice.FormatMoney(want)); got != want {
			t.Errorf("FormatMoney(%d) does not read back", want)
		}
	}
	for _, bad := range []string{"", "twelve", "12.", ".5", "12.505", "-3", "1e3", "12.5€", "1 000", "9999999999"} {
		if _, err := backoffice.ParseMoney(bad); err == nil || !strings.Contains(err.Error(), "not a price") {
			t.Errorf("ParseMoney(%q): %v, want a clear refusal", bad, err)
		}
	}
}

func TestTextsKeepPlaceholders(t *testing.T) {
	tx := backoffice.NewTexts(handlers.Texts{"en": {"hi": "Hi %s, welcome to %s!", "bye": "Bye"}},
		backoffice.EditableText{Key: "hi", Label: "Welcome"})
	errs := tx.Check(map[string]string{"text.en.hi": "Hello %s!", "text.en.bye": "Ciao", "price": "ignored"})
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	for _, e := range errs {
		switch e.Key {
		case "text.en.hi":
			if !strings.Contains(e.Msg, "must contain %s %s") {
				t.Errorf("hi: %s", e.Msg)
			}
		case "text.en.bye":
			if !strings.Contains(e.Msg, "no such text") {
				t.Errorf("bye: %s", e.Msg)
			}
		}
	}
	if errs := tx.Check(map[string]string{"text.en.hi": "  "}); len(errs) != 1 || !strings.Contains(errs[0].Msg, "empty") {
		t.Fatalf("empty: %v", errs)
	}
	over := map[string]string{"text.en.hi": "Hey %s, this is %s."}
	if errs := tx.Check(over); len(errs) != 0 {
		t.Fatal(errs)
	}
	tx.Apply(over)
	if got := tx.Now().In("en", "hi"); got != "Hey %s, this is %s." {
		t.Fatalf("applied: %q", got)
	}
	if s := tx.Settings("Texts"); len(s) != 1 || s[0].Value != "Hey %s, this is %s." || s[0].Default != "Hi %s, welcome to %s!" {
		t.Fatalf("settings: %+v", s)
	}
	tx.Apply(nil)
	if got := tx.Now().In("en", "hi"); got != "Hi %s, welcome to %s!" {
		t.Fatalf("reset: %q", got)
	}
}
