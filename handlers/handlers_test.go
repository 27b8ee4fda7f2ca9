package handlers_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// pizzaFlow asks for a size, then an address, with a 30-minute timeout.
func pizzaFlow() handlers.Handler {
	type order struct {
		Size    string `json:"size"`
		Address string `json:"address"`
	}
	f := &handlers.Flow{Timeout: 30 * time.Minute}
	f.Start = handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		if m.Text() != "order" {
			c.Reply("Say 'order' to start.")
			return nil
		}
		c.Ask("Which size?", handlers.Opt("s", "Small"), handlers.Opt("m", "Medium"), handlers.Opt("l", "Large"))
		f.Goto(c, "size")
		return nil
	})
	f.Expired = handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.Notice("Your order expired (you were at: " + c.ExpiredStep() + ").")
		return nil
	})
	f.Steps = map[string]handlers.Handler{
		"size": handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			if m.Choice == nil {
				return handlers.Errorf("Please pick a size: 1, 2 or 3.")
			}
			if err := c.SetState(order{Size: m.Choice.Key}); err != nil {
				return err
			}
			c.Reply("Address?")
			f.Goto(c, "address")
			return nil
		}),
		"address": handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			var o order
			if _, err := c.State(&o); err != nil {
				return err
			}
			o.Address = m.Text()
			c.SetFact("address", o.Address)
			if err := c.Record("order", "pizza "+o.Size, o); err != nil {
				return err
			}
			c.Replyf("Ordered a %s pizza to %s.", o.Size, o.Address)
			c.Clear()
			return nil
		}),
	}
	return f
}

func TestChoiceTypedByNumberWordsOrReaction(t *testing.T) {
	for _, answer := range []string{"2", "2.", "medium", "Med", "2️⃣"} {
		t.Run(answer, func(t *testing.T) {
			h := handlertest.New(t, pizzaFlow())
			r := h.Say("order")
			if len(r) != 1 || len(r[0].Reactions) != 3 || len(r[0].Options) != 3 {
				t.Fatalf("question: %+v", r)
			}
			if !strings.Contains(r[0].Body, "1. Small") || !strings.Contains(r[0].Body, "3. Large") {
				t.Fatalf("numbered options missing: %q", r[0].Body)
			}
			got := h.Say(answer)
			if handlertest.Text(got) != "Address?" {
				t.Fatalf("answer %q: replies %q", answer, handlertest.Bodies(got))
			}
			var st struct{ Size string }
			if step, _ := h.State(&st); step != "address" || st.Size != "m" {
				t.Fatalf("state after %q: step %q size %q", answer, step, st.Size)
			}
		})
	}
}

func TestChoiceByClickingReaction(t *testing.T) {
	h := handlertest.New(t, pizzaFlow())
	q := h.Say("order")[0]
	if got := handlertest.Text(h.Choose(q, 3)); got != "Address?" {
		t.Fatalf("after clicking 3️⃣: %q", got)
	}
	var st struct{ Size string }
	h.State(&st)
	if st.Size != "l" {
		t.Fatalf("size %q, want l", st.Size)
	}
}

func TestWrongAnswerKeepsQuestionOpen(t *testing.T) {
	h := handlertest.New(t, pizzaFlow())
	h.Say("order")
	if got := handlertest.Text(h.Say("purple")); got != "Please pick a size: 1, 2 or 3." {
		t.Fatalf("bad answer: %q", got)
	}
	if got := handlertest.Text(h.Say("1")); got != "Address?" {
		t.Fatalf("the question should still be open: %q", got)
	}
}

func TestStateExpires(t *testing.T) {
	h := handlertest.New(t, pizzaFlow())
	h.Say("order")
	h.Advance(31 * time.Minute)
	got := handlertest.Bodies(h.Say("2"))
	if len(got) != 2 || !strings.Contains(got[0], "expired") || !strings.Contains(got[0], "size") || got[1] != "Say 'order' to start." {
		t.Fatalf("after expiry: %q", got)
	}
	if _, found := h.State(nil); found {
		t.Fatal("expired state still stored")
	}
}

