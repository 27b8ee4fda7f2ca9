package ordering_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

// The harness clock starts on Monday 2026-01-05 12:00 UTC, 13:00 in
// Amsterdam: the demo pizzeria is open.

func TestBrowseAndOrderForDelivery(t *testing.T) {
	h := newHarness(t, setup{})
	h.openStaffRoom()
	welcome := handlertest.Text(h.Open())
	expect(t, "welcome", welcome, "Hi Alice, welcome to Pizza Place!", `Say "menu"`)

	menu := h.Say("menu")
	if len(menu) != 1 || len(menu[0].Reactions) != 3 {
		t.Fatalf("menu: %q %v", handlertest.Bodies(menu), menu)
	}
	expect(t, "menu", menu[0].Body, "1. Pizzas", "2. Drinks", "3. Desserts")
	pizzas := h.Choose(menu[0], 1)
	expect(t, "pizzas", handlertest.Text(pizzas), "Pizzas: (sold out right now: Calzone)",
		"1. Margherita (Tomato, mozzarella, basil) · from €8.50", "4. Vegana")
	sizes := h.Say("margherita") // typed words answer the question
	expect(t, "sizes", handlertest.Text(sizes), "Margherita: Tomato, mozzarella, basil. Which size?", "3. Large 35 cm · €12.50")
	added := h.Choose(sizes[0], 3)
	expect(t, "added", handlertest.Text(added), "Added 1 × Margherita (Large 35 cm) (€12.50). Your cart: 1 item, €12.50.")
	expect(t, "add cola", h.say("add 2 cola"), "Added 2 × Cola (€6.00). Your cart: 3 items, €18.50.")

	cart := h.say("cart")
	expect(t, "cart", cart, "1. 1 × Margherita (Large 35 cm) — €12.50", "2. 2 × Cola — €6.00", "Total: €18.50")

	expect(t, "checkout", h.say("checkout"), "3 items for €18.50. Delivery or pickup?", "1. Delivery (+€2.50)", "2. Pickup at Pizza Place")
	expect(t, "delivery", h.say("1"), "What's the delivery address?")
	expect(t, "bad address", h.say("x"), "That doesn't look like an address")
	expect(t, "address", h.say("1 Main St, 1011 AB Amsterdam"), "Any note for us?")
	confirmQ := h.Say("Ring twice please")
	confirm := handlertest.Text(confirmQ)
	expect(t, "confirm", confirm, "Your order:", "1 × Margherita (Large 35 cm) — €12.50", "2 × Cola — €6.00",
		"Delivery — €2.50", "Total: €21.00", "Delivery to 1 Main St, 1011 AB Amsterdam", "Note: Ring twice please", "Place this order?")

	placed := h.Say("yes")
	expect(t, "placed to customer", notIn(staffRoom, placed), "Thank you! Your order number is 1001.", "Total: €21.00")
	expect(t, "announced to staff", in(staffRoom, placed), "🆕 New order 1001 from Alice (@alice:test)",
		"1 × Margherita (Large 35 cm) — €12.50", "Delivery to 1 Main St", "Note: Ring twice please", "!order 1001 preparing")

	if c := h.StoredCustomer(); c == nil || c.Facts["address"] != "1 Main St, 1011 AB Amsterdam" {
		t.Fatalf("address fact: %+v", c)
	}
	if hist := h.History("order"); len(hist) != 1 || !strings.HasPrefix(hist[0].Summary, "Order 1001: 1 × Margherita (Large 35 cm), 2 × Cola (€21.00)") {
		t.Fatalf("history: %+v", hist)
	}
	if step, found := h.State(nil); found && step != "" {
		t.Fatalf("cart not cleared: step %q", step)
	}
	// The confirmation clicked again does not order twice.
	expect(t, "double confirm", handlertest.Text(h.Choose(confirmQ[0], 1)), "That question has moved on, so I did nothing with your answer.")
	expect(t, "status", h.say("where is my order?"), "Order 1001 (1 × Margherita (Large 35 cm), 2 × Cola, €21.00), placed today at 13:00: received, waiting for the kitchen.")
}

