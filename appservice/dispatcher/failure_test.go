package dispatcher_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// troubled is a handler that fails in the way a message asks for, and
// echoes anything else.
func troubled(c *calls) handlers.HandlerFunc {
	return func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
		n := c.add(0, m.ID)
		switch m.Text() {
		case "boom":
			conv.Reply("half a reply")
			return errors.New("database exploded: secret internal detail")
		case "panic":
			conv.Reply("half a reply")
			panic("kaboom")
		case "closed":
			conv.Reply("half a reply")
			return handlers.Errorf("We are closed on Mondays.")
		case "flaky":
			conv.Reply("half a reply")
			return handlers.Temporary(errors.New("backend down"))
		case "flaky twice":
			if n <= 2 {
				return handlers.Temporary(errors.New("backend down"))
			}
			conv.Reply("got it on try " + string(rune('0'+n)))
			return nil
		case "slow":
			<-ctx.Done()
			return ctx.Err()
		}
		conv.Reply("echo: " + m.Text())
		return nil
	}
}

var refRe = regexp.MustCompile(`\(ref ([0-9a-f]{8})\)`)

// checkApology asserts s is the polite apology with a reference that the
// inbox row's last_error also holds, and that nothing internal leaked.
func checkApology(t *testing.T, f *flow, s fakehs.Sent, eventID, cause string) {
	t.Helper()
	body, _ := s.Content["body"].(string)
	m := refRe.FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(body, "Sorry") || s.Content["msgtype"] != "m.notice" {
		t.Fatalf("reply %q (%v): want a polite notice with (ref …)", body, s.Content["msgtype"])
	}
	if strings.Contains(body, "half a reply") || strings.Contains(body, "secret") || strings.Contains(body, "kaboom") {
		t.Fatalf("apology %q leaks the handler's partial reply or error", body)
	}
	st := f.inbox(t, eventID)
	if !strings.Contains(st.lastError, "ref "+m[1]) || !strings.Contains(st.lastError, cause) {
		t.Fatalf("inbox row %+v: want the customer's ref %s and the cause %q, so support can find it", st, m[1], cause)
	}
}

func TestHandlerErrorGetsApologyAndRoomFlows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		boom := fakehs.Message(room, alice, "boom")
		f.deliver(t, boom, fakehs.Message(room, alice, "next"))
		sends := f.waitReply(t, room, "echo: next")
		if len(sends) != 2 {
			t.Fatalf("sends %q: want the answer to the failed message, then the next reply", bodies(sends))
		}
		checkApology(t, f, sends[0], evID(boom), "database exploded")
		if b := bodies(sends); len(b) != 2 || b[1] != "echo: next" {
			t.Fatalf("replies %q", b)
		}
		if st := f.inbox(t, evID(boom)); st.status != "done" || c.of(evID(boom)) != 1 {
			t.Fatalf("a handler error is final, not retried: %+v after %d calls", st, c.of(evID(boom)))
		}
	})
}

func TestHandlerPanicGetsApologyAndRoomFlows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		p := fakehs.Message(room, alice, "panic")
		f.deliver(t, p, fakehs.Message(room, alice, "next"))
		sends := f.waitReply(t, room, "echo: next")
		if len(sends) != 2 {
			t.Fatalf("sends %q: want the answer to the failed message, then the next reply", bodies(sends))
		}
		checkApology(t, f, sends[0], evID(p), "kaboom")
		if b := bodies(sends); b[1] != "echo: next" {
			t.Fatalf("replies %q", b)
		}
		// The process survived: another room is served too.
		other := "!dm2:example.org"
		f.dm(t, other, bob, "Bob", botID)
		f.deliver(t, fakehs.Message(other, bob, "panic"), fakehs.Message(other, bob, "still alive?"))
		if b := bodies(f.waitReply(t, other, "echo: still alive?")); len(b) != 2 {
			t.Fatalf("replies after a second panic %q", b)
		}
	})
}

