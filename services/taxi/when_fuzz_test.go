package taxi

import (
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers/backoffice"
)

// FuzzParseWhen: whatever a customer types for "when", the answer is a
// time between now and the furthest advance booking, or a polite error;
// never a panic, never a time in the past.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"now", "in 20 min", "in an hour", "in half an hour", "at 18:30", "6pm", "tomorrow at 9",
		"tomorrow at 0:30", "in 99999999999999999999 min", "at 25:61", "in -5 min", "", "pick me up at 7.15 am", "at 12am",
		"in 1.5 hours", "today at noon", "\x00", "in ٣ min"} {
		f.Add(s)
	}
	loc := time.FixedZone("test", 3600)
	now := time.Date(2026, 12, 29, 15, 0, 0, 0, loc)
	const maxAdvance = 7 * 24 * time.Hour
	cfg := Defaults()
	cfg.MaxAdvance = config.Duration(maxAdvance)
	b := &Bot{cfg: cfg, loc: loc, texts: backoffice.NewTexts(texts)}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := b.parseWhen("en", text, now)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("parseWhen(%q): an empty error", text)
			}
			return
		}
		if got.Before(now) || got.After(now.Add(maxAdvance)) {
			t.Fatalf("parseWhen(%q) = %s, outside now … now+%s", text, got, maxAdvance)
		}
	})
}

// FuzzNormPlace: folding a place name is idempotent and never grows it.
func FuzzNormPlace(f *testing.F) {
	for _, s := range []string{"The Station", "  to   Airport!! ", "from my home", "to ", "¿Plaza Mayor?", "to to to x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normPlace(s)
		if len(n) > len(strings.ToLower(s))+len(s) {
			t.Fatalf("normPlace(%q) = %q grew", s, n)
		}
		if strings.TrimSpace(n) != n {
			t.Fatalf("normPlace(%q) = %q has surrounding space", s, n)
		}
	})
}
