package support

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/internal/handoff"
	"github.com/bizbots/bizbots/store"
)

const alicia = id.UserID("@alicia:test") // works in the business console

// consoleSays queues a hand-over as the business console does and returns
// what the bot sent when it came.
func (d *desk) consoleSays(action string, agent id.UserID) []handlertest.Reply {
	d.t.Helper()
	room := d.Session.Room(d.Bot, d.Customer)
	err := store.AddTimer(context.Background(), d.DB, d.Bot.String(), room.String(), d.Customer.String(),
		handoff.TimerName, handoff.Encode(handoff.Payload{Action: action, Agent: agent.String()}), d.Clock.Now().UnixMilli())
	if err != nil {
		d.t.Fatal(err)
	}
	return d.Advance(0)
}

// A take-over in the console claims the customer's ticket and says so in
// the staff room; a staff !claim then finds it taken. Handing back opens
// it again, and the console sees a staff-room claim as the ticket's
// holder.
func TestConsoleAndStaffRoomShareTickets(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		root := in(d.Say("My order never came"), staffRoom)[0]

		r := d.consoleSays(handoff.Take, alicia)
		if len(notIn(r, staffRoom)) != 0 {
			t.Fatalf("the customer was told more than the console told them: %q", handlertest.Bodies(r))
		}
		staff := in(r, staffRoom)
		if len(staff) != 1 || staff[0].Body != "✋ @alicia:test took ticket 1 over in the business console." || threadOf(staff[0]) != root.EventID {
			t.Fatalf("staff room after the console's take-over: %+v", staff)
		}
		if tk := d.ticket(1); tk.Status != statusClaimed || tk.AgentID != alicia {
			t.Fatalf("ticket after the take-over: %+v", tk)
		}
		contains(t, "claim after the console took it", d.staffSays(sam, "!claim 1", ""), "already claimed by @alicia:test")
		holders, err := d.bot.Holders(context.Background(), d.Bot)
		if err != nil || holders[d.Customer].Agent != alicia {
			t.Fatalf("holders %+v, err %v", holders, err)
		}
		if r := d.consoleSays(handoff.Take, alicia); len(r) != 0 {
			t.Fatalf("a repeated take-over said something: %q", handlertest.Bodies(r))
		}

		contains(t, "hand back", in(d.consoleSays(handoff.Back, alicia), staffRoom), "handed ticket 1 back", "open again")
		if tk := d.ticket(1); tk.Status != statusOpen || tk.AgentID != "" {
			t.Fatalf("ticket after the hand-back: %+v", tk)
		}

		// The other way: Sam claims in the staff room; the console's
		// Holders shows Sam.
		d.staffSays(sam, "!claim 1", "")
		holders, err = d.bot.Holders(context.Background(), d.Bot)
		if h := holders[d.Customer]; err != nil || h.Agent != sam || h.Name != "Sam" || h.Where != "staff room" {
			t.Fatalf("holders after Sam's claim: %+v, err %v", holders, err)
		}
		// A take-over in the console now leaves Sam's claim and warns.
		contains(t, "take-over of Sam's ticket", in(d.consoleSays(handoff.Take, alicia), staffRoom), "stays claimed by Sam")

		// Closing in the console closes the ticket and asks for a rating.
		r = d.consoleSays(handoff.Close, alicia)
		contains(t, "close", in(r, staffRoom), "closed ticket 1 in the business console")
		contains(t, "rating question", notIn(r, staffRoom), "alicia (support) closed ticket 1", "How did we do on ticket 1?")
		if tk := d.ticket(1); tk.Status != statusClosed {
			t.Fatalf("ticket after the close: %+v", tk)
		}
		past, err := d.bot.Past(context.Background(), d.Bot, d.Customer, 10)
		if err != nil || len(past) != 1 || past[0].Ref != "1" || past[0].Status != "closed" || past[0].Summary == "" {
			t.Fatalf("past %+v, err %v", past, err)
		}
	})
}
