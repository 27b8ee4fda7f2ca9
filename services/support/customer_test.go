package support

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
)

func TestFAQAnsweredAndHelped(t *testing.T) {
	d := newDesk(t, DefaultConfig())
	if got := handlertest.Text(d.Open()); got != `Hi Alice, welcome to our shop support! Ask me a question (shipping, returns, payment…), or say "person" to talk to someone.` {
		t.Fatalf("welcome: %q", got)
	}
	r := d.Say("How long does shipping to Belgium take?")
	if len(r) != 2 || !strings.HasPrefix(r[0].Body, "Orders placed before 15:00") ||
		!strings.HasPrefix(r[1].Body, "Did that help?\n1. Yes, thanks\n2. No, talk to a person") || len(r[1].Reactions) != 2 {
		t.Fatalf("FAQ answer: %q", handlertest.Bodies(r))
	}
	if got := handlertest.Text(d.Choose(r[1], 1)); got != "Glad I could help! Ask me anything else any time." {
		t.Fatalf("helped: %q", got)
	}
	if h := d.History("faq"); len(h) != 1 || h[0].Summary != "How long does shipping take?" {
		t.Fatalf("faq history: %+v", h)
	}
	if d.ticketCount() != 0 {
		t.Fatal("a ticket was opened for an answered question")
	}
}

func TestFAQMatching(t *testing.T) {
	b, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		want int // index into DefaultFAQs, -1 none
	}{
		{"How long does shipping take?", 0},
		{"when will my parcel arrive", 0},
		{"Can I get my MONEY BACK?", 1},
		{"I'd like to return these shoes", 1},
		{"do you take paypal", 2},
		{"Which payment methods do you accept", 2},
		{"what are your opening hours", 3},
		{"are you open on the weekend?", 3},
		{"my order 1234 arrived broken", -1},
		{"hello", -1},
		{"", -1},
		{strings.Repeat("zzz ", 1000), -1},
	} {
		m := bestFAQ(b.faqs, tc.text)
		got := m.index
		if m.score < b.cfg.MatchThreshold {
			got = -1
		}
		if got != tc.want {
			t.Errorf("%q: FAQ %d (score %.2f), want %d", tc.text[:min(len(tc.text), 40)], got, m.score, tc.want)
		}
	}
	// Word overlap alone, without keywords, clears the threshold only for
	// a close paraphrase.
	custom := DefaultConfig()
	custom.FAQs = []FAQ{{Question: "Do you sell gift cards?", Answer: "Yes, from €10."}}
	cb, err := New(custom, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := bestFAQ(cb.faqs, "do you sell gift cards"); m.score < custom.MatchThreshold {
		t.Errorf("paraphrase scored %.2f", m.score)
	}
	if m := bestFAQ(cb.faqs, "my card was declined"); m.score >= custom.MatchThreshold {
		t.Errorf("one shared word scored %.2f", m.score)
	}
}

func TestFAQDidNotHelpOpensTicket(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam", bob: "Bob"})
	r := d.Say("Can I pay with PayPal?")
	contains(t, "payment FAQ", r, "We accept iDEAL", "Did that help?")
	r = d.Say("no")
	contains(t, "ticket", notIn(r, staffRoom), "I've opened ticket 1 for you, Alice.", "Expected wait: about 5 minutes.")
	post := in(r, staffRoom)
	contains(t, "staff post", post, "New ticket 1 from Alice (@alice:test):\n> Can I pay with PayPal?",
		`The FAQ answer to "Which payment methods do you accept?" did not help.`)
	if tk := d.ticket(1); tk.Topic != "paypal" || tk.Subject != "Can I pay with PayPal?" || tk.Status != statusOpen {
		t.Fatalf("ticket: %+v", tk)
	}

	// "talk to a person" typed as an answer works the same; a new
	// question instead of an answer is handled as a new question.
	bob := d.As("@bob:test", "Bob")
	contains(t, "bob faq", bob.Say("how do returns work"), "Did that help?")
	contains(t, "new question instead", bob.Say("and do you take credit cards?"), "We accept iDEAL", "Did that help?")
	r = bob.Say("talk to a person please")
	contains(t, "bob ticket", notIn(r, staffRoom), "I've opened ticket 2 for you, Bob.", "Expected wait: about 10 minutes.")
}

