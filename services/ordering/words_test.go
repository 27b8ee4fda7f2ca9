package ordering_test

import (
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

// The misfires of issue 14, in the customer's words, on both engines.
func TestWhatCustomersActuallyType(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri})
			h.Open()
			// Typos and synonyms, with the size asked.
			expect(t, "margarita", h.say("margarita"), "Margherita", "Which size?")
			expect(t, "big", h.say("big"), "Added 1 × Margherita (Large 35 cm)")
			expect(t, "coke", h.say("a coke please"), "Added 1 × Cola")
			expect(t, "make it", h.say("make it just one margherita"), "1 × Margherita")
			// "help" at the note is help, not the note; the note step says how.
			expect(t, "pickup", h.say("I'll pick it up myself"), "Any note for us?", `"help"`)
			help := h.say("help")
			expect(t, "help at the note", help, "menu: browse the menu")
			reject(t, "help at the note", help, "Place this order?")
			expect(t, "no note", h.say("no"), "Place this order?")
			for _, said := range []string{"no", "nope", "no wait", "not yet"} {
				expect(t, said, h.say(said), "OK, nothing is ordered.")
				h.say("checkout")
				h.say("pickup")
				expect(t, "note", h.say("skip"), "Place this order?")
			}
			placed := h.say("yes please")
			expect(t, "pickup ready time", placed, "Your order number is 1001", "ready for pickup at about 13:2")
			expect(t, "how long", h.say("how long will it take?"), "Order 1001", "ready for pickup at about 13:2")
			expect(t, "thanks", h.say("thanks!"), "You're welcome!")
		})
	}
}

// An address typed at "Delivery or pickup?" is a delivery there.
func TestAddressBeforeChoosingDelivery(t *testing.T) {
	h := newHarness(t, setup{})
	h.Open()
	h.say("add margherita large")
	expect(t, "checkout", h.say("checkout"), "Delivery or pickup?")
	expect(t, "address", h.say("Damrak 1, 1012 AB Amsterdam"), "Any note for us?")
	expect(t, "summary", h.say("no"), "Delivery to Damrak 1, 1012 AB Amsterdam")
	h.say("no")
	expect(t, "deliver please", h.say("deliver please"), "What's the delivery address?")
}

// A cancelled order is no one's usual.
func TestTheUsualSkipsCancelledOrders(t *testing.T) {
	h := newHarness(t, setup{})
	h.Open()
	h.openStaffRoom()
	h.order("Damrak 1, 1012 AB Amsterdam")
	h.say("add pepperoni small")
	h.say("pickup")
	h.say("no")
	expect(t, "second order", h.say("yes"), "Your order number is 1002")
	h.staff("!order 1002 cancelled")
	h.Clock.Advance(24 * time.Hour)
	expect(t, "the usual", h.say("hi"), "The usual large margherita?")
	expect(t, "same as last time please", h.say("same as last time please"), "I've put your last order (1001) in your cart.")
}

// Order status names the day and says when an order has not moved for
// too long, instead of repeating "received" for ever.
func TestStatusHasADateAndGoesStale(t *testing.T) {
	h := newHarness(t, setup{})
	h.Open()
	h.order("Damrak 1, 1012 AB Amsterdam")
	expect(t, "today", h.say("status"), "placed today at 13:00: received")
	h.Clock.Advance(26 * time.Hour)
	expect(t, "next day", h.say("where is my order?"), "placed on Mon 5 Jan at 13:00", "has not changed since Mon 5 Jan at 13:00", "please contact Pizza Place")
}

// "forget me" with a delivery on its way warns first, and tells the
// kitchen when the customer goes ahead.
func TestForgetMeWithAnOpenDelivery(t *testing.T) {
	h := newHarness(t, setup{})
	h.Open()
	h.openStaffRoom()
	h.order("Damrak 1, 1012 AB Amsterdam")
	expect(t, "warning", h.say("forget me"), "Careful: order 1001 is still to be delivered", "Are you sure?")
	r := h.Say("yes")
	expect(t, "kitchen told", in(staffRoom, r), "Order 1001: the customer asked to be forgotten")
	expect(t, "customer", notIn(staffRoom, r), "erased everything")
}

// A reaction under an old question is refused: 2️⃣ on an old "The
// usual?" no longer drops a checkout, 1️⃣ on an old confirmation no longer
// places a second order.
func TestOldReactionsDoNothing(t *testing.T) {
	h := newHarness(t, setup{})
	h.Open()
	h.order("Damrak 1, 1012 AB Amsterdam")
	h.Clock.Advance(24 * time.Hour)
	usual := h.Say("hi")
	expect(t, "usual", handlertest.Text(usual), "The usual")
	h.say("add cola")
	h.say("checkout")
	h.say("pickup")
	confirm := h.Say("no")
	expect(t, "confirm", handlertest.Text(confirm), "Place this order?")
	got := handlertest.Text(h.Choose(usual[len(usual)-1], 2))
	expect(t, "old usual", got, "That question has moved on", "Place this order?")
	expect(t, "still at the confirmation", h.say("yes"), "Your order number is 1002")
	got = handlertest.Text(h.Choose(confirm[len(confirm)-1], 1))
	expect(t, "old confirmation", got, "That question has moved on")
	reject(t, "old confirmation", got, "order number")
}