func TestFactsHistoryAndForgetMe(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := handlertest.New(t, pizzaFlow(), handlertest.Options{URI: storetest.URI(t, db.Dialect)})
		h.Say("order")
		h.Say("1")
		if got := handlertest.Text(h.Say("1 Main St")); got != "Ordered a s pizza to 1 Main St." {
			t.Fatalf("order: %q", got)
		}
		c := h.StoredCustomer()
		if c == nil || c.Facts["address"] != "1 Main St" || c.DisplayName != "Alice" {
			t.Fatalf("customer: %+v", c)
		}
		if orders := h.History("order"); len(orders) != 1 || orders[0].Summary != "pizza s" {
			t.Fatalf("order history: %+v", orders)
		}
		if msgs := h.History("message"); len(msgs) != 3 || msgs[0].Summary != "1 Main St" {
			t.Fatalf("message history (newest first): %+v", msgs)
		}
		// Another customer is not affected by Alice's erasure.
		bob := h.As("@bob:test", "Bob")
		bob.Say("hello")

		q := h.Say("forget me")
		if len(q) != 1 || len(q[0].Options) != 2 || !strings.Contains(q[0].Body, "Are you sure") {
			t.Fatalf("forget me must ask first: %+v", q)
		}
		if h.StoredCustomer() == nil {
			t.Fatal("data erased before confirmation")
		}
		done := handlertest.Text(h.Say("1"))
		if !strings.Contains(done, "erased everything") {
			t.Fatalf("confirmation reply: %q", done)
		}
		if c := h.StoredCustomer(); c != nil {
			t.Fatalf("customer still stored after forget me: %+v", c)
		}
		if hist := h.History(); len(hist) != 0 {
			t.Fatalf("history left after forget me: %+v", hist)
		}
		var n int
		if err := h.DB.QueryRow(`SELECT count(*) FROM inbox WHERE sender = '@alice:test' AND event LIKE '%Main St%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("message text kept in the inbox after forget me: n=%d err=%v", n, err)
		}
		if bob.StoredCustomer() == nil || len(bob.History()) != 1 {
			t.Fatal("forgetting Alice erased Bob")
		}
	})
}

func TestForgetMeCanBeCancelledByReaction(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.SetFact("likes", "olives")
		return nil
	}))
	h.Say("hi")
	q := h.Say("forget me")[0]
	if got := handlertest.Text(h.Choose(q, 2)); got != "OK, I erased nothing." {
		t.Fatalf("cancel: %q", got)
	}
	if c := h.StoredCustomer(); c == nil || c.Facts["likes"] != "olives" {
		t.Fatalf("data lost after cancelling: %+v", c)
	}
}

func TestReturningCustomerIsRecognised(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		if c.Customer.New {
			c.Replyf("Welcome, %s!", c.Customer.Name())
			return nil
		}
		last, err := c.History(ctx, 1, "message")
		if err != nil {
			return err
		}
		c.Replyf("Welcome back, %s. Last time you said %q.", c.Customer.Name(), last[0].Summary)
		return nil
	}))
	if got := handlertest.Text(h.Say("a margherita")); got != "Welcome, Alice!" {
		t.Fatalf("first: %q", got)
	}
	if got := handlertest.Text(h.Say("hello again")); got != `Welcome back, Alice. Last time you said "a margherita".` {
		t.Fatalf("second: %q", got)
	}
}

func TestHandlerErrorsAndPanics(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.Reply("half an answer")
		switch m.Text() {
		case "boom":
			panic("kaboom")
		case "fail":
			return fmt.Errorf("database on fire")
		case "user":
			return handlers.Errorf("We have no %s today.", "anchovies")
		}
		return nil
	}))
	ref := regexp.MustCompile(`\(ref [0-9a-f]{8}\)`)
	for _, in := range []string{"boom", "fail"} {
		got := h.Say(in)
		if len(got) != 1 || !ref.MatchString(got[0].Body) || strings.Contains(got[0].Body, "fire") || strings.Contains(got[0].Body, "kaboom") {
			t.Fatalf("%s: %q", in, handlertest.Bodies(got))
		}
	}
	if got := handlertest.Text(h.Say("user")); got != "We have no anchovies today." {
		t.Fatalf("user error: %q", got)
	}
	if got := handlertest.Text(h.Say("ok")); got != "half an answer" {
		t.Fatalf("room must keep flowing: %q", got)
	}
}

func TestTimersFireOnceInOrder(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		switch {
		case m.Kind == handlers.KindTimer:
			c.Replyf("timer %s: %s", m.Timer.Name, m.Timer.Payload)
		case m.Text() == "remind me":
			c.After(10*time.Minute, "eta", "your taxi is 5 minutes away")
			c.After(20*time.Minute, "eta", "your taxi is here")
			c.Reply("ok")
		}
		return nil
	}))
	h.Say("remind me")
	if got := h.Advance(5 * time.Minute); len(got) != 0 {
		t.Fatalf("fired early: %q", handlertest.Bodies(got))
	}
	if got := handlertest.Text(h.Advance(6 * time.Minute)); got != "timer eta: your taxi is 5 minutes away" {
		t.Fatalf("first timer: %q", got)
	}
	if got := handlertest.Bodies(h.Advance(time.Hour)); len(got) != 1 || got[0] != "timer eta: your taxi is here" {
		t.Fatalf("second timer: %q", got)
	}
	if got := h.Advance(time.Hour); len(got) != 0 {
		t.Fatalf("a timer fired twice: %q", handlertest.Bodies(got))
	}
}

func TestProactiveNotify(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		if m.Text() == "tell bob" {
			c.Notify("@bob:test", "Alice says hi")
		}
		return nil
	}))
	bob := h.As("@bob:test", "Bob")
	bob.Open()
	got := h.Say("tell bob")
	if len(got) != 1 || got[0].Body != "Alice says hi" || got[0].Room != h.Session.Room(h.Bot, "@bob:test") {
		t.Fatalf("proactive message: %+v", got)
	}
	if got := handlertest.Text(h.Notify("Your order is out for delivery")); got != "Your order is out for delivery" {
		t.Fatalf("outside trigger: %q", got)
	}
}

func TestMessageKinds(t *testing.T) {
	var seen []string
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		s := string(m.Kind) + ":" + string(m.MsgType) + ":" + m.Text()
		if m.Edit {
			s += ":edit-of-" + string(m.Replaces)
		}
		if m.Location != nil {
			s += fmt.Sprintf(":%.3f,%.3f", m.Location.Latitude, m.Location.Longitude)
		}
		if m.Media != "" {
			s += ":" + string(m.Media)
		}
		if m.Kind == handlers.KindRedaction {
			s += ":" + string(m.Redacts)
		}
		seen = append(seen, s)
		return nil
	}))
	h.Say("hello")
	h.Send("m.room.message", map[string]any{"msgtype": "m.location", "body": "home", "geo_uri": "geo:52.37,4.895;u=10"})
	h.Send("m.room.message", map[string]any{"msgtype": "m.image", "body": "menu.png", "url": "mxc://x/abc"})
	h.Send("m.room.message", map[string]any{"msgtype": "m.text", "body": "* hallo",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "hallo"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": "$orig"}})
	h.Send("m.room.redaction", map[string]any{"redacts": "$gone"})
	h.Send("m.room.message", map[string]any{"msgtype": "m.text", "body": strings.Repeat("x", 10000)})
	want := []string{
		"message:m.text:hello",
		"message:m.location:home:52.370,4.895",
		"message:m.image:menu.png:mxc://x/abc",
		"message:m.text:hallo:edit-of-$orig",
		"redaction:::$gone",
	}
	if len(seen) != 6 {
		t.Fatalf("seen %d events: %q", len(seen), seen)
	}
	for i, w := range want {
		if seen[i] != w {
			t.Errorf("event %d = %q, want %q", i, seen[i], w)
		}
	}
	if n := len(seen[5]) - len("message:m.text:"); n != handlers.MaxBodyRunes {
		t.Errorf("long body capped to %d runes, want %d", n, handlers.MaxBodyRunes)
	}
}

func TestMarkdownEscapesCustomerHTML(t *testing.T) {
	h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		c.Markdown("**You said:** " + m.Text())
		return nil
	}))
	got := h.Say(`<img src=x onerror=alert(1)>`)
	if len(got) != 1 || strings.Contains(got[0].HTML, "<img") || !strings.Contains(got[0].HTML, "<strong>") {
		t.Fatalf("html: %q", got[0].HTML)
	}
}
