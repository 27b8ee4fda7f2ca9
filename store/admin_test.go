package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	pizza = "@pizza:example.org"
	taxi  = "@taxi:example.org"
)

// botReply is reply (queue_test.go) from a given bot.
func botReply(room, bot, body string) store.OutgoingEvent {
	e := reply(room, body)
	e.BotUserID = bot
	return e
}

func outboxStatus(t *testing.T, db *store.DB, id int64) (status, lastError string, attempts int) {
	t.Helper()
	err := db.QueryRowContext(context.Background(), `SELECT status, last_error, attempts FROM outbox WHERE id = $1`, id).
		Scan(&status, &lastError, &attempts)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func inboxStatus(t *testing.T, db *store.DB, seq int64) (status string, attempts int) {
	t.Helper()
	if err := db.QueryRowContext(context.Background(), `SELECT status, attempts FROM inbox WHERE seq = $1`, seq).Scan(&status, &attempts); err != nil {
		t.Fatal(err)
	}
	return
}

// park stores an event and parks it after attempts failures.
func park(t *testing.T, db *store.DB, room, id, reason string) int64 {
	t.Helper()
	storeTxn(t, db, "txn-"+id, msg(room, id))
	ev := next(t, db, room)
	err := db.Tx(context.Background(), func(tx store.Tx) error {
		return store.FailInboxEvent(context.Background(), tx, ev.Seq, 0, reason, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev.Seq
}

// statusWorld is two bots, their rooms and customers, waiting and stuck
// work in both queues.
func statusWorld(t *testing.T, db *store.DB) (parked int64, failed []int64) {
	t.Helper()
	ctx := context.Background()
	for _, m := range []struct{ bot, room string }{{pizza, "!a:x"}, {pizza, "!b:x"}, {taxi, "!c:x"}} {
		if err := store.SetBotMembership(ctx, db, m.bot, m.room, "join", true, "@alice:x"); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"@alice:x", "@bob:x"} {
		if err := store.TouchCustomer(ctx, db, pizza, u, "", store.Now()); err != nil {
			t.Fatal(err)
		}
	}
	parked = park(t, db, "!b:x", "$parked", "handler: boom")
	storeTxn(t, db, "t-wait", msg("!a:x", "$w1"), msg("!a:x", "$w2"), msg("!z:x", "$invite"))
	ids := appendOutbox(t, db, botReply("!a:x", pizza, "f1"), botReply("!b:x", pizza, "f2"), botReply("!a:x", pizza, "waiting"), botReply("!c:x", taxi, "sent"))
	for _, id := range ids[:2] {
		if err := db.MarkOutboxFailed(ctx, id, 1, "403 M_FORBIDDEN: not in room"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RetryOutboxRow(ctx, ids[2], 1, 0, "502 Bad Gateway"); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkOutboxSent(ctx, ids[3], "$e"); err != nil {
		t.Fatal(err)
	}
	return parked, ids[:2]
}

func TestStatusPerBot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		parked, failed := statusWorld(t, db)
		st, err := db.Status(context.Background(), []string{pizza, taxi, "@idle:example.org"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Inbox.Waiting != 3 || st.Inbox.Stuck != 1 || st.Outbox.Waiting != 1 || st.Outbox.Stuck != 2 {
			t.Fatalf("totals inbox %+v outbox %+v", st.Inbox, st.Outbox)
		}
		got := map[string]store.BotStatus{}
		for _, b := range st.Bots {
			got[b.Bot] = b
		}
		p := got[pizza]
		if p.Rooms != 2 || p.Customers != 2 || p.EventsWaiting != 2 || p.ParkedEvents != 1 ||
			p.RepliesWaiting != 1 || p.FailedReplies != 2 || p.LastReplyError != "502 Bad Gateway" {
			t.Fatalf("pizza: %+v", p)
		}
		if tx := got[taxi]; tx.Rooms != 1 || tx.Customers != 0 || tx.EventsWaiting != 0 || tx.RepliesWaiting != 0 || tx.FailedReplies != 0 {
			t.Fatalf("taxi: %+v", tx)
		}
		if idle, ok := got["@idle:example.org"]; !ok || idle != (store.BotStatus{Bot: "@idle:example.org"}) {
			t.Fatalf("a configured bot with nothing to report: %+v (listed %v)", idle, ok)
		}
		// The invite in a room no bot is in yet is not hidden.
		if none := got[""]; none.EventsWaiting != 1 {
			t.Fatalf("events in rooms without a bot: %+v", none)
		}
		if len(st.Parked) != 1 || st.Parked[0].ID != parked || st.Parked[0].Bot != pizza || st.Parked[0].Reason != "handler: boom" {
			t.Fatalf("parked %+v", st.Parked)
		}
		if len(st.Failed) != 2 || st.Failed[0].ID != failed[1] || st.Failed[1].ID != failed[0] ||
			st.Failed[0].Reason != "403 M_FORBIDDEN: not in room" || st.Failed[0].RoomID != "!b:x" {
			t.Fatalf("failed %+v, want newest first with reasons", st.Failed)
		}
		if st.Inbox.OldestWaitingSeconds < 0 || st.Outbox.OldestWaitingSeconds < 0 {
			t.Fatalf("negative ages: %+v %+v", st.Inbox, st.Outbox)
		}
		in, out, err := db.QueueDepths(context.Background())
		if err != nil || in.Waiting != 3 || in.Stuck != 1 || out.Waiting != 1 || out.Stuck != 2 {
			t.Fatalf("QueueDepths = %+v %+v %v", in, out, err)
		}
	})
}

func TestRequeueFailedRepliesByIDRoomAndAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, failed := statusWorld(t, db)
		more := appendOutbox(t, db, botReply("!b:x", pizza, "f3"))
		if err := db.MarkOutboxFailed(ctx, more[0], 1, "400 M_BAD_JSON"); err != nil {
			t.Fatal(err)
		}
		// One by id.
		n, err := db.RequeueFailedReplies(ctx, store.Selection{ID: failed[0]}, nil)
		if err != nil || n != 1 {
			t.Fatalf("by id: %d %v", n, err)
		}
		if s, e, _ := outboxStatus(t, db, failed[0]); s != "pending" || e != "" {
			t.Fatalf("re-queued row is %s (%q)", s, e)
		}
		if s, _, _ := outboxStatus(t, db, failed[1]); s != "failed" {
			t.Fatalf("another row was touched: %s", s)
		}
		// A pending or unknown id re-queues nothing.
		if n, err := db.RequeueFailedReplies(ctx, store.Selection{ID: failed[0]}, nil); err != nil || n != 0 {
			t.Fatalf("again: %d %v", n, err)
		}
		// A room's.
		n, err = db.RequeueFailedReplies(ctx, store.Selection{RoomID: "!b:x"}, nil)
		if err != nil || n != 2 {
			t.Fatalf("by room: %d %v", n, err)
		}
		st, _ := db.Status(ctx, nil, 0)
		if st.Outbox.Stuck != 0 || st.Outbox.Waiting != 4 {
			t.Fatalf("after re-queue: %+v", st.Outbox)
		}
		for _, bad := range []store.Selection{{}, {ID: 1, All: true}, {RoomID: "!a:x", All: true}} {
			if _, err := db.RequeueFailedReplies(ctx, bad, nil); !errors.Is(err, store.ErrBadSelection) {
				t.Fatalf("selection %+v: %v", bad, err)
			}
		}
	})
}

func TestRequeueParkedEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seq := park(t, db, "!p:x", "$p1", "boom")
		other := park(t, db, "!q:x", "$p2", "boom")
		n, err := db.RequeueParkedEvents(ctx, store.Selection{RoomID: "!p:x"}, nil)
		if err != nil || n != 1 {
			t.Fatalf("by room: %d %v", n, err)
		}
		if s, a := inboxStatus(t, db, seq); s != "pending" || a != 0 {
			t.Fatalf("re-queued event: %s after %d attempts, want pending with a fresh count", s, a)
		}
		if s, _ := inboxStatus(t, db, other); s != "parked" {
			t.Fatalf("other room's event: %s", s)
		}
		if ev := next(t, db, "!p:x"); ev == nil || ev.Seq != seq {
			t.Fatalf("the dispatcher does not see the re-queued event: %+v", ev)
		}
		if n, err := db.RequeueParkedEvents(ctx, store.Selection{All: true}, nil); err != nil || n != 1 {
			t.Fatalf("all: %d %v", n, err)
		}
	})
}

// A retry of many rows goes in batches and reports progress after each.
func TestRequeueReportsProgressInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const rows = 1200
		evs := make([]store.OutgoingEvent, rows)
		for i := range evs {
			evs[i] = botReply(fmt.Sprintf("!r%d:x", i%7), pizza, "x")
		}
		appendOutbox(t, db, evs...)
		if _, err := db.ExecContext(ctx, `UPDATE outbox SET status = 'failed', last_error = 'refused'`); err != nil {
			t.Fatal(err)
		}
		var calls [][2]int
		n, err := db.RequeueFailedReplies(ctx, store.Selection{All: true}, func(done, total int) {
			calls = append(calls, [2]int{done, total})
		})
		if err != nil || n != rows {
			t.Fatalf("re-queued %d of %d: %v", n, rows, err)
		}
		if len(calls) != 3 || calls[0] != [2]int{500, rows} || calls[2] != [2]int{rows, rows} {
			t.Fatalf("progress calls %v, want three batches ending at %d/%d", calls, rows, rows)
		}
	})
}
