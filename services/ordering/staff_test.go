package ordering_test

import (
	"context"
	"testing"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/ordering"
)

func TestStaffMovesAnOrderAndTheCustomerIsTold(t *testing.T) {
	h := newHarness(t, setup{})
	expect(t, "staff welcome", in(staffRoom, h.openStaffRoom()), "I'll post new Pizza Place orders here.", "!order 1042 preparing|ready|out|delivered|cancel")
	h.Open()
	placed := h.order("1 Main St")
	expect(t, "placed", placed, "Your order number is 1001")

	r := h.staff("!order 1001 preparing")
	expect(t, "staff confirmation", in(staffRoom, r), "✅ Order 1001 is now being prepared. The customer has been told.")
	expect(t, "customer told", notIn(staffRoom, r), "👨‍🍳 Your order 1001 is being prepared.")
	expect(t, "status", h.say("status"), "Order 1001 (1 × Margherita (Large 35 cm), €15.00)", ": being prepared.")

	r = h.staff("!order 1001 out")
	expect(t, "out", in(staffRoom, r), "Order 1001 is now out for delivery.")
	expect(t, "customer out", notIn(staffRoom, r), "🛵 Your order 1001 is out for delivery to 1 Main St.")
	expect(t, "status out", h.say("where is my order"), "out for delivery to 1 Main St.")

	// Bad commands and transitions get a clear answer in the staff room.
	for cmd, want := range map[string]string{
		"!order 1001 preparing": "Order 1001 is already out for delivery; it can't go back to being prepared.",
		"!order 1001 cancel":    "Order 1001 is out for delivery; it can't be cancelled any more.",
		"!order 1001 out":       "Order 1001 is already out for delivery.",
		"!order 9999 ready":     "There is no order 9999.",
		"!order abc ready":      `"abc" is not an order number.`,
		"!order":                "Which order? Use: !order 1042",
		"!order 1001 dance":     `I don't know "dance". Use one of: preparing, ready, out, delivered, cancel.`,
	} {
		r := h.staff(cmd)
		expect(t, cmd, in(staffRoom, r), want)
		if got := notIn(staffRoom, r); got != "" {
			t.Fatalf("%s: the customer was told %q", cmd, got)
		}
	}
	if got := h.staff("is the oven hot yet?"); len(got) != 0 {
		t.Fatalf("staff chatter answered: %q", handlertest.Bodies(got))
	}
	if got := h.staff("!weather"); len(got) != 0 {
		t.Fatalf("another bot's command answered: %q", handlertest.Bodies(got))
	}

	r = h.staff("!order 1001 delivered")
	expect(t, "delivered", notIn(staffRoom, r), "Your order 1001 has been delivered. Enjoy your meal!")
	expect(t, "final", in(staffRoom, h.staff("!order 1001 ready")), "Order 1001 is already delivered; it can't change any more.")
	expect(t, "show", in(staffRoom, h.staff("!order 1001")), "Order 1001, delivered, for delivery: @alice:test",
		"Address: 1 Main St", "received (@alice:test)", "being prepared (@chef:test)", "delivered (@chef:test)")
	expect(t, "no open orders", in(staffRoom, h.staff("!orders")), "No open orders.")
	expect(t, "status after", h.say("status"), "You have no open orders. Your last order, 1001 (1 × Margherita (Large 35 cm)), was delivered")

	hist := h.History("order_status")
	if len(hist) != 3 || hist[0].Summary != "Order 1001: delivered" || hist[2].Summary != "Order 1001: being prepared" {
		t.Fatalf("customer's status history: %+v", hist)
	}
}

func TestPickupOrderCannotGoOut(t *testing.T) {
	h := newHarness(t, setup{})
	h.openStaffRoom()
	h.say("add cola")
	h.say("checkout")
	h.say("pickup")
	h.say("no")
	h.say("yes")
	expect(t, "list", in(staffRoom, h.staff("!orders")), "1001 · 13:00 · received · pickup · 1 × Cola")
	expect(t, "out", in(staffRoom, h.staff("!order 1001 out")), "Order 1001 is for pickup, so it doesn't go out for delivery.")
	r := h.staff("!order 1001 ready")
	expect(t, "ready", notIn(staffRoom, r), "✅ Your order 1001 is ready for pickup at Pizza Place.")
	r = h.staff("!order 1001 picked up")
	expect(t, "picked up", notIn(staffRoom, r), "Your order 1001 has been picked up.")
}

func TestCustomerCancels(t *testing.T) {
	h := newHarness(t, setup{})
	h.openStaffRoom()
	h.order("1 Main St")
	q := h.Say("cancel")
	expect(t, "ask", handlertest.Text(q), "Cancel order 1001 (1 × Margherita (Large 35 cm), €15.00)?")
	expect(t, "keep", handlertest.Text(h.Choose(q[0], 2)), "OK, your order stays as it is.")
	q = h.Say("cancel my order")
	r := h.Choose(q[0], 1)
	expect(t, "cancelled", notIn(staffRoom, r), "Order 1001 is cancelled.")
	expect(t, "staff told", in(staffRoom, r), "❌ Order 1001 was cancelled by the customer (Alice).")
	expect(t, "again", h.say("cancel 1001"), "Order 1001 is already cancelled.")
	expect(t, "staff cannot revive", in(staffRoom, h.staff("!order 1001 preparing")), "Order 1001 is already cancelled; it can't change any more.")

	// Once the kitchen started, the customer cannot cancel.
	h.order("1 Main St")
	h.staff("!order 1002 preparing")
	expect(t, "too late", h.say("cancel"), "Sorry, order 1002 is already being prepared, so it can no longer be cancelled.")
	// A reaction on an old cancel question is refused: it has moved on.
	expect(t, "old question", handlertest.Text(h.Choose(q[0], 1)), "That question has moved on, so I did nothing with your answer.")
	expect(t, "not theirs", h.as("@bob:test", "Bob").say("cancel 1002"), "You have no order 1002.")

	// Staff can cancel while preparing; the customer is told.
	r = h.staff("!order 1002 cancel")
	expect(t, "staff cancel", notIn(staffRoom, r), "Sorry, Pizza Place had to cancel your order 1002.")
}

