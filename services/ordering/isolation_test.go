package ordering_test

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

const (
	group   = id.RoomID("!party:test")
	alice   = handlertest.DefaultCustomer
	mallory = id.UserID("@mallory:test")
)

// inGroup is a group room of Alice and Mallory with the bot, invited by
// Alice.
func (h *harness) inGroup() {
	h.t.Helper()
	invite := h.member(group, bot, "invite", nil)
	invite["sender"] = alice.String()
	if _, err := h.Session.Inject(context.Background(),
		h.member(group, alice, "join", map[string]any{"displayname": "Alice"}),
		h.member(group, mallory, "join", map[string]any{"displayname": "Mallory"}),
		invite); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) inject(evs ...map[string]any) []handlertest.Reply {
	h.t.Helper()
	h.Clock.Advance(pause)
	r, err := h.Session.Inject(context.Background(), evs...)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// groupSays is user mentioning the bot in the group.
func (h *harness) groupSays(user id.UserID, text string) []handlertest.Reply {
	h.t.Helper()
	return h.inject(h.event(group, user, "m.room.message", map[string]any{"msgtype": "m.text", "body": text,
		"m.mentions": map[string]any{"user_ids": []string{bot.String()}}}))
}

func (h *harness) reaction(room id.RoomID, user id.UserID, target id.EventID, key string) []handlertest.Reply {
	h.t.Helper()
	return h.inject(h.event(room, user, "m.reaction", map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target.String(), "key": key}}))
}

func question(t *testing.T, r []handlertest.Reply, prompt string) handlertest.Reply {
	t.Helper()
	for _, x := range r {
		if strings.Contains(x.Body, prompt) && len(x.Reactions) > 0 {
			return x
		}
	}
	t.Fatalf("no question %q in %q", prompt, handlertest.Bodies(r))
	return handlertest.Reply{}
}

// TestReactionToAnothersQuestionInAGroup: in a group room, Mallory
// clicking the option under the question the bot asked Alice neither
// answers it for Alice nor counts as Mallory's own answer; Alice's own
// click does. On both engines.
func TestReactionToAnothersQuestionInAGroup(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			h := newHarness(t, setup{uri: d.uri, noStaff: true})
			h.inGroup()
			expect(t, "add", handlertest.Text(h.groupSays(alice, "add margherita large")), "Added 1 × Margherita")
			q := question(t, h.groupSays(alice, "checkout"), "Delivery or pickup?")
			if r := h.reaction(group, mallory, q.EventID, q.Reactions[0]); len(r) != 0 {
				t.Fatalf("mallory's click on alice's question was taken as an answer: %q", handlertest.Bodies(r))
			}
			expect(t, "alice's click", handlertest.Text(h.reaction(group, alice, q.EventID, q.Reactions[0])), "What's the delivery address?")
		})
	}
}

// TestForgedRelationsReachNothing: Mallory, in her own chat, reacts to
// and replies to the event id of a question the bot asked Alice in
// Alice's chat. Neither is an answer, and nothing of Alice's shows.
func TestForgedRelationsReachNothing(t *testing.T) {
	h := newHarness(t, setup{noStaff: true})
	h.Open()
	h.say("add margherita large")
	q := question(t, h.Say("checkout"), "Delivery or pickup?")
	m := h.as(mallory, "Mallory")
	m.Open()
	mroom := h.Session.Room(bot, mallory)
	if r := h.reaction(mroom, mallory, q.EventID, q.Reactions[1]); len(r) != 0 {
		t.Fatalf("forged reaction answered: %q", handlertest.Bodies(r))
	}
	r := h.inject(h.event(mroom, mallory, "m.room.message", map[string]any{"msgtype": "m.text", "body": "2",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": q.EventID.String()},
			"rel_type": "m.thread", "event_id": q.EventID.String()}}))
	reject(t, "forged reply", handlertest.Text(r), "Pickup at", "Margherita", "Alice", "Any note")
	expect(t, "alice's own answer", h.say("2"), "Any note for us?")
}

// TestSomeoneElsesRoom: Alice invites Mallory into her chat with the
// bot. Mallory asking there about "my order" or order 1001 sees only her
// own (none), never Alice's.
func TestSomeoneElsesRoom(t *testing.T) {
	h := newHarness(t, setup{noStaff: true})
	h.Open()
	expect(t, "placed", h.order("1 Main St"), "Your order number is 1001")
	room := h.Session.Room(bot, alice)
	h.inject(h.member(room, mallory, "join", map[string]any{"displayname": "Mallory"}))
	says := func(user id.UserID, text string) string {
		return handlertest.Text(h.inject(h.event(room, user, "m.room.message", map[string]any{"msgtype": "m.text", "body": text,
			"m.mentions": map[string]any{"user_ids": []string{bot.String()}}})))
	}
	for _, text := range []string{"status", "where is my order", "status 1001", "cancel 1001", "the usual", "cart"} {
		reject(t, "mallory "+text, says(mallory, text), "1 Main St", "Margherita", "1001 (", "cancelled", "Alice")
	}
	expect(t, "alice's order", says(alice, "status"), "Order 1001", "received")
}