// TestWithoutStaffRoom: the default config has no staff room; tickets
// are recorded and the customer is told someone will get back to them.
// A customer with an open ticket who asks again stays on the same one.
func TestWithoutStaffRoom(t *testing.T) {
	d := newDesk(t, DefaultConfig())
	r := d.Say("I want to talk to a person")
	if got := handlertest.Text(r); got != "I've opened ticket 1 for you, Alice. Someone from our team will get back to you as soon as possible." {
		t.Fatalf("ticket: %q", got)
	}
	for _, again := range []string{"hello?", "talk to a person", "My parcel is lost, open another ticket"} {
		if got := handlertest.Text(d.Say(again)); got != "Added to your ticket 1. Someone from our team will get back to you." {
			t.Fatalf("%q: %q", again, got)
		}
	}
	if n := d.ticketCount(); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
	if got := handlertest.Text(d.Say("status")); !strings.Contains(got, "Your ticket 1 (I want to talk to…) is open and waiting for a person.") {
		t.Fatalf("status: %q", got)
	}
	contains(t, "help", d.Say("help"), "How long does shipping take?", `"person"`, "Your ticket 1 is open")
}

func TestClosedHoursAndNoStaffOnline(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 1, 5, 19, 0, 0, 0, time.UTC), "We're closed now; we'll answer tomorrow from 09:00."},   // Mon 20:00 Amsterdam
		{time.Date(2026, 1, 6, 6, 0, 0, 0, time.UTC), "We're closed now; we'll answer from 09:00."},             // Tue 07:00
		{time.Date(2026, 1, 9, 17, 30, 0, 0, time.UTC), "We're closed now; we'll answer on Monday from 09:00."}, // Fri 18:30
		{time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), "We're closed now; we'll answer on Monday from 09:00."}, // Saturday
		{time.Date(2026, 7, 6, 7, 30, 0, 0, time.UTC), "A person will answer here."},                            // Mon 09:30 in summer time
	} {
		d := newDesk(t, staffConfig(), handlertest.Options{Start: tc.at})
		d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
		contains(t, tc.at.String(), notIn(d.Say("talk to a person"), staffRoom), tc.want)
	}

	// Open, but nobody in the staff room.
	d := newDesk(t, staffConfig())
	d.openStaffRoom(nil)
	contains(t, "no staff", d.Say("I need a human"), "No one from our team is online right now; a person will answer here as soon as someone is back.")

	// An allow-list counts only its members as staff.
	cfg := staffConfig()
	cfg.Staff = []string{sam.String()}
	d = newDesk(t, cfg)
	d.openStaffRoom(map[id.UserID]string{eve: "Eve"})
	contains(t, "only non-staff present", d.Say("I need a human"), "No one from our team is online right now")
}

func TestExpectedWait(t *testing.T) {
	cfg := staffConfig()
	cfg.ExpectedWait = 0
	d := newDesk(t, cfg)
	d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
	contains(t, "first", d.Say("human please"), "Expected wait: about 5 minutes.")
	contains(t, "second", d.As("@bob:test", "Bob").Say("human please"), "Expected wait: about 10 minutes.")
	d.staffSays(sam, "!claim 1", "")
	contains(t, "after a claim", d.As("@carol:test", "Carol").Say("human please"), "Expected wait: about 10 minutes.")

	cfg.ExpectedWait = config.Duration(15 * time.Minute)
	d = newDesk(t, cfg)
	d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
	contains(t, "fixed", d.Say("human please"), "Expected wait: about 15 minutes.")
}

func TestPleasantriesOpenNoTicket(t *testing.T) {
	d := newDesk(t, DefaultConfig())
	if got := handlertest.Text(d.Say("Hi!")); !strings.HasPrefix(got, "Hi Alice! What can I help you with?") {
		t.Fatalf("hi: %q", got)
	}
	if got := handlertest.Text(d.Say("thanks")); got != "You're welcome! Write any time you need us." {
		t.Fatalf("thanks: %q", got)
	}
	if got := handlertest.Text(d.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "x.png", "url": "mxc://test/x"})); !strings.Contains(got, "I can only read text") {
		t.Fatalf("image without a ticket: %q", got)
	}
	if d.ticketCount() != 0 {
		t.Fatal("small talk opened a ticket")
	}
}