func TestTheUsualAndWelcomeBack(t *testing.T) {
	h := newHarness(t, setup{})
	h.openStaffRoom()
	ana := h.as("@ana:test", "Ana")
	expect(t, "first greeting", handlertest.Text(ana.Open()), "Hi Ana, welcome to Pizza Place!")
	ana.order("1 Main St")
	h.staff("!order 1001 delivered")

	// "hi" greets like a new chat would: the usual, by name.
	q := ana.Say("hi")
	expect(t, "welcome back", handlertest.Text(q), "Welcome back, Ana. The usual large margherita?")
	r := ana.Choose(q[0], 1)
	expect(t, "rebuilt", handlertest.Text(r), "I've put your last order (1001) in your cart.", "1. 1 × Margherita (Large 35 cm) — €12.50", "Delivery or pickup?")
	expect(t, "address offered", ana.say("delivery"), "Deliver to 1 Main St again?")
	expect(t, "same address", ana.say("yes"), "Any note for us?")
	expect(t, "confirm", ana.say("no"), "Delivery to 1 Main St", "Total: €15.00")
	expect(t, "placed", ana.say("yes"), "Your order number is 1002")

	// A new address typed instead of answering replaces the remembered one.
	ana.say("same as last time")
	ana.say("delivery")
	expect(t, "new address", ana.say("2 Side St"), "Any note for us?")
	ana.say("no")
	expect(t, "placed 3", ana.say("yes"), "Your order number is 1003", "Delivery to 2 Side St")
	expect(t, "remembered", ana.Say("the usual")[0].Body, "I've put your last order (1003)")
	ana.say("empty cart")
	// A new chat (the customer invites the bot again) greets with the usual.
	room := "!second:test"
	invite := h.member("!second:test", bot, "invite", map[string]any{"is_direct": true})
	invite["sender"] = "@ana:test"
	got, err := h.Session.Inject(context.Background(), h.member("!second:test", "@ana:test", "join", map[string]any{"displayname": "Ana"}), invite)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Room.String() != room || got[0].Body == "" {
		t.Fatalf("welcome in a new chat: %+v", got)
	}
	expect(t, "welcome on invite", got[0].Body, "Welcome back, Ana. The usual large margherita?")
}

func TestOrderNumberRaceIsRetried(t *testing.T) {
	for _, uri := range dialectURIs(t) {
		t.Run(uri.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: uri.uri})
			h.openStaffRoom()
			h.order("1 Main St")
			// Between picking 1002 and committing, another turn takes it.
			raced := false
			ordering.SetNumberHook(h.Bot, func(ctx context.Context, n int64) {
				if raced {
					return
				}
				raced = true
				tx, err := h.DB.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				o := &ordering.Order{Number: n, Customer: "@other:test", Status: ordering.Received, Fulfilment: ordering.Pickup,
					Currency: "EUR", Lines: []ordering.Line{{Item: "cola", Name: "Cola", Qty: 1, Price: 300}}, Total: 300,
					CreatedAt: h.Clock.Now(), UpdatedAt: h.Clock.Now()}
				if err := ordering.InsertOrder(ctx, tx, bot, o); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			})
			placed := h.order("1 Main St")
			if !raced {
				t.Fatal("the hook did not run")
			}
			expect(t, "placed after retry", placed, "Your order number is 1003")
			reject(t, "one confirmation", placed, "1002")
			orders, err := ordering.Orders(h.Bot).ByCustomer(context.Background(), bot, h.Customer, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(orders) != 2 || orders[0].Number != 1003 || orders[1].Number != 1001 {
				t.Fatalf("orders: %+v", orders)
			}
			if n := len(h.History("order")); n != 2 {
				t.Fatalf("%d order records, want 2", n)
			}
		})
	}
}

func TestForgetMeAnonymisesOrders(t *testing.T) {
	h := newHarness(t, setup{})
	h.openStaffRoom()
	h.order("1 Main St")
	q := h.Say("forget me")
	expect(t, "forgotten", handlertest.Text(h.Choose(q[0], 1)), "I have erased everything")
	o, err := ordering.Orders(h.Bot).Get(context.Background(), bot, 1001)
	if err != nil {
		t.Fatal(err)
	}
	if o.Customer != "" || o.Address != "" || o.Total != 1500 {
		t.Fatalf("order after forget: %+v", o)
	}
	r := h.staff("!order 1001 preparing")
	expect(t, "staff", in(staffRoom, r), "The customer asked to be forgotten, so nobody was told.")
	if got := notIn(staffRoom, r); got != "" {
		t.Fatalf("told a forgotten customer: %q", got)
	}
	// Their display name went too: until their next membership event the
	// bot only knows their Matrix id.
	expect(t, "new customer again", h.say("hi"), "Hi alice, welcome to Pizza Place!")
	expect(t, "no usual", h.say("the usual"), "I don't know your usual yet")
	expect(t, "next number", h.order("3 New St"), "Your order number is 1002")
}
