package handlers_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Every bot takes "subscribe" and "stop": broadcasts go only to customers
// whose opt-in stands.
func TestSubscribeAndStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := handlertest.New(t, pizzaFlow(), handlertest.Options{URI: storetest.URI(t, db.Dialect)})
		subscribed := func() bool {
			ok, err := store.Subscribed(t.Context(), h.DB, h.Bot.String(), h.Customer.String())
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		h.Say("hello")
		if subscribed() {
			t.Fatal("subscribed without asking")
		}
		if got := handlertest.Text(h.Say("stop")); got != "Say 'order' to start." {
			t.Fatalf("stop from someone not subscribed is the bot's: %q", got)
		}
		if got := handlertest.Text(h.Say("Subscribe!")); !strings.Contains(got, "You're subscribed") || !subscribed() {
			t.Fatalf("subscribe: %q", got)
		}
		if subs, _ := store.Subscribers(t.Context(), h.DB, h.Bot.String()); len(subs) != 1 || subs[0] != h.Customer.String() {
			t.Fatalf("subscribers: %v", subs)
		}
		if got := handlertest.Text(h.Say("stop")); !strings.Contains(got, "no more news") || subscribed() {
			t.Fatalf("stop: %q", got)
		}
		t.Run("stop in the middle of something reaches the bot too", func(t *testing.T) {
			h.Say("subscribe")
			h.Say("order") // the bot asks for a size
			replies := h.Say("stop")
			if subscribed() {
				t.Fatal("still subscribed after stop")
			}
			if len(replies) < 2 || !strings.Contains(replies[0].Body, "no more news") {
				t.Fatalf("replies: %+v", replies)
			}
		})
	})
}
