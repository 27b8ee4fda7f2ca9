package coffee_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/examples/coffee"
	"github.com/bizbots/bizbots/handlers/handlertest"
)

func newBot(t *testing.T) *handlertest.Harness {
	return handlertest.New(t, coffee.New(coffee.Config{Shop: "Test Coffee", ReadyAfter: 3 * time.Minute}))
}

func TestOrderThenTheUsual(t *testing.T) {
	h := newBot(t)
	if got := handlertest.Text(h.Open()); got != `Hi Alice, welcome to Test Coffee! Say "menu" to order.` {
		t.Fatalf("welcome: %q", got)
	}
	menu := h.Say("menu")
	if len(menu) != 1 || len(menu[0].Reactions) != 4 {
		t.Fatalf("menu: %+v", menu)
	}
	size := h.Choose(menu[0], 2) // flat white, by reaction
	if len(size) != 1 || !strings.Contains(size[0].Body, "Which size?") {
		t.Fatalf("size question: %q", handlertest.Bodies(size))
	}
	confirm := h.Say("large") // by words
	if !strings.Contains(handlertest.Text(confirm), "A large flat white. Shall I order it?") {
		t.Fatalf("confirm: %q", handlertest.Bodies(confirm))
	}
	if got := handlertest.Text(h.Say("1")); !strings.HasPrefix(got, "Ordered: large flat white.") {
		t.Fatalf("order: %q", got)
	}
	if got := handlertest.Text(h.Advance(3 * time.Minute)); got != "☕ Your large flat white is ready at the counter. Enjoy!" {
		t.Fatalf("ready: %q", got)
	}
	if orders := h.History("order"); len(orders) != 1 || orders[0].Summary != "large flat white" {
		t.Fatalf("history: %+v", orders)
	}

	usual := h.Say("the usual")
	if !strings.Contains(handlertest.Text(usual), "The usual large flat white?") {
		t.Fatalf("usual: %q", handlertest.Bodies(usual))
	}
	if got := handlertest.Text(h.Choose(usual[0], 1)); !strings.HasPrefix(got, "Ordered: large flat white.") {
		t.Fatalf("reorder: %q", got)
	}
	if n := len(h.History("order")); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

func TestReturningCustomerIsOfferedTheUsual(t *testing.T) {
	h := newBot(t)
	h.Say("menu")
	h.Say("1")
	h.Say("1")
	h.Say("yes")
	bob := h.As("@bob:test", "Bob")
	if got := handlertest.Text(bob.Open()); strings.Contains(got, "usual") {
		t.Fatalf("a new customer was offered a usual: %q", got)
	}
	if got := handlertest.Text(h.Say("the usual")); !strings.Contains(got, "The usual small espresso?") {
		t.Fatalf("returning customer: %q", got)
	}
}

func TestBadInputAndTimeout(t *testing.T) {
	h := newBot(t)
	if got := handlertest.Text(h.Say("what is this")); !strings.Contains(got, "I can take your coffee order") {
		t.Fatalf("unknown text gets help: %q", got)
	}
	if got := handlertest.Text(h.Say("the usual")); !strings.Contains(got, "don't know your usual") {
		t.Fatalf("usual without history: %q", got)
	}
	h.Say("menu")
	for _, bad := range []string{"9", "0", "latte", "-1", strings.Repeat("x", 5000)} {
		if got := handlertest.Text(h.Say(bad)); !strings.Contains(got, "not on the menu") {
			t.Fatalf("%q: %q", bad[:min(len(bad), 10)], got)
		}
	}
	h.Advance(16 * time.Minute)
	got := handlertest.Bodies(h.Say("2"))
	if len(got) != 2 || !strings.Contains(got[0], "timed out") {
		t.Fatalf("after timeout: %q", got)
	}
}