func TestPickupWithoutStaffRoom(t *testing.T) {
	h := newHarness(t, setup{noStaff: true})
	h.say("add a tiramisu")
	expect(t, "checkout", h.say("checkout"), "Delivery or pickup?")
	expect(t, "pickup", h.say("pickup"), "Any note for us?")
	q := h.Say("hello there") // a note, not a greeting: the step takes free text
	expect(t, "confirm", handlertest.Text(q), "Pickup at Pizza Place", "Note: hello there", "Total: €5.50")
	reject(t, "no delivery fee on pickup", handlertest.Text(q), "Delivery —")
	placed := h.Choose(q[0], 1)
	expect(t, "placed", handlertest.Text(placed), "Your order number is 1001")
	for _, r := range placed {
		if r.Room == staffRoom {
			t.Fatalf("announced without a staff room: %q", r.Body)
		}
	}
}

func TestCartEditsAndBadQuantities(t *testing.T) {
	h := newHarness(t, setup{})
	expect(t, "add", h.say("add 2 margherita large"), "Added 2 × Margherita (Large 35 cm) (€25.00)")
	expect(t, "leading qty", h.say("3 cola"), "Added 3 × Cola (€9.00). Your cart: 5 items, €34.00.")
	expect(t, "plural and x", h.say("add pepperonis small x2"), "Added 2 × Pepperoni (Small 25 cm) (€19.00)")
	expect(t, "same line grows", h.say("add 1 large margherita"), "Added 1 × Margherita (Large 35 cm)")
	expect(t, "cart", h.say("cart"), "1. 3 × Margherita (Large 35 cm) — €37.50", "2. 3 × Cola — €9.00", "3. 2 × Pepperoni (Small 25 cm) — €19.00", "Total: €65.50")

	for text, want := range map[string]string{
		"add 0 margherita":                 "at least 1: quantities go from 1 to 99",
		"add 1000000000 margherita":        "quantities go from 1 to 99",
		"add 99999999999999999999999 cola": "quantities go from 1 to 99",
		"add 2 pineapple":                  `Sorry, we don't have "pineapple"`,
		"add 97 cola":                      "at most 99 of Cola in one order; you already have 3",
		"add calzone":                      "Calzone is sold out right now",
		"add large":                        `A large what?`,
		"remove 7":                         "Your cart has no line 7",
		"remove pineapple":                 `There's no "pineapple" in your cart`,
		"change 1 to 0":                    `To take something out of your cart, say "remove 1"`,
		"change 1 to 1000000000":           "quantities go from 1 to 99",
		"change 2 to lots":                 `like "change 1 to 3"`,
		"set 9 to 2":                       "Your cart has no line 9",
	} {
		expect(t, text, h.say(text), want)
	}
	expect(t, "cart unchanged by errors", h.say("cart"), "Total: €65.50")

	expect(t, "remove line", h.say("remove 2"), "Removed 3 × Cola.", "Total: €56.50")
	expect(t, "remove some", h.say("remove 1 margherita"), "Took 1 × Margherita (Large 35 cm) out; 2 left.")
	expect(t, "change", h.say("change pepperoni to 3"), "Now 3 × Pepperoni (Small 25 cm).", "Total: €53.50")
	expect(t, "size asked", h.say("add 2 vegana"), "Vegana: Tomato, grilled vegetables, vegan cheese, rocket. Which size for your 2?")
	expect(t, "size answered", h.say("medium"), "Added 2 × Vegana (Medium 30 cm) (€23.00)")
	expect(t, "unknown size", h.say("add margherita xxl"), `Sorry, we don't have "margherita xxl"`)
	expect(t, "missing size", h.say("add cola large"), "Added 1 × Cola") // no sizes: the word is ignored
	expect(t, "empty", h.say("empty cart"), "your cart is empty")
	expect(t, "empty cart checkout", h.say("checkout"), "Your cart is empty, so there's nothing to check out yet.")
	expect(t, "remove from empty", h.say("remove 1"), "Your cart is empty")
}

