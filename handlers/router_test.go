package handlers_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
)

func say(text string) handlers.HandlerFunc {
	return func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.Reply(text)
		return nil
	}
}

func TestRouter(t *testing.T) {
	r := handlers.NewRouter().
		Command(say("help"), "help", "?").
		Command(say("menu"), "menu").
		Prefix("add", handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			c.Reply("add:" + handlers.CommandArgs(m.Text()))
			return nil
		})).
		Prefix("add to cart", say("long prefix")).
		Regexp(regexp.MustCompile(`^\d{4}$`), say("order number")).
		Fallback(say("fallback"))
	r.NonText = say("non-text")
	h := handlertest.New(t, r)
	for in, want := range map[string]string{
		"help": "help", "HELP!": "help", "/help": "help", "!help": "help", "?": "help",
		"menu": "menu", "  Menu.  ": "menu",
		"add 2 margherita": "add:2 margherita", "added": "fallback", "add to cart 1": "long prefix",
		"1042": "order number", "10420": "fallback", "what": "fallback", "!": "fallback",
	} {
		if got := handlertest.Text(h.Say(in)); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	if got := handlertest.Text(h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://a/b"})); got != "non-text" {
		t.Errorf("image → %q", got)
	}
}

func TestRateLimitIsPoliteAndSparesTimers(t *testing.T) {
	inner := handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		if m.Kind == handlers.KindTimer {
			c.Reply("timer")
			return nil
		}
		c.Reply("ok")
		if m.Text() == "set" {
			c.After(time.Second, "t", "")
		}
		return nil
	})
	h := handlertest.New(t, handlers.Chain(inner, handlers.RateLimit(1, 3)))
	var got []string
	for _, in := range []string{"set", "b", "c", "d", "e"} {
		got = append(got, handlertest.Bodies(h.Say(in))...)
	}
	if strings.Join(got, "|") != "ok|ok|ok|You're sending messages faster than I can answer. Please wait a moment and try again." {
		t.Fatalf("burst of 5 with burst 3: %q", got)
	}
	if fired := handlertest.Text(h.Advance(2 * time.Second)); fired != "timer" {
		t.Fatalf("a timer was rate limited: %q", fired)
	}
	h.Advance(10 * time.Second)
	if again := handlertest.Text(h.Say("f")); again != "ok" {
		t.Fatalf("after the bucket refilled: %q", again)
	}
	bob := h.As("@bob:test", "Bob")
	if got := handlertest.Text(bob.Say("hi")); got != "ok" {
		t.Fatalf("limits are per customer: %q", got)
	}
}

func TestEscapeMarkdown(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.Markdown("You said: " + handlers.EscapeMarkdown(m.Text()))
		return nil
	}))
	got := h.Say("[click](https://evil.example) **bold** `code`")[0]
	if strings.Contains(got.HTML, "<a ") || strings.Contains(got.HTML, "<strong>") || strings.Contains(got.HTML, "<code>") {
		t.Fatalf("markdown from the customer was rendered: %q", got.HTML)
	}
	if !strings.Contains(got.Body, "[click](https://evil.example) **bold**") {
		t.Fatalf("plain body must show the text as typed: %q", got.Body)
	}
}
