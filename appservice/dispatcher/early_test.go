package dispatcher_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// counting echoes and counts the handler's calls per event.
func counting(c *calls) handlers.HandlerFunc {
	return func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
		c.add(0, m.ID)
		conv.Reply("echo: " + m.Text())
		return nil
	}
}

// withIntakeWait sets how long intake waits for early handling.
func withIntakeWait(d time.Duration) flowOption {
	return withOptions(func(o *dispatcher.Options) { o.IntakeWait = d })
}

// A message to an idle room is handled in the commit that stores it: when
// intake answers the homeserver, the event is done and its reply queued,
// durably, with no worker involved.
func TestMessageHandledInTheCommitThatStoresIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		// Long enough for any machine: the wait ends when routing does.
		f := startFlow(t, db, withBots(scripted(counting(c))), withIntakeWait(time.Minute))
		room := "!early:example.org"
		f.dm(t, room, alice, "Alice", botID)
		msg := fakehs.Message(room, alice, "hello")
		f.deliver(t, msg)
		if st := f.inbox(t, evID(msg)); st.status != "done" {
			t.Fatalf("at the answer to the homeserver the event is %q, want done", st.status)
		}
		if n := f.outboxCount(t, room); n != 1 {
			t.Fatalf("%d replies queued at the answer, want 1", n)
		}
		f.waitReply(t, room, "echo: hello")
		if n := c.of(evID(msg)); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
	})
}

// A handler slower than the intake wait does not hold the homeserver:
// the transaction is stored, the event pending, and the handler's answer
// is committed once it comes, without running the handler again.
func TestSlowHandlerAtIntakeRunsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		gate := make(chan struct{})
		var slow atomic.Bool
		slow.Store(true)
		h := func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			c.add(0, m.ID)
			if slow.Load() {
				select {
				case <-gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			conv.Reply("echo: " + m.Text())
			return nil
		}
		f := startFlow(t, db, withBots(scripted(h)), withIntakeWait(time.Millisecond))
		room := "!slow:example.org"
		slow.Store(false)
		f.dm(t, room, alice, "Alice", botID)
		slow.Store(true)
		msg := fakehs.Message(room, alice, "take your time")
		f.deliver(t, msg)
		if st := f.inbox(t, evID(msg)); st.status != "pending" {
			t.Fatalf("event %q while its handler still runs, want pending", st.status)
		}
		close(gate)
		f.waitReply(t, room, "echo: take your time")
		f.waitHandled(t, evID(msg))
		if n := c.of(evID(msg)); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		if sends := f.hs.SendsTo(room); len(sends) != 1 {
			t.Fatalf("sends %q, want the one reply", bodies(sends))
		}
	})
}

// An event waiting for its retry keeps its place: a later message of its
// room is not handled at intake before it, and its handler runs once.
func TestIntakeDoesNotOvertakeAnEventWaitingForRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		var failing atomic.Bool
		failing.Store(true)
		h := func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			c.add(0, m.ID)
			if m.Text() == "first" && failing.Load() {
				return handlers.Temporary(errors.New("backend down"))
			}
			conv.Reply("echo: " + m.Text())
			return nil
		}
		f := startFlow(t, db, withBots(scripted(h)), withIntakeWait(time.Minute),
			withOptions(func(o *dispatcher.Options) { o.RetryBase, o.RetryMax = time.Hour, time.Hour }))
		room := "!order:example.org"
		f.dm(t, room, alice, "Alice", botID)
		first := fakehs.Message(room, alice, "first")
		f.deliver(t, first)
		if !f.hs.WaitFor(waitLimit, func() bool { return f.inbox(t, evID(first)).attempts == 1 }) {
			t.Fatalf("first message: %+v, want one failed attempt", f.inbox(t, evID(first)))
		}
		second := fakehs.Message(room, alice, "second")
		f.deliver(t, second)
		if st := f.inbox(t, evID(second)); st.status != "pending" {
			t.Fatalf("second message %q while the first waits for its retry, want pending", st.status)
		}
		if n := c.of(evID(second)); n != 0 {
			t.Fatalf("second message's handler ran %d times before the first was handled", n)
		}
		failing.Store(false)
		if _, err := db.ExecContext(context.Background(), `UPDATE inbox SET retry_at = 0 WHERE event_id = $1`, evID(first)); err != nil {
			t.Fatal(err)
		}
		f.disps[0].Wake()
		sends := f.waitReply(t, room, "echo: second")
		if got := bodies(sends); len(got) != 2 || got[0] != "echo: first" || got[1] != "echo: second" {
			t.Fatalf("replies %q, want the first's then the second's", got)
		}
		if n := c.of(evID(second)); n != 1 {
			t.Fatalf("second message's handler ran %d times, want 1", n)
		}
	})
}

// A transaction the homeserver sends again is not handled again.
func TestReplayedTransactionNotHandledAgainAtIntake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		f := startFlow(t, db, withBots(scripted(counting(c))), withIntakeWait(time.Minute))
		room := "!replay:example.org"
		f.dm(t, room, alice, "Alice", botID)
		msg := fakehs.Message(room, alice, "once")
		f.push(t, "same-txn", msg)
		f.waitReply(t, room, "echo: once")
		f.push(t, "same-txn", msg)
		f.push(t, "another-txn", msg)
		f.deliver(t, fakehs.Message(room, alice, "after"))
		sends := f.waitReply(t, room, "echo: after")
		if got := bodies(sends); len(got) != 2 {
			t.Fatalf("replies %q, want one per message", got)
		}
		if n := c.of(evID(msg)); n != 1 {
			t.Fatalf("handler ran %d times for the replayed message, want 1", n)
		}
	})
}

// When the effects of an event handled at intake cannot be written, the
// transaction is still stored (the homeserver gets its answer, nothing is
// lost) and the event's outcome is committed apart, its handler not run
// again.
func TestFailedCommitAtIntakeStillStoresTheTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCalls()
		var commits atomic.Int32
		h := func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			c.add(0, m.ID)
			conv.Reply("echo: " + m.Text())
			if m.Text() == "write" {
				conv.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
					if commits.Add(1) == 1 {
						return errors.New("disk hiccup")
					}
					return nil
				})
			}
			return nil
		}
		f := startFlow(t, db, withBots(scripted(h)), withIntakeWait(time.Minute))
		room := "!hiccup:example.org"
		f.dm(t, room, alice, "Alice", botID)
		msg := fakehs.Message(room, alice, "write")
		f.deliver(t, msg) // fails the test unless answered 200
		f.waitReply(t, room, "echo: write")
		f.waitHandled(t, evID(msg))
		if n := c.of(evID(msg)); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		if n := commits.Load(); n != 2 {
			t.Fatalf("the service's write ran %d times, want 2 (failed, then committed)", n)
		}
	})
}