func TestSearchAndFallback(t *testing.T) {
	h := newHarness(t, setup{})
	vegan := h.say("vegan")
	expect(t, "vegan", vegan, `Here's what matches "vegan":`, "Vegana", "Sparkling water", "Homemade lemonade")
	reject(t, "vegan", vegan, "Margherita")
	expect(t, "search one", h.say("search margherita"), "Margherita: Tomato, mozzarella, basil. Which size?")
	expect(t, "question", h.say("do you have something with gorgonzola?"), "Quattro formaggi")
	expect(t, "no match", h.say("search sushi"), `Nothing on our menu matches "sushi"`)
	expect(t, "not understood", h.say("blah blah"), `Sorry, I didn't get "blah blah"`)
	expect(t, "help", h.say("help"), "add 2 margherita large", "the usual", "forget me")
	expect(t, "hours", h.say("opening hours"), "Opening hours (Europe/Amsterdam time): every day 11:00–23:00. We're open now.")
	expect(t, "image", handlertest.Text(h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://a/b"})), "I can only read text")
}

func TestClosedShop(t *testing.T) {
	// 22:30 UTC is 23:30 in Amsterdam: closed until 11:00 tomorrow.
	h := newHarness(t, setup{start: time.Date(2026, 1, 5, 22, 30, 0, 0, time.UTC)})
	expect(t, "welcome", handlertest.Text(h.Open()), "Hi Alice", "We're closed right now. We open at 11:00 tomorrow.")
	menu := h.Say("menu")
	expect(t, "menu still shown", handlertest.Text(menu), "We're closed right now. We open at 11:00 tomorrow. Here is the menu to look at:", "1. Pizzas")
	expect(t, "browse", handlertest.Text(h.Choose(menu[0], 2)), "Drinks:", "Cola")
	expect(t, "no adding", h.say("add cola"), "We're closed right now. We open at 11:00 tomorrow. You can still look at the menu.")
	expect(t, "no checkout", h.say("checkout"), "Your cart is empty") // nothing could be added
	expect(t, "hours", h.say("hours"), "We open at 11:00 tomorrow")

	// Open in the morning: a cart made then cannot be checked out after
	// closing.
	h.Advance(12 * time.Hour) // 11:30 Tuesday in Amsterdam
	expect(t, "open", h.say("add cola"), "Added 1 × Cola")
	h.Advance(11 * time.Hour) // 22:30
	expect(t, "open late", h.say("add water"), "Your cart expired after 2h", "Added 1 × Sparkling water")
	h.Advance(40 * time.Minute) // 23:10: closed, the cart (2h) still there
	expect(t, "closed at checkout", h.say("checkout"), "We're closed right now. We open at 11:00 tomorrow.")
	expect(t, "cart kept", h.say("cart"), "1 × Sparkling water")
}

func TestCartExpires(t *testing.T) {
	h := newHarness(t, setup{})
	h.say("add margherita small")
	h.Advance(119 * time.Minute)
	expect(t, "kept", h.say("cart"), "1 × Margherita (Small 25 cm)") // the cart call does not renew it
	h.Advance(2 * time.Minute)
	got := h.say("cart")
	expect(t, "expired", got, "Your cart expired after 2h without activity, so I emptied it.", "Your cart is empty")

	// Mid-checkout: the address step expires with the cart.
	h.say("add cola")
	h.say("checkout")
	h.say("delivery")
	h.Advance(3 * time.Hour)
	expect(t, "expired in checkout", h.say("1 Main St"), "Your cart expired", `we don't have "main st"`)
}

func TestCheckoutStopsAndConfirmNo(t *testing.T) {
	h := newHarness(t, setup{})
	h.say("add cola")
	h.say("checkout")
	h.say("delivery")
	expect(t, "stop", h.say("cancel"), "I stopped the checkout. Your cart is still here")
	h.say("checkout")
	h.say("pickup")
	h.say("no")
	expect(t, "not yet", h.say("no, not yet"), "nothing is ordered")
	expect(t, "cart kept", h.say("cart"), "1 × Cola")
	expect(t, "no order", h.say("status"), "You haven't ordered with us yet")
}

func TestWhereIsMyOrderWithoutOrders(t *testing.T) {
	h := newHarness(t, setup{})
	expect(t, "status", h.say("where's my pizza?"), "You haven't ordered with us yet")
	expect(t, "cancel", h.say("cancel"), "You have no open order to cancel.")
	expect(t, "usual", h.say("the usual"), "I don't know your usual yet")
}