// TestReturningCustomer: greeted with their last ticket, in the middle of
// a chat after a while away and when a chat opens; "yes" reopens it.
func TestReturningCustomer(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
	contains(t, "FAQ first", d.Say("I want a refund for order 1234"), "You can return anything within 30 days", "Did that help?")
	root := in(d.Say("no"), staffRoom)[0].EventID
	d.staffSays(sam, "Refund sent!", root)
	rating := append(notIn(d.staffSays(sam, "!close 1", ""), staffRoom), d.Advance(time.Second)...)
	d.Choose(rating[len(rating)-1], 5)
	if got := handlertest.Text(d.Say("thanks!")); got != "You're welcome! Write any time you need us." {
		t.Fatalf("thanks right after: %q", got)
	}

	d.Advance(3 * time.Hour)
	r := d.Say("hi again")
	if len(r) != 1 || !strings.HasPrefix(r[0].Body, "Welcome back, Alice. Is this about ticket 1 (refund)?\n1. Yes, ticket 1\n2. No, something else") {
		t.Fatalf("welcome back: %q", handlertest.Bodies(r))
	}
	r = d.Say("yes")
	if got := handlertest.Text(notIn(r, staffRoom)); got != "I've reopened ticket 1 for you. Sam (support) will pick it up again here." {
		t.Fatalf("reopen: %q", got)
	}
	s := in(r, staffRoom)
	if len(s) != 1 || s[0].Body != "🔄 Alice reopened ticket 1: hi again" || threadOf(s[0]) != root {
		t.Fatalf("reopen in staff room: %+v", s)
	}
	if tk := d.ticket(1); tk.Status != statusClaimed || tk.AgentID != sam {
		t.Fatalf("reopened ticket: %+v", tk)
	}
	if got := handlertest.Text(d.staffSays(sam, "What is still wrong?", root)); got != "Sam (support): What is still wrong?" {
		t.Fatalf("relay after reopen: %q", got)
	}
	d.staffSays(sam, "!close 1", "")
	d.Advance(time.Second)
	d.Say("5")

	// "No": the message they came with is handled as usual.
	d.Advance(2 * time.Hour)
	contains(t, "asked again", d.Say("do you accept paypal?"), "Is this about ticket 1 (refund)?")
	contains(t, "no → FAQ", d.Say("2"), "We accept iDEAL", "Did that help?")

	// Opening a new chat: the welcome asks about the last ticket.
	other := id.RoomID("!second-dm:test")
	join := d.event(other, d.Customer, "m.room.member", map[string]any{"membership": "join", "displayname": "Alice"})
	join["state_key"] = d.Customer.String()
	inv := d.event(other, d.Customer, "m.room.member", map[string]any{"membership": "invite", "is_direct": true})
	inv["state_key"] = d.Bot.String()
	contains(t, "welcome in a new chat", d.inject(join, inv), "Welcome back, Alice. Is this about ticket 1 (refund)?")

	// Past the follow-up window, a plain welcome back.
	d.Advance(31 * 24 * time.Hour)
	bobRoom := id.RoomID("!third-dm:test")
	join = d.event(bobRoom, d.Customer, "m.room.member", map[string]any{"membership": "join", "displayname": "Alice"})
	join["state_key"] = d.Customer.String()
	inv = d.event(bobRoom, d.Customer, "m.room.member", map[string]any{"membership": "invite", "is_direct": true})
	inv["state_key"] = d.Bot.String()
	if got := handlertest.Text(d.inject(join, inv)); got != "Welcome back, Alice! What can I help you with?" {
		t.Fatalf("old ticket: %q", got)
	}
}

func TestForgetMeAnonymisesTickets(t *testing.T) {
	d := newDesk(t, staffConfig())
	d.openStaffRoom(map[id.UserID]string{sam: "Sam"})
	root := in(d.Say("Please have someone call me on +31 6 1234 5678"), staffRoom)[0].EventID
	q := d.Say("forget me")
	d.Choose(q[0], 1)
	tk := d.ticket(1)
	if tk.CustomerID != "" || tk.Subject != "" || tk.CustomerName != "" || tk.Status != statusClosed {
		t.Fatalf("ticket not anonymised: %+v", tk)
	}
	r := d.staffSays(sam, "Hi, calling you now", root)
	if len(notIn(r, staffRoom)) != 0 || !strings.Contains(handlertest.Text(r), "asked us to forget them") {
		t.Fatalf("reply to a forgotten customer: %+v", handlertest.Bodies(r))
	}
	// The numbers go on.
	contains(t, "new ticket", d.Say("I need a human"), "I've opened ticket 2")
}

