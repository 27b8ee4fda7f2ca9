package support

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

func TestStaffCommandErrors(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam", bob: "Bob"})
	for _, tc := range []struct{ say, want string }{
		{"!claim 99", "There is no ticket 99. !tickets lists the open ones."},
		{"!claim abc", `"abc" is not a ticket number. Usage: !claim 17`},
		{"!claim", "Usage: !claim 17 (or !claim in the ticket's thread)."},
		{"!close -3", `"-3" is not a ticket number. Usage: !close 17`},
		{"!close 12", "There is no ticket 12. !tickets lists the open ones."},
		{"!reply 1", "Usage: !reply 17 your answer"},
		{"!tickets", "No open tickets. 🎉"},
	} {
		if got := handlertest.Text(d.staffSays(sam, tc.say, "")); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.say, got, tc.want)
		}
	}
	// Talk among staff, and other bots' commands, are left alone.
	for _, chatter := range []string{"coffee anyone?", "!weather Amsterdam", "claim 1"} {
		if r := d.staffSays(bob, chatter, ""); len(r) != 0 {
			t.Errorf("%q got %q", chatter, handlertest.Bodies(r))
		}
	}

	root := in(d.Say("The address on my account is wrong"), staffRoom)[0].EventID
	r := d.staffSays(sam, "!claim 1", "")
	if got := handlertest.Text(notIn(r, staffRoom)); got != "Sam (support) is now handling your ticket 1." {
		t.Fatalf("customer told of the claim: %q", got)
	}
	if s := in(r, staffRoom); len(s) != 1 || s[0].Body != "✋ Sam claimed ticket 1. Reply in its thread to answer Alice." || threadOf(s[0]) != root {
		t.Fatalf("claim note: %+v", s)
	}
	if got := handlertest.Text(d.staffSays(sam, "!claim 1", "")); got != "You already have ticket 1." {
		t.Fatalf("claim again: %q", got)
	}
	if got := handlertest.Text(d.staffSays(bob, "!claim", root)); got != "Ticket 1 is already claimed by Sam." {
		t.Fatalf("claim taken: %q", got)
	}
	// Bob may still answer in the thread, under his own name.
	if got := handlertest.Text(d.staffSays(bob, "Sam is at lunch; which address should it be?", root)); got != "Bob (support): Sam is at lunch; which address should it be?" {
		t.Fatalf("second agent: %q", got)
	}
	if got := handlertest.Text(d.staffSays(sam, "!frobnicate", root)); !strings.HasPrefix(got, "I don't know !frobnicate.") {
		t.Fatalf("unknown command in a thread: %q", got)
	}
	contains(t, "list", d.staffSays(sam, "!tickets", ""), "Open tickets:\n1 · Alice · with Sam · The address on my account is wrong")
	d.staffSays(sam, "!close 1", "")
	if got := handlertest.Text(in(d.staffSays(sam, "!close 1", ""), staffRoom)); got != "Ticket 1 is already closed." {
		t.Fatalf("close twice: %q", got)
	}
	if got := handlertest.Text(d.staffSays(bob, "!claim 1", "")); got != "Ticket 1 is closed. The customer can reopen it by writing to us." {
		t.Fatalf("claim closed: %q", got)
	}
	if got := handlertest.Text(d.staffSays(sam, "!reply 1 one more thing", "")); !strings.HasPrefix(got, "Ticket 1 is closed, so this was not sent to Alice.") {
		t.Fatalf("!reply to closed: %q", got)
	}
	contains(t, "help", d.staffSays(sam, "!help", ""), "!claim N", "!close N", "!reply N text", "!tickets")
}

// TestStaffAllowList: with staff configured, others in the staff room
// can neither claim nor answer; their chatter is ignored.
func TestStaffAllowList(t *testing.T) {
	cfg := staffConfig()
	cfg.Staff = []string{sam.String()}
	d := newDesk(t, cfg)
	d.openStaffRoom(map[id.UserID]string{sam: "Sam", eve: "Eve"})
	root := in(d.Say("Where is my order?"), staffRoom)[0].EventID
	const refused = "Sorry Eve, only the staff listed for this bot can use its commands here. Nothing was sent to the customer."
	for _, say := range []struct {
		text string
		root id.EventID
	}{{"!claim 1", ""}, {"Hi! I can help", root}, {"!close", root}, {"!reply 1 hello", ""}} {
		r := d.staffSays(eve, say.text, say.root)
		if got := handlertest.Text(r); got != refused || len(notIn(r, staffRoom)) != 0 {
			t.Fatalf("eve %q: %q", say.text, handlertest.Bodies(r))
		}
	}
	if r := d.staffSays(eve, "lunch?", ""); len(r) != 0 {
		t.Fatalf("chatter: %q", handlertest.Bodies(r))
	}
	if tk := d.ticket(1); tk.Status != statusOpen {
		t.Fatalf("ticket changed by a non-staff member: %+v", tk)
	}
	if got := handlertest.Text(notIn(d.staffSays(sam, "On it!", root), staffRoom)); got != "Sam (support): On it!" {
		t.Fatalf("staff reply: %q", got)
	}
}