func TestUserErrorTextIsShownAsIs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		closed := fakehs.Message(room, alice, "closed")
		f.deliver(t, closed, fakehs.Message(room, alice, "next"))
		sends := f.waitReply(t, room, "echo: next")
		if len(sends) != 2 {
			t.Fatalf("sends %q: want the answer to the failed message, then the next reply", bodies(sends))
		}
		if b := bodies(sends); strings.Join(b, "|") != "We are closed on Mondays.|echo: next" {
			t.Fatalf("replies %q: want the UserError text exactly, without the partial reply", b)
		}
		if sends[0].Content["msgtype"] != "m.notice" {
			t.Fatalf("user error sent as %v", sends[0].Content["msgtype"])
		}
		// The text goes to the customer only (it often quotes them): the
		// row notes that a user error was shown, not what it said.
		if st := f.inbox(t, evID(closed)); st.status != "done" || !strings.HasPrefix(st.lastError, "user error") || strings.Contains(st.lastError, "closed") {
			t.Fatalf("inbox row %+v", st)
		}
	})
}

func TestTemporaryFailureIsRetriedThenParked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))), withOptions(func(o *dispatcher.Options) {
			o.MaxAttempts = 3
			o.RetryBase = 5 * time.Millisecond
			o.RetryMax = 20 * time.Millisecond
		}))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		flaky := fakehs.Message(room, alice, "flaky")
		next := fakehs.Message(room, alice, "next")
		f.deliver(t, flaky, next)
		sends := f.waitReply(t, room, "echo: next")
		if len(sends) != 2 {
			t.Fatalf("sends %q: want the answer to the failed message, then the next reply", bodies(sends))
		}
		if n := c.of(evID(flaky)); n != 3 {
			t.Fatalf("handler ran %d times for a temporary failure, want MaxAttempts=3", n)
		}
		st := f.inbox(t, evID(flaky))
		if st.status != "parked" || st.attempts != 3 || !strings.Contains(st.lastError, "backend down") {
			t.Fatalf("inbox row %+v, want parked after 3 attempts with the cause", st)
		}
		body := bodies(sends)[0]
		if !refRe.MatchString(body) || strings.Contains(body, "half a reply") || strings.Contains(body, "backend") {
			t.Fatalf("apology %q", body)
		}
		if bodies(sends)[1] != "echo: next" {
			t.Fatalf("replies %q: the room must flow again after parking", bodies(sends))
		}
		if n := c.of(evID(next)); n != 1 {
			t.Fatalf("next message handled %d times", n)
		}
		if len(f.hs.SendsTo(room)) != 2 {
			t.Fatalf("sends %q: want exactly the apology and the reply", bodies(f.hs.SendsTo(room)))
		}
	})
}

func TestTemporaryFailureRecoversInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))), withOptions(func(o *dispatcher.Options) {
			o.MaxAttempts = 5
			o.RetryBase = 5 * time.Millisecond
			o.RetryMax = 20 * time.Millisecond
		}))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		flaky := fakehs.Message(room, alice, "flaky twice")
		f.deliver(t, flaky, fakehs.Message(room, alice, "a"), fakehs.Message(room, alice, "b"))
		got := bodies(f.waitReply(t, room, "echo: b"))
		if strings.Join(got, "|") != "got it on try 3|echo: a|echo: b" {
			t.Fatalf("replies %q: later messages must wait for the retried one", got)
		}
		if st := f.inbox(t, evID(flaky)); st.status != "done" || st.attempts != 2 || st.lastError != "" {
			t.Fatalf("inbox row %+v, want done at the third attempt (two failed)", st)
		}
	})
}

func TestSlowHandlerTimesOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(troubled(c))), withOptions(func(o *dispatcher.Options) {
			o.HandlerTimeout = 100 * time.Millisecond
		}))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		slow := fakehs.Message(room, alice, "slow")
		f.deliver(t, slow, fakehs.Message(room, alice, "next"))
		sends := f.waitReply(t, room, "echo: next")
		if len(sends) != 2 {
			t.Fatalf("sends %q: want the answer to the failed message, then the next reply", bodies(sends))
		}
		checkApology(t, f, sends[0], evID(slow), "deadline exceeded")
		if bodies(sends)[1] != "echo: next" {
			t.Fatalf("replies %q", bodies(sends))
		}
	})
}