// TestTicketNumberRace: another customer's ticket commits between this
// turn's read of the next number and its commit. The unique key turns it
// into a conflict, the event is handled again at once, and the customer
// hears of one ticket only, with the next number.
func TestTicketNumberRace(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		raced := false
		d := newDeskWith(t, DefaultConfig(), func(d *desk, h handlers.Handler) handlers.Handler {
			return handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
				err := h.Handle(ctx, c, m)
				if !raced && m.IsText() && m.Text() == "I need a person" {
					raced = true
					_, e := d.DB.ExecContext(ctx, `INSERT INTO support_tickets (bot_user_id, number, customer_id, room_id, subject, created_at, updated_at)
						VALUES ($1, 1, '@rival:test', '!r:test', 'rival', 0, 0)`, c.Bot.String())
					if e != nil {
						t.Error(e)
					}
				}
				return err
			})
		}, opts)
		r := d.Say("I need a person")
		if got := handlertest.Text(r); got != "I've opened ticket 2 for you, Alice. Someone from our team will get back to you as soon as possible." {
			t.Fatalf("after the race: %q", handlertest.Bodies(r))
		}
		if !raced || d.ticketCount() != 2 || d.ticket(2).CustomerID != d.Customer {
			t.Fatalf("raced=%v tickets=%d", raced, d.ticketCount())
		}
		if h := d.History("ticket"); len(h) != 1 {
			t.Fatalf("history has %d ticket records, want 1", len(h))
		}
	})
}

// TestSecondOpenTicketRace: the same customer's ticket opened elsewhere
// (another chat with the bot) wins the race; this message joins it.
func TestSecondOpenTicketRace(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		raced := false
		d := newDeskWith(t, DefaultConfig(), func(d *desk, h handlers.Handler) handlers.Handler {
			return handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
				err := h.Handle(ctx, c, m)
				if !raced && m.IsText() && m.Text() == "I need a person" {
					raced = true
					_, e := d.DB.ExecContext(ctx, `INSERT INTO support_tickets (bot_user_id, number, customer_id, room_id, subject, topic, created_at, updated_at)
						VALUES ($1, 7, $2, '!other:test', 'from elsewhere', 'elsewhere', 0, 0)`, c.Bot.String(), c.Customer.ID.String())
					if e != nil {
						t.Error(e)
					}
				}
				return err
			})
		}, opts)
		if got := handlertest.Text(d.Say("I need a person")); got != "Added to your ticket 7. Someone from our team will get back to you." {
			t.Fatalf("after the race: %q", got)
		}
		if d.ticketCount() != 1 {
			t.Fatalf("%d tickets", d.ticketCount())
		}
	})
}

func TestStorageConflicts(t *testing.T) {
	onEngines(t, func(t *testing.T, opts handlertest.Options) {
		d := newDesk(t, DefaultConfig(), opts)
		q := ticketQuery{db: d.DB, bot: d.Bot.String()}
		ctx := context.Background()
		insert := func(tk *ticket) error {
			tx, err := d.DB.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if err := q.insert(ctx, tx, tk, 1); err != nil {
				return err
			}
			return tx.Commit()
		}
		if err := insert(&ticket{Number: 1, CustomerID: "@a:test", Room: "!a:test"}); err != nil {
			t.Fatal(err)
		}
		if err := insert(&ticket{Number: 1, CustomerID: "@b:test", Room: "!b:test"}); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("same number: %v", err)
		}
		if err := insert(&ticket{Number: 2, CustomerID: "@a:test", Room: "!a:test"}); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("second open ticket: %v", err)
		}
		tx, err := d.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := change(ctx, tx, 1, `UPDATE support_tickets SET status = 'claimed' WHERE bot_user_id = $1 AND number = $2 AND status = 'closed'`, q.bot, 1); !errors.Is(err, handlers.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE support_tickets SET rating = 6 WHERE number = 1`); err == nil {
			t.Fatal("a rating of 6 was stored")
		}
	})
}
