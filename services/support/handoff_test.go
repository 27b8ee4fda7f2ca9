package support

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
)

// TestHandoffRoundTrip follows one ticket from the customer's question to
// the rating, on both engines: staff room post, claim by replying in the
// thread, relays both ways naming the agent, close, rating (bad one
// first), and a reply to the closed ticket that is refused.
func TestHandoffRoundTrip(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, staffConfig(), opts)
		welcome := d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		contains(t, "staff welcome", welcome, "New tickets appear in this room", "!claim N")

		r := d.Say("I was charged twice for order 1234")
		cust := notIn(r, staffRoom)
		if got := handlertest.Text(cust); got != "I've opened ticket 1 for you, Alice. A person will answer here. Expected wait: about 5 minutes." {
			t.Fatalf("customer: %q", got)
		}
		posts := in(r, staffRoom)
		if len(posts) != 1 {
			t.Fatalf("staff room: %q", handlertest.Bodies(r))
		}
		root := posts[0]
		contains(t, "ticket post", posts, "New ticket 1 from Alice (@alice:test)", "> I was charged twice for order 1234", "!claim 1", "!close 1")
		if strings.Contains(root.HTML, "<script") || !strings.Contains(root.HTML, "<blockquote>I was charged twice") {
			t.Fatalf("ticket post HTML: %q", root.HTML)
		}
		if h := d.History("ticket"); len(h) != 1 || h[0].Summary != "Ticket 1: I was charged twice for…" {
			t.Fatalf("history: %+v", h)
		}

		// Sam answers in the thread: that claims the ticket and reaches
		// the customer under Sam's name.
		r = d.staffSays(sam, "Hi Alice, I'm checking order 1234 now.", root.EventID)
		if got := handlertest.Text(notIn(r, staffRoom)); got != "Sam (support): Hi Alice, I'm checking order 1234 now." {
			t.Fatalf("relay to customer: %q", handlertest.Bodies(r))
		}
		staff := in(r, staffRoom)
		if len(staff) != 1 || staff[0].Body != "✋ Sam claimed ticket 1." || threadOf(staff[0]) != root.EventID {
			t.Fatalf("claim note: %+v", staff)
		}
		if tk := d.ticket(1); tk.Status != statusClaimed || tk.AgentID != sam || tk.AgentName != "Sam" {
			t.Fatalf("ticket after claim: %+v", tk)
		}

		// The customer's next messages go into the thread, silently.
		r = d.Say("Thanks! It was paid with iDEAL.")
		if len(notIn(r, staffRoom)) != 0 {
			t.Fatalf("customer got replies while an agent is on it: %q", handlertest.Bodies(r))
		}
		relay := in(r, staffRoom)
		if len(relay) != 1 || relay[0].Body != "Alice: Thanks! It was paid with iDEAL." || threadOf(relay[0]) != root.EventID {
			t.Fatalf("relay to staff: %+v", relay)
		}
		if tk := d.ticket(1); tk.RootEvent != root.EventID {
			t.Fatalf("thread root not remembered: %q", tk.RootEvent)
		}

		// Close from the thread; the rating question reaches the customer
		// through a timer in their own conversation.
		r = d.staffSays(sam, "!close", root.EventID)
		if got := handlertest.Text(in(r, staffRoom)); got != "✅ Sam closed ticket 1; Alice is asked to rate it." {
			t.Fatalf("close: %q", got)
		}
		// The timer is due at once, so it may fire in the same step.
		r = append(notIn(r, staffRoom), d.Advance(time.Second)...)
		if len(r) != 2 || r[0].Body != "Sam (support) closed ticket 1. Thank you for contacting Example Shop!" ||
			!strings.HasPrefix(r[1].Body, "How did we do on ticket 1? Rate us from 1 (poor) to 5 (excellent).") || len(r[1].Reactions) != 5 {
			t.Fatalf("rating question: %+v", handlertest.Bodies(r))
		}
		question := r[1]
		// A bad rating gets the question (or how to answer it) again.
		for _, bad := range []string{"7", "0", "-1", "10/10", "meh"} {
			if got := handlertest.Text(d.Say(bad)); !strings.Contains(got, "from 1 (poor) to 5 (excellent)") || strings.Contains(got, "Thank you") {
				t.Fatalf("rating %q: %q", bad, got)
			}
		}
		if tk := d.ticket(1); tk.Rating != 0 {
			t.Fatalf("a bad rating was stored: %d", tk.Rating)
		}
		r = d.Choose(question, 4)
		if got := handlertest.Text(notIn(r, staffRoom)); got != "Thank you for your rating!" {
			t.Fatalf("rated: %q", got)
		}
		if s := in(r, staffRoom); len(s) != 1 || s[0].Body != "⭐ Alice rated ticket 1: 4/5 (good)" || threadOf(s[0]) != root.EventID {
			t.Fatalf("rating in staff room: %+v", s)
		}
		if tk := d.ticket(1); tk.Rating != 4 || tk.Status != statusClosed {
			t.Fatalf("ticket after rating: %+v", tk)
		}
		if h := d.History("rating"); len(h) != 1 || h[0].Summary != "Ticket 1: 4/5" {
			t.Fatalf("rating history: %+v", h)
		}

		// Staff replying to the closed ticket get an error; nothing is
		// relayed.
		r = d.staffSays(sam, "One more thing…", root.EventID)
		if len(notIn(r, staffRoom)) != 0 || handlertest.Text(r) != "Ticket 1 is closed, so this was not sent to Alice. They can reopen it by writing to us." {
			t.Fatalf("reply to closed ticket: %+v", r)
		}
		if threadOf(r[0]) != root.EventID {
			t.Fatalf("the error is not in the thread: %+v", r[0].Content)
		}
	})
}
