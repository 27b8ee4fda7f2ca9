package autoreply_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/autoreply"
)

func bot(t *testing.T, hours map[string]string) *handlertest.Harness {
	t.Helper()
	b, err := autoreply.New(autoreply.Config{
		Greeting:    "Hello {name}!",
		WelcomeBack: "Welcome back, {name}!",
		Fallback:    "We'll get back to you.",
		TimeZone:    "Europe/Amsterdam",
		Away:        "We're closed; back at 09:00.",
		Hours:       hours,
		Rules: []autoreply.Rule{
			{Keywords: []string{"hours", "open", "opening times"}, Reply: "Mon-Fri 09:00-17:00."},
			{Regex: `where .*(shop|store)`, Reply: "1 Main St."},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 2026-01-05 is a Monday; 12:00 UTC is 13:00 in Amsterdam.
	return handlertest.New(t, b)
}

func TestRulesGreetingAndFallback(t *testing.T) {
	h := bot(t, nil)
	if got := handlertest.Bodies(h.Say("When are you open?")); len(got) != 2 || got[0] != "Hello Alice!" || got[1] != "Mon-Fri 09:00-17:00." {
		t.Fatalf("first message: %q", got)
	}
	if got := handlertest.Text(h.Say("Where is your STORE?")); got != "1 Main St." {
		t.Fatalf("regex rule: %q", got)
	}
	if got := handlertest.Text(h.Say("openness")); got != "We'll get back to you." {
		t.Fatalf("keywords match whole words only: %q", got)
	}
	if got := handlertest.Text(h.Say("what are your opening times")); got != "Mon-Fri 09:00-17:00." {
		t.Fatalf("multi-word keyword: %q", got)
	}
	if got := handlertest.Text(h.Say("help")); !strings.Contains(got, "Ask me about: hours.") {
		t.Fatalf("help: %q", got)
	}
	bob := h.As("@bob:test", "Bob")
	bob.Say("hi")
	if got := handlertest.Text(bob.Open()); got != "" {
		t.Fatalf("opening an existing chat again sends nothing: %q", got)
	}
}

func TestAwayMessageOncePerClosedPeriod(t *testing.T) {
	h := bot(t, map[string]string{"mon": "09:00-12:00, 14:00-17:00", "tue": "09:00-17:00"})
	h.Say("hi") // 13:00 Amsterdam: lunch break
	got := handlertest.Bodies(h.Say("hours?"))
	if len(got) != 1 || got[0] != "Mon-Fri 09:00-17:00." {
		t.Fatalf("away must be sent once per closed period: %q", got)
	}
	h.Advance(90 * time.Minute) // 14:30: open
	if got := handlertest.Text(h.Say("hours")); strings.Contains(got, "closed") {
		t.Fatalf("open but got the away message: %q", got)
	}
	h.Advance(4 * time.Hour) // 18:30: closed again
	if got := handlertest.Text(h.Say("hours")); !strings.HasPrefix(got, "We're closed") {
		t.Fatalf("closed again: %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  autoreply.Config
		want string
	}{
		{autoreply.Config{TimeZone: "UTC", Rules: []autoreply.Rule{{Keywords: []string{"x"}}}}, "rules[0]: reply is required"},
		{autoreply.Config{TimeZone: "UTC", Rules: []autoreply.Rule{{Reply: "x"}}}, "rules[0]: give keywords or a regex"},
		{autoreply.Config{TimeZone: "UTC", Rules: []autoreply.Rule{{Regex: "(", Reply: "x"}}}, `rules[0].regex "("`},
		{autoreply.Config{TimeZone: "Mars/Olympus"}, `time_zone "Mars/Olympus"`},
		{autoreply.Config{TimeZone: "UTC", Hours: map[string]string{"funday": "09:00-10:00"}}, "hours.funday: use mon"},
		{autoreply.Config{TimeZone: "UTC", Hours: map[string]string{"mon": "17:00-09:00"}}, `hours.mon: "17:00-09:00" must look like`},
	} {
		_, err := autoreply.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}