// TestStaffByPowerLevel: without a staff list, only members of the staff
// room with the configured power level (default 50) may claim, answer,
// close or list; a promotion counts at once. On both engines.
func TestStaffByPowerLevel(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		join := d.event(staffRoom, eve, "m.room.member", map[string]any{"membership": "join", "displayname": "Eve"})
		join["state_key"] = eve.String()
		d.inject(join)
		root := in(d.Say("Where is my order?"), staffRoom)[0].EventID
		const refused = "Sorry Eve, only members with power level 50 or more in this room can use my commands. Nothing was sent to the customer."
		for _, say := range []struct {
			text string
			root id.EventID
		}{{"!claim 1", ""}, {"Hi! I can help", root}, {"!close", root}, {"!reply 1 hello", ""}, {"!tickets", ""}} {
			r := d.staffSays(eve, say.text, say.root)
			if got := handlertest.Text(r); got != refused || len(notIn(r, staffRoom)) != 0 {
				t.Fatalf("eve %q: %q", say.text, handlertest.Bodies(r))
			}
		}
		if tk := d.ticket(1); tk.Status != statusOpen {
			t.Fatalf("ticket changed by a member without power: %+v", tk)
		}
		// The room admin makes Eve a moderator: her next command counts.
		pl := d.event(staffRoom, admin, "m.room.power_levels", map[string]any{"users": map[string]any{
			admin.String(): 100, sam.String(): 50, eve.String(): 50}})
		pl["state_key"] = ""
		d.inject(pl)
		if got := handlertest.Text(notIn(d.staffSays(eve, "On it!", root), staffRoom)); got != "Eve (support): On it!" {
			t.Fatalf("eve as moderator: %q", got)
		}
	})
}

// TestRepliesWithoutThreads: clients without threads quote the ticket
// post (or any bot post about it), or use !reply.
func TestRepliesWithoutThreads(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam", bob: "Bob"})
	post := in(d.Say("I need a person"), staffRoom)[0]
	if got := handlertest.Text(notIn(d.staffQuotes(sam, "Hello from Sam", post.EventID), staffRoom)); got != "Sam (support): Hello from Sam" {
		t.Fatalf("quote reply: %q", got)
	}
	relay := in(d.Say("Hi Sam, my order is 1234"), staffRoom)[0]
	if got := handlertest.Text(notIn(d.staffQuotes(sam, "Found it", relay.EventID), staffRoom)); got != "Sam (support): Found it" {
		t.Fatalf("quote of a relayed message: %q", got)
	}
	if got := handlertest.Text(notIn(d.staffSays(bob, "!reply 1 It ships today.", ""), staffRoom)); got != "Bob (support): It ships today." {
		t.Fatalf("!reply: %q", got)
	}
	// Quoting a message that is not about a ticket is just talk.
	if r := d.staffQuotes(sam, "+1", id.EventID("$someone-else")); len(r) != 0 {
		t.Fatalf("quote of another message: %q", handlertest.Bodies(r))
	}
}

func TestMediaRelayedBothWays(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam", bob: "Bob"})
	root := in(d.Say("My lamp arrived broken"), staffRoom)[0].EventID
	r := d.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "lamp.jpg", "url": "mxc://test/lamp"})
	s := in(r, staffRoom)
	if len(s) != 1 || s[0].MsgType != "m.image" || s[0].Content["url"] != "mxc://test/lamp" || s[0].Body != "Alice: lamp.jpg" || threadOf(s[0]) != root {
		t.Fatalf("image to staff: %+v", s)
	}
	r = d.inject(d.event(staffRoom, sam, "m.room.message", map[string]any{"msgtype": "m.file", "body": "return-label.pdf", "url": "mxc://test/label",
		"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.String()}}))
	c := notIn(r, staffRoom)
	if len(c) != 1 || c[0].MsgType != "m.file" || c[0].Content["url"] != "mxc://test/label" || c[0].Body != "Sam (support): return-label.pdf" {
		t.Fatalf("file to customer: %+v", c)
	}
}
