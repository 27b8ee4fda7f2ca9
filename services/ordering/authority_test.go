package ordering_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/services/ordering"
)

const rider = id.UserID("@rider:test")

// TestStaffCommandsNeedAuthority: in the staff room only members with the
// configured power level (default 50) may list, show or move orders;
// with a `staff:` list, only the people listed. Others are refused
// politely and nothing changes. On both engines.
func TestStaffCommandsNeedAuthority(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri})
			h.openStaffRoom()
			h.Open()
			expect(t, "placed", h.order("1 Main St"), "Your order number is 1001")

			const refused = "Sorry Rider, only members with power level 50 or more in this room can use my commands. Nothing was changed."
			for _, cmd := range []string{"!orders", "!order 1001", "!order 1001 cancel", "!order 1001 ready", "!help"} {
				r := h.staffAs(rider, cmd)
				if got := in(staffRoom, r); got != refused || notIn(staffRoom, r) != "" {
					t.Fatalf("rider %q: staff room %q, elsewhere %q", cmd, got, notIn(staffRoom, r))
				}
			}
			if r := h.staffAs(rider, "anyone for coffee?"); len(r) != 0 {
				t.Fatalf("talk among staff answered: %q", in(staffRoom, r))
			}
			o, err := ordering.Orders(h.Bot).Get(context.Background(), bot, 1001)
			if err != nil || o.Status != ordering.Received {
				t.Fatalf("order after refused commands: %+v, %v", o, err)
			}
			// The chef (a moderator) may; promoting the rider counts at once.
			expect(t, "chef", in(staffRoom, h.staff("!order 1001 preparing")), "Order 1001 is now being prepared.")
			if _, err := h.Session.Inject(context.Background(), h.powerLevels(staffRoom, map[id.UserID]int{chef: 50, rider: 50})); err != nil {
				t.Fatal(err)
			}
			expect(t, "promoted rider", in(staffRoom, h.staffAs(rider, "!order 1001 ready")), "Order 1001 is now ready.")
		})
	}
}

// TestStaffListOverridesPowerLevels: with `staff:` set, the list decides,
// whatever the power levels say.
func TestStaffListOverridesPowerLevels(t *testing.T) {
	h := newHarness(t, setup{cfg: ordering.Config{Staff: []string{rider.String()}}})
	h.openStaffRoom()
	h.Open()
	h.order("1 Main St")
	const refused = "Sorry Chef, only the staff listed for this bot can use its commands here. Nothing was changed."
	if got := in(staffRoom, h.staff("!order 1001 cancel")); got != refused {
		t.Fatalf("chef (a moderator, not listed): %q", got)
	}
	expect(t, "listed rider", in(staffRoom, h.staffAs(rider, "!order 1001 preparing")), "Order 1001 is now being prepared.")
}

// TestCustomersCannotUseStaffCommands: "!order 1001 cancel" or "!orders"
// from a customer's own chat is never a staff command, and another
// customer's order cannot be seen or changed by its number.
func TestCustomersCannotUseStaffCommands(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri})
			h.openStaffRoom()
			h.Open()
			expect(t, "placed", h.order("1 Main St"), "Your order number is 1001")
			mallory := h.as("@mallory:test", "Mallory")
			mallory.Open()
			for _, text := range []string{"!orders", "!order 1001", "!order 1001 cancel", "status 1001", "cancel 1001",
				"cancel order 1001", "where is order 1001", "track 1001", "order 1001"} {
				got := mallory.say(text)
				reject(t, "mallory "+text, got, "1 Main St", "Margherita (Large", "€15.00", "@alice:test", "Alice", "cancelled")
			}
			o, err := ordering.Orders(h.Bot).Get(context.Background(), bot, 1001)
			if err != nil || o.Status != ordering.Received {
				t.Fatalf("alice's order after mallory's tries: %+v, %v", o, err)
			}
		})
	}
}
