package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// msg builds an inbox event for room with a unique id.
func msg(room, id string) store.IncomingEvent {
	return store.IncomingEvent{
		EventID: id, RoomID: room, Sender: "@alice:x", Type: "m.room.message", OriginTS: 1,
		JSON: []byte(`{"event_id":"` + id + `","room_id":"` + room + `","type":"m.room.message","sender":"@alice:x","content":{"msgtype":"m.text","body":"hi"}}`),
	}
}

func storeTxn(t *testing.T, db *store.DB, txn string, evs ...store.IncomingEvent) (int, bool) {
	t.Helper()
	added, replay, err := db.StoreTransaction(context.Background(), txn, evs)
	if err != nil {
		t.Fatalf("store txn %s: %v", txn, err)
	}
	return added, replay
}

func next(t *testing.T, db *store.DB, room string) *store.InboxEvent {
	t.Helper()
	ev, err := db.NextInboxEvent(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func markDone(t *testing.T, db *store.DB, seq int64) {
	t.Helper()
	err := db.Tx(context.Background(), func(tx store.Tx) error { return store.MarkInboxDone(context.Background(), tx, seq, "") })
	if err != nil {
		t.Fatalf("mark %d done: %v", seq, err)
	}
}

func pendingRooms(t *testing.T, db *store.DB, queue string) []string {
	t.Helper()
	rooms, err := db.PendingRooms(context.Background(), queue, 100)
	if err != nil {
		t.Fatal(err)
	}
	return rooms
}

func TestStoreTransactionDeduplicates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if added, replay := storeTxn(t, db, "t1", msg("!a:x", "$1"), msg("!a:x", "$2")); added != 2 || replay {
			t.Fatalf("first delivery: added %d replay %v", added, replay)
		}
		if added, replay := storeTxn(t, db, "t1", msg("!a:x", "$1"), msg("!a:x", "$2")); added != 0 || !replay {
			t.Fatalf("replay: added %d replay %v, want 0 true", added, replay)
		}
		// Dendrite may resend a txn id with more events: only the new one counts.
		if added, replay := storeTxn(t, db, "t1", msg("!a:x", "$1"), msg("!a:x", "$2"), msg("!a:x", "$3")); added != 1 || !replay {
			t.Fatalf("replay with an extra event: added %d replay %v, want 1 true", added, replay)
		}
		// The same event in another transaction is not appended twice.
		if added, _ := storeTxn(t, db, "t2", msg("!a:x", "$3"), msg("!b:x", "$4")); added != 1 {
			t.Fatalf("event already stored under another txn: added %d, want 1", added)
		}
		// An empty transaction is recorded (so its replay is recognised).
		if added, replay := storeTxn(t, db, "t3"); added != 0 || replay {
			t.Fatalf("empty txn: added %d replay %v", added, replay)
		}
		if _, replay := storeTxn(t, db, "t3"); !replay {
			t.Fatal("empty txn replay not recognised")
		}
		counts, err := db.InboxCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["pending"] != 4 || len(counts) != 1 {
			t.Fatalf("inbox counts %v, want pending=4", counts)
		}
	})
}

func TestInboxOrderDoneAndPark(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		storeTxn(t, db, "t1", msg("!a:x", "$a1"), msg("!b:x", "$b1"), msg("!a:x", "$a2"))
		storeTxn(t, db, "t2", msg("!a:x", "$a3"))
		if got := pendingRooms(t, db, store.QueueInbox); strings.Join(got, ",") != "!a:x,!b:x" {
			t.Fatalf("pending rooms %v, want oldest work first", got)
		}
		ev := next(t, db, "!a:x")
		if ev == nil || ev.EventID != "$a1" || ev.TxnID != "t1" || ev.Sender != "@alice:x" || !strings.Contains(string(ev.JSON), `"body":"hi"`) {
			t.Fatalf("next event %+v", ev)
		}
		// Handled twice: the second commit must fail so its effects roll back.
		markDone(t, db, ev.Seq)
		err := db.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO as_txn (txn_id, received_at, event_count) VALUES ('effect', 1, 0)`); err != nil {
				return err
			}
			return store.MarkInboxDone(ctx, tx, ev.Seq, "")
		})
		if !errors.Is(err, store.ErrAlreadyHandled) {
			t.Fatalf("second MarkInboxDone: %v, want ErrAlreadyHandled", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM as_txn WHERE txn_id = 'effect'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("effects of the duplicate commit were kept (n=%d, err=%v)", n, err)
		}

		// Parking the head lets the room move on, with the reason kept.
		ev = next(t, db, "!a:x")
		if ev.EventID != "$a2" {
			t.Fatalf("after done, next is %s, want $a2", ev.EventID)
		}
		for i := 0; i < 2; i++ {
			if err := store.FailInboxEvent(ctx, db, ev.Seq, 0, fmt.Sprintf("failure %d", i), i == 1); err != nil {
				t.Fatal(err)
			}
		}
		var status, lastErr string
		var attempts int
		if err := db.QueryRowContext(ctx, `SELECT status, attempts, last_error FROM inbox WHERE seq = $1`, ev.Seq).Scan(&status, &attempts, &lastErr); err != nil {
			t.Fatal(err)
		}
		if status != "parked" || attempts != 2 || lastErr != "failure 1" {
			t.Fatalf("parked row: status %s attempts %d last_error %q", status, attempts, lastErr)
		}
		if ev := next(t, db, "!a:x"); ev == nil || ev.EventID != "$a3" {
			t.Fatalf("after parking, next is %+v, want $a3", ev)
		}
		// A parked row cannot be marked done later.
		err = db.Tx(ctx, func(tx store.Tx) error { return store.MarkInboxDone(ctx, tx, ev.Seq, "") })
		if !errors.Is(err, store.ErrAlreadyHandled) {
			t.Fatalf("marking a parked row done: %v, want ErrAlreadyHandled", err)
		}
		counts, _ := db.InboxCounts(ctx)
		if counts["done"] != 1 || counts["parked"] != 1 || counts["pending"] != 2 {
			t.Fatalf("counts %v", counts)
		}
	})
}

// A room whose oldest event waits for a retry is not due, even when later
// events in it are: listing it would make the dispatcher claim it, find
// the head not due and give it back, over and over until the retry time.
func TestPendingRoomsWaitsForTheHeadsRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		storeTxn(t, db, "t1", msg("!slow:x", "$s1"), msg("!slow:x", "$s2"), msg("!fast:x", "$f1"))
		head := next(t, db, "!slow:x")
		if err := store.FailInboxEvent(ctx, db, head.Seq, store.Now()+3_600_000, "backend down", false); err != nil {
			t.Fatal(err)
		}
		if got := pendingRooms(t, db, store.QueueInbox); len(got) != 1 || got[0] != "!fast:x" {
			t.Fatalf("pending inbox rooms %v, want only !fast:x while !slow:x's head waits", got)
		}
		// Once due, the room is listed again, with its work still in order.
		if _, err := db.ExecContext(ctx, `UPDATE inbox SET retry_at = 0 WHERE seq = $1`, head.Seq); err != nil {
			t.Fatal(err)
		}
		if got := pendingRooms(t, db, store.QueueInbox); strings.Join(got, ",") != "!slow:x,!fast:x" {
			t.Fatalf("pending inbox rooms %v, want both, oldest first", got)
		}

		// The same for the outbox.
		appendOutbox(t, db, reply("!slow:x", "one"), reply("!slow:x", "two"))
		appendOutbox(t, db, reply("!fast:x", "three"))
		row := nextRow(t, db, "!slow:x")
		if err := db.RetryOutboxRow(ctx, row.ID, 1, store.Now()+3_600_000, "429"); err != nil {
			t.Fatal(err)
		}
		if got := pendingRooms(t, db, store.QueueOutbox); len(got) != 1 || got[0] != "!fast:x" {
			t.Fatalf("pending outbox rooms %v, want only !fast:x while !slow:x's head waits", got)
		}
	})
}

func TestPendingRoomsLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var evs []store.IncomingEvent
		for i := 0; i < 10; i++ {
			evs = append(evs, msg(fmt.Sprintf("!r%d:x", i), fmt.Sprintf("$e%d", i)))
		}
		storeTxn(t, db, "t1", evs...)
		rooms, err := db.PendingRooms(context.Background(), store.QueueInbox, 3)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rooms, ",") != "!r0:x,!r1:x,!r2:x" {
			t.Fatalf("rooms %v, want the 3 with the oldest work", rooms)
		}
		if _, err := db.PendingRooms(context.Background(), "bogus", 3); err == nil {
			t.Fatal("unknown queue accepted")
		}
	})
}

func TestLeaseIsExclusiveUntilExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const room, ttl = "!r:x", int64(60_000)
		acquire := func(owner string) bool {
			t.Helper()
			ok, err := db.AcquireLease(ctx, store.QueueInbox, room, owner, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		renew := func(owner string) error {
			return db.Tx(ctx, func(tx store.Tx) error { return store.RenewLease(ctx, tx, store.QueueInbox, room, owner, ttl) })
		}
		if !acquire("A") {
			t.Fatal("A could not take a free room")
		}
		if acquire("B") {
			t.Fatal("B took a room A holds")
		}
		// A process taking its own live lease again renews it (one
		// process never works a room twice at once: its queue sees to that).
		if !acquire("A") {
			t.Fatal("A could not take its own lease again")
		}
		if err := renew("A"); err != nil {
			t.Fatalf("A renews its lease: %v", err)
		}
		// Leases are per queue: the outbox of the same room is free.
		if ok, err := db.AcquireLease(ctx, store.QueueOutbox, room, "B", ttl); err != nil || !ok {
			t.Fatalf("outbox lease of the room: ok=%v err=%v", ok, err)
		}

		// A stalls past its lease: B takes over and A can no longer commit.
		if _, err := db.ExecContext(ctx, `UPDATE room_lease SET expires_at = $1 WHERE queue = 'inbox'`, store.Now()-1); err != nil {
			t.Fatal(err)
		}
		if !acquire("B") {
			t.Fatal("B could not take over an expired lease")
		}
		if err := renew("A"); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("A renews after B took over: %v, want ErrLeaseLost", err)
		}
		// A giving the room back must not free B's lease.
		if err := db.ReleaseLease(ctx, store.QueueInbox, room, "A"); err != nil {
			t.Fatal(err)
		}
		if acquire("C") {
			t.Fatal("A's release freed B's lease")
		}
		if err := renew("B"); err != nil {
			t.Fatalf("B renews: %v", err)
		}
		if err := db.ReleaseLease(ctx, store.QueueInbox, room, "B"); err != nil {
			t.Fatal(err)
		}
		if !acquire("C") {
			t.Fatal("C could not take a released room")
		}
		// A lease that was released and never re-taken cannot be renewed.
		if err := db.ReleaseLease(ctx, store.QueueInbox, room, "C"); err != nil {
			t.Fatal(err)
		}
		if err := renew("C"); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew of a released lease: %v, want ErrLeaseLost", err)
		}
	})
}

// RenewLeases extends every lease an owner holds in one statement and
// names them; ReleaseLeases gives back only the owner's own.
func TestRenewAndReleaseLeasesInBulk(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, r := range []string{"!a:x", "!b:x", "!c:x"} {
			if ok, err := db.AcquireLease(ctx, store.QueueInbox, r, "A", 1); err != nil || !ok {
				t.Fatalf("acquire %s: %v %v", r, ok, err)
			}
		}
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, "!d:x", "B", 60_000); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE room_lease SET owner = 'B' WHERE room_id = '!c:x'`); err != nil {
			t.Fatal(err)
		}
		kept, err := db.RenewLeases(ctx, store.QueueInbox, "A", 60_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != 2 || !kept["!a:x"] || !kept["!b:x"] {
			t.Fatalf("renewed %v, want A's two rooms", kept)
		}
		if ok, _ := db.AcquireLease(ctx, store.QueueInbox, "!a:x", "C", 60_000); ok {
			t.Fatal("C took a renewed lease")
		}
		if err := db.ReleaseLeases(ctx, store.QueueInbox, "A", []string{"!a:x", "!c:x", "!d:x"}); err != nil {
			t.Fatal(err)
		}
		var left []string
		rows, err := db.QueryContext(ctx, `SELECT room_id || '=' || owner FROM room_lease ORDER BY room_id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			left = append(left, s)
		}
		rows.Close()
		if strings.Join(left, ",") != "!b:x=A,!c:x=B,!d:x=B" {
			t.Fatalf("leases left %v, want A's !b and B's two", left)
		}
	})
}

// leasesWithCommit gives owner A the leases of rooms !y and !x, and on
// Postgres opens a commit that renews !x and holds its row (nil on
// SQLite, which has one writer: no commit is open meanwhile).
func leasesWithCommit(t *testing.T, db *store.DB) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	for _, r := range []string{"!y:x", "!x:x"} {
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, r, "A", 60_000); err != nil || !ok {
			t.Fatalf("acquire %s: %v %v", r, ok, err)
		}
	}
	if db.Dialect != store.Postgres {
		return nil
	}
	commit, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = commit.Rollback() })
	if err := store.RenewLease(ctx, commit, store.QueueInbox, "!x:x", "A", 60_000); err != nil {
		t.Fatal(err)
	}
	return commit
}

// The bulk renewal runs while the process's own commits hold some of
// its rooms' lease rows (the commits of failed and deferred events renew
// their room's lease, in whatever order they come). It must not wait for
// them: a commit that then needs a row the renewal locked first would
// deadlock with it, the database would abort one, and a failed renewal
// lets every lease of the process lapse (the rooms' events were then
// handled again by another process). A room whose row is in use is
// reported as still held, not renewed this time.
func TestRenewLeasesDoesNotWaitForCommits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		commit := leasesWithCommit(t, db)
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		kept, err := db.RenewLeases(rctx, store.QueueInbox, "A", 60_000)
		if err != nil {
			t.Fatalf("renewal while a commit holds a room: %v", err)
		}
		if db.Dialect == store.Postgres {
			if renewed, held := kept["!x:x"]; !held || renewed {
				t.Fatalf("room in use: renewed %v, held %v; want held, not renewed", renewed, held)
			}
			// and then needs !y, which the renewal renewed: no deadlock.
			if err := store.RenewLease(ctx, commit, store.QueueInbox, "!y:x", "A", 60_000); err != nil {
				t.Fatal(err)
			}
		} else if !kept["!x:x"] {
			t.Fatalf("renewed %v, want both rooms", kept)
		}
		if !kept["!y:x"] {
			t.Fatalf("renewed %v, want !y", kept)
		}
		if commit != nil {
			if err := commit.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Giving back idle rooms does not wait for a commit that holds one of
// their lease rows either (a room taken again as it became idle): that
// room stays leased, the others are given back.
// (Postgres: SQLite has one writer, so no commit is open meanwhile.)
func TestReleaseLeasesDoesNotWaitForCommits(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	commit := leasesWithCommit(t, db)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := db.ReleaseLeases(rctx, store.QueueInbox, "A", []string{"!x:x", "!y:x"}); err != nil {
		t.Fatalf("release while a commit holds a room: %v", err)
	}
	if err := commit.Commit(); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, err := db.QueryContext(ctx, `SELECT room_id FROM room_lease ORDER BY room_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		left = append(left, r)
	}
	if strings.Join(left, ",") != "!x:x" {
		t.Fatalf("leases left %v, want the one in use", left)
	}
}

// Several processes race for the same free room: exactly one wins.
func TestLeaseRaceHasOneWinner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for round := 0; round < 5; round++ {
			room := fmt.Sprintf("!r%d:x", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var winners []string
			for i := 0; i < 8; i++ {
				owner := fmt.Sprintf("owner-%d", i)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := db.AcquireLease(ctx, store.QueueInbox, room, owner, 60_000)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						winners = append(winners, owner)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(winners) != 1 {
				t.Fatalf("room %s: winners %v, want exactly one", room, winners)
			}
			var owner string
			if err := db.QueryRowContext(ctx, `SELECT owner FROM room_lease WHERE queue = 'inbox' AND room_id = $1`, room).Scan(&owner); err != nil || owner != winners[0] {
				t.Fatalf("lease row owner %q (err %v), winner %q", owner, err, winners[0])
			}
		}
	})
}

// A commit whose lease was lost is rolled back, effects included.
func TestLostLeaseRollsBackTheCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		storeTxn(t, db, "t1", msg("!r:x", "$1"))
		ev := next(t, db, "!r:x")
		if ok, _ := db.AcquireLease(ctx, store.QueueInbox, "!r:x", "A", 60_000); !ok {
			t.Fatal("no lease")
		}
		if _, err := db.ExecContext(ctx, `UPDATE room_lease SET owner = 'B'`); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, func(tx store.Tx) error {
			if err := store.RenewLease(ctx, tx, store.QueueInbox, "!r:x", "A", 60_000); err != nil {
				return err
			}
			if err := store.MarkInboxDone(ctx, tx, ev.Seq, ""); err != nil {
				return err
			}
			_, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{reply("!r:x", "hello")})
			return err
		})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("commit: %v, want ErrLeaseLost", err)
		}
		if ev := next(t, db, "!r:x"); ev == nil {
			t.Fatal("the event was marked done by a process that lost the room")
		}
		if row := nextRow(t, db, "!r:x"); row != nil {
			t.Fatalf("a reply was queued by a process that lost the room: %+v", row)
		}
	})
}

func reply(room, body string) store.OutgoingEvent {
	return store.OutgoingEvent{
		RoomID: room, BotUserID: "@bot:x", Type: "m.room.message",
		Content: []byte(`{"msgtype":"m.text","body":"` + body + `"}`), ParentIndex: -1,
	}
}

func appendOutbox(t *testing.T, db *store.DB, evs ...store.OutgoingEvent) []int64 {
	t.Helper()
	var ids []int64
	err := db.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		ids, err = store.AppendOutbox(context.Background(), tx, evs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func nextRow(t *testing.T, db *store.DB, room string) *store.OutboxRow {
	t.Helper()
	rows, err := db.PendingOutboxRows(context.Background(), room, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

func TestOutboxOrderParentsAndResults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reaction := store.OutgoingEvent{RoomID: "!r:x", BotUserID: "@bot:x", Type: "m.reaction",
			Content: []byte(`{"m.relates_to":{"rel_type":"m.annotation","key":"1"}}`), ParentIndex: 0, CauseEventID: "$cause"}
		ids := appendOutbox(t, db, reply("!r:x", "menu"), reaction, reply("!r:x", "after"))
		if len(ids) != 3 || !(ids[0] < ids[1] && ids[1] < ids[2]) {
			t.Fatalf("ids %v: want three increasing", ids)
		}
		row := nextRow(t, db, "!r:x")
		if row.ID != ids[0] || row.ParentID != nil || string(row.Content) != `{"msgtype":"m.text","body":"menu"}` {
			t.Fatalf("first row %+v", row)
		}
		if err := db.MarkOutboxSent(ctx, row.ID, "$menu"); err != nil {
			t.Fatal(err)
		}
		// Marking again (a resend) changes nothing.
		if err := db.MarkOutboxSent(ctx, row.ID, "$other"); err != nil {
			t.Fatal(err)
		}
		row = nextRow(t, db, "!r:x")
		if row.ID != ids[1] || row.ParentID == nil || *row.ParentID != ids[0] || row.ParentEventID != "$menu" ||
			row.ParentStatus != "sent" || row.CauseEventID != "$cause" || row.Type != "m.reaction" {
			t.Fatalf("reaction row %+v", row)
		}
		if err := db.RetryOutboxRow(ctx, row.ID, 1, 0, "HTTP 502"); err != nil {
			t.Fatal(err)
		}
		if row = nextRow(t, db, "!r:x"); row.Attempts != 1 {
			t.Fatalf("attempts after a retry: %d", row.Attempts)
		}
		if err := db.MarkOutboxFailed(ctx, row.ID, 2, "403 M_FORBIDDEN: not in room"); err != nil {
			t.Fatal(err)
		}
		if row = nextRow(t, db, "!r:x"); row.ID != ids[2] {
			t.Fatalf("after a failed row, next is %d, want %d", row.ID, ids[2])
		}
		var status, lastErr, eventID string
		var attempts int
		if err := db.QueryRowContext(ctx, `SELECT status, last_error, attempts FROM outbox WHERE id = $1`, ids[1]).Scan(&status, &lastErr, &attempts); err != nil {
			t.Fatal(err)
		}
		if status != "failed" || lastErr != "403 M_FORBIDDEN: not in room" || attempts != 2 {
			t.Fatalf("failed row: %s %q %d", status, lastErr, attempts)
		}
		if err := db.QueryRowContext(ctx, `SELECT event_id FROM outbox WHERE id = $1`, ids[0]).Scan(&eventID); err != nil || eventID != "$menu" {
			t.Fatalf("sent row's event id %q (err %v), want the first one recorded", eventID, err)
		}
		counts, err := db.OutboxCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["sent"] != 1 || counts["failed"] != 1 || counts["pending"] != 1 {
			t.Fatalf("outbox counts %v", counts)
		}

		// A parent must come earlier in the same call.
		err = db.Tx(ctx, func(tx store.Tx) error {
			bad := reply("!r:x", "x")
			bad.ParentIndex = 0
			_, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{bad})
			return err
		})
		if err == nil {
			t.Fatal("a row that is its own parent was accepted")
		}
	})
}

func TestMatrixTxnIDIsStablePerRowAndInstall(t *testing.T) {
	a := storetest.New(t, store.SQLite)
	b := storetest.New(t, store.SQLite)
	if a.MatrixTxnID(7) != a.MatrixTxnID(7) {
		t.Fatal("txn id of a row changes between calls")
	}
	if a.MatrixTxnID(7) == a.MatrixTxnID(8) {
		t.Fatal("two rows share a txn id")
	}
	if a.MatrixTxnID(7) == b.MatrixTxnID(7) {
		t.Fatal("a recreated database reuses txn ids: the homeserver would drop its messages as duplicates")
	}
}

func TestBotMembershipKeepsInviteFacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		set := func(membership string, direct bool, inviter string) {
			t.Helper()
			if err := store.SetBotMembership(ctx, db, "@bot:x", "!r:x", membership, direct, inviter); err != nil {
				t.Fatal(err)
			}
		}
		set("join", true, "@alice:x")
		set("join", false, "") // the join event echo carries neither
		bots, err := db.BotsInRoom(ctx, "!r:x")
		if err != nil {
			t.Fatal(err)
		}
		if len(bots) != 1 || !bots[0].IsDirect || bots[0].Inviter != "@alice:x" {
			t.Fatalf("bots in room %+v: is_direct and inviter must survive the join echo", bots)
		}
		set("leave", false, "")
		if bots, _ := db.BotsInRoom(ctx, "!r:x"); len(bots) != 0 {
			t.Fatalf("a bot that left is still listed: %+v", bots)
		}

		if err := store.SetMember(ctx, db, "!r:x", "@alice:x", "join", "Alice"); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, "!r:x", "@bob:x", "join", "Bob"); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, "!r:x", "@bob:x", "leave", ""); err != nil {
			t.Fatal(err)
		}
		if n, err := db.JoinedMemberCount(ctx, "!r:x"); err != nil || n != 1 {
			t.Fatalf("joined members %d (err %v), want 1", n, err)
		}
		if turn, err := store.LoadTurn(ctx, db, "@bot:x", "!r:x", "@alice:x"); err != nil || turn.MemberName != "Alice" {
			t.Fatalf("display name %q err %v", turn.MemberName, err)
		}
		if turn, err := store.LoadTurn(ctx, db, "@bot:x", "!r:x", "@nobody:x"); err != nil || turn.MemberName != "" {
			t.Fatalf("unknown member: %q err %v", turn.MemberName, err)
		}
	})
}

func TestBotProfileHash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, registered, err := db.BotProfileHash(ctx, "@bot:x"); err != nil || registered {
			t.Fatalf("unknown bot: registered=%v err=%v", registered, err)
		}
		for _, h := range []string{"", "abc", "def"} {
			if err := db.SaveBot(ctx, "@bot:x", h); err != nil {
				t.Fatal(err)
			}
			got, registered, err := db.BotProfileHash(ctx, "@bot:x")
			if err != nil || !registered || got != h {
				t.Fatalf("after SaveBot(%q): %q %v %v", h, got, registered, err)
			}
		}
	})
}

func TestPruneKeepsPendingWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ev := func(id string) store.IncomingEvent {
			return store.IncomingEvent{EventID: id, RoomID: "!r:x", Sender: "@a:x", Type: "m.room.message", JSON: []byte(`{}`)}
		}
		if _, _, err := db.StoreTransaction(ctx, "old", []store.IncomingEvent{ev("$done"), ev("$pending")}); err != nil {
			t.Fatal(err)
		}
		next, err := db.NextInboxEvent(ctx, "!r:x")
		if err != nil || next.EventID != "$done" {
			t.Fatalf("next %+v %v", next, err)
		}
		if err := db.Tx(ctx, func(tx store.Tx) error { return store.MarkInboxDone(ctx, tx, next.Seq, "") }); err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx store.Tx) error {
			_, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{
				{RoomID: "!r:x", BotUserID: "@b:x", Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1},
				{RoomID: "!r:x", BotUserID: "@b:x", Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1},
				{RoomID: "!r:x", BotUserID: "@b:x", Type: "m.reaction", Content: []byte(`{}`), ParentIndex: 1},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MarkOutboxSent(ctx, 1, "$s1"); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkOutboxSent(ctx, 2, "$s2"); err != nil {
			t.Fatal(err)
		}
		p, err := db.Prune(ctx, store.Now()+1)
		if err != nil {
			t.Fatal(err)
		}
		// Row 2 stays: its pending reaction still needs its event id.
		if p.Transactions != 1 || p.Inbox != 1 || p.Outbox != 1 {
			t.Fatalf("pruned %+v, want 1 txn, 1 inbox row, 1 outbox row", p)
		}
		next, err = db.NextInboxEvent(ctx, "!r:x")
		if err != nil || next == nil || next.EventID != "$pending" {
			t.Fatalf("pending event after prune: %+v %v", next, err)
		}
		row := nextRow(t, db, "!r:x")
		if row == nil || row.ParentEventID != "$s2" {
			t.Fatalf("pending reaction after prune: %+v", row)
		}
		if p, _ := db.Prune(ctx, 0); p.Transactions+p.Inbox+p.Outbox != 0 {
			t.Fatalf("pruning before the epoch deleted %+v", p)
		}
	})
}

// Finishing an event checks the room's lease and the event in the same
// transaction: a lease taken over by another process, or an event another
// process finished first, refuses the commit and changes nothing. A
// finish that commits claims the room's next due event (its attempt
// counted), none when the next waits for a retry or there is none.
func TestFinishInboxEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const room = "!r:x"
		storeTxn(t, db, "t1", msg(room, "$1"), msg(room, "$2"), msg(room, "$3"))
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, room, "me", 60000); err != nil || !ok {
			t.Fatal(ok, err)
		}
		finish := func(owner string, seq int64) (next *store.InboxEvent, err error) {
			err = db.Tx(ctx, func(tx store.Tx) error {
				next, err = db.FinishInboxEvent(ctx, tx, room, owner, seq, "", store.Now())
				return err
			})
			return next, err
		}
		first := next(t, db, room)
		if _, err := finish("other", first.Seq); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("finishing without the lease: %v", err)
		}
		if in, _ := db.InboxCounts(ctx); in["pending"] != 3 {
			t.Fatalf("inbox %v after a refused finish", in)
		}
		second, err := finish("me", first.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if second == nil || second.EventID != "$2" || second.Attempts != 0 || second.StateKey != nil || string(second.JSON) == "" {
			t.Fatalf("next %+v, want $2, no attempt counted", second)
		}
		if _, err := finish("me", first.Seq); !errors.Is(err, store.ErrAlreadyHandled) {
			t.Fatalf("finishing twice: %v", err)
		}
		if in, _ := db.InboxCounts(ctx); in["pending"] != 2 || in["done"] != 1 {
			t.Fatalf("inbox %v", in)
		}
		// $3 waits for a retry: not claimed.
		if _, err := db.ExecContext(ctx, `UPDATE inbox SET retry_at = $1 WHERE event_id = '$3'`, store.Now()+60000); err != nil {
			t.Fatal(err)
		}
		if third, err := finish("me", second.Seq); err != nil || third != nil {
			t.Fatalf("finishing $2 claimed %+v (%v), want nothing: $3 is not due", third, err)
		}
		var attempts int
		if err := db.QueryRowContext(ctx, `SELECT attempts FROM inbox WHERE event_id = '$3'`).Scan(&attempts); err != nil || attempts != 0 {
			t.Fatalf("$3 attempts %d (%v), want 0", attempts, err)
		}
	})
}

// On Postgres, concurrent intake commits take inbox seqs in one order and
// commit in another: an event with a lower seq can become visible after a
// later one of its room was claimed. The finish of that later event must
// claim it next (the room's oldest pending event), not skip it for
// anything with a higher seq: its transaction may have been acknowledged
// before the homeserver sent the later ones. (SQLite has one writer, so
// its seqs are in commit order.)
func TestFinishClaimsAnEarlierEventCommittedLate(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	const room = "!r:x"
	early, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback()
	e := msg(room, "$early")
	if _, err := early.ExecContext(ctx, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'early', $7)`, e.EventID, e.RoomID, e.Sender, e.Type, e.OriginTS, string(e.JSON), store.Now()); err != nil {
		t.Fatal(err)
	}
	storeTxn(t, db, "late", msg(room, "$late1"), msg(room, "$late2"))
	if ok, err := db.AcquireLease(ctx, store.QueueInbox, room, "me", 60000); err != nil || !ok {
		t.Fatal(ok, err)
	}
	head, err := db.NextInboxEvent(ctx, room)
	if err != nil || head == nil || head.EventID != "$late1" {
		t.Fatalf("claimed %+v (%v), want $late1: $early is not committed yet", head, err)
	}
	if err := early.Commit(); err != nil {
		t.Fatal(err)
	}
	var next *store.InboxEvent
	err = db.Tx(ctx, func(tx store.Tx) error {
		next, err = db.FinishInboxEvent(ctx, tx, room, "me", head.Seq, "", store.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if next == nil || next.EventID != "$early" {
		t.Fatalf("finishing $late1 claimed %+v, want $early (the room's oldest pending event)", next)
	}
}

// TakeLease tells a room taken over from another owner whose lease ran
// out (it died mid-send, or stalled) from one that was free, given back or
// already the caller's: the sender then looks for the room's first reply
// before sending it. A dead process's leases ended at start
// (ReleaseStaleLeases) are taken over the same way. Replies' attempts are
// left as they are.
func TestTakeLeaseTellsATakeover(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ids, err := store.AppendOutbox(ctx, db, []store.OutgoingEvent{textReply("!a:x", "pending", -1), textReply("!c:x", "dead's room", -1)})
		if err != nil {
			t.Fatal(err)
		}
		take := func(room, owner string, want bool) {
			t.Helper()
			ok, tookOver, err := db.TakeLease(ctx, store.QueueOutbox, room, owner, 60_000)
			if err != nil || !ok || tookOver != want {
				t.Fatalf("take %s as %s: held %v, took over %v (%v); want held, took over %v", room, owner, ok, tookOver, err, want)
			}
		}
		expire := func(room string) {
			t.Helper()
			if _, err := db.ExecContext(ctx, `UPDATE room_lease SET expires_at = 0 WHERE room_id = $1`, room); err != nil {
				t.Fatal(err)
			}
		}
		take("!a:x", "p1", false) // free
		take("!a:x", "p1", false) // renewed
		if err := db.ReleaseLease(ctx, store.QueueOutbox, "!a:x", "p1"); err != nil {
			t.Fatal(err)
		}
		take("!a:x", "p2", false) // given back before
		expire("!a:x")
		take("!a:x", "p2", false) // its own, expired
		expire("!a:x")
		take("!a:x", "p3", true)
		if ok, tookOver, err := db.TakeLease(ctx, store.QueueOutbox, "!a:x", "p4", 60_000); err != nil || ok || tookOver {
			t.Fatalf("took a live lease: %v %v %v", ok, tookOver, err)
		}
		take("!c:x", "dead", false)
		if n, err := db.ReleaseStaleLeases(ctx, func(owner string) bool { return owner == "dead" }); err != nil || n != 1 {
			t.Fatalf("ended %d stale leases (%v), want 1", n, err)
		}
		take("!c:x", "p1", true)
		for _, id := range ids {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT attempts FROM outbox WHERE id = $1`, id).Scan(&n); err != nil || n != 0 {
				t.Fatalf("reply %d: %d attempts (%v), want none written", id, n, err)
			}
		}
	})
}

// The dispatcher records no attempt before it handles an event. Taking an
// inbox room over from a process whose lease ran out counts one for the
// room's oldest pending event, the one it may have been handling when it
// died, unless that event was waiting for a retry; a room given back or
// renewed changes nothing. A dead process's leases ended at start are
// taken over the same way. So an event that kills every process that runs
// it is given up after dispatcher.max_deaths deaths.
func TestTakingOverADispatchersRoomCountsItsHead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		storeTxn(t, db, "t1", msg("!a:x", "$a1"), msg("!a:x", "$a2"), msg("!w:x", "$w1"), msg("!d:x", "$d1"))
		waiting := next(t, db, "!w:x")
		if err := store.FailInboxEvent(ctx, db, waiting.Seq, store.Now()+3_600_000, "backend down", false); err != nil {
			t.Fatal(err)
		}
		attempts := func() []int {
			t.Helper()
			var out []int
			for _, ev := range []string{"$a1", "$a2", "$w1", "$d1"} {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT attempts FROM inbox WHERE event_id = $1`, ev).Scan(&n); err != nil {
					t.Fatal(err)
				}
				out = append(out, n)
			}
			return out
		}
		acquire := func(room, owner string) {
			t.Helper()
			if ok, err := db.AcquireLease(ctx, store.QueueInbox, room, owner, 60_000); err != nil || !ok {
				t.Fatalf("acquire %s as %s: %v %v", room, owner, ok, err)
			}
		}
		expire := func(room string) {
			t.Helper()
			if _, err := db.ExecContext(ctx, `UPDATE room_lease SET expires_at = 0 WHERE room_id = $1`, room); err != nil {
				t.Fatal(err)
			}
		}
		acquire("!a:x", "p1")
		acquire("!a:x", "p1")
		if err := db.ReleaseLease(ctx, store.QueueInbox, "!a:x", "p1"); err != nil {
			t.Fatal(err)
		}
		acquire("!a:x", "p2")
		if ok, err := db.AcquireLease(ctx, store.QueueOutbox, "!a:x", "p9", 60_000); err != nil || !ok {
			t.Fatal(ok, err)
		}
		expire("!a:x")
		if ok, err := db.AcquireLease(ctx, store.QueueOutbox, "!a:x", "p8", 60_000); err != nil || !ok {
			t.Fatal(ok, err) // the sender's lease of the room, not the dispatcher's
		}
		if got, want := attempts(), []int{0, 0, 1, 0}; !slices.Equal(got, want) {
			t.Fatalf("attempts %v without a takeover, want %v", got, want)
		}
		acquire("!a:x", "p3")
		acquire("!w:x", "p1")
		expire("!w:x")
		acquire("!w:x", "p2")
		if got, want := attempts(), []int{1, 0, 1, 0}; !slices.Equal(got, want) {
			t.Fatalf("attempts %v after taking !a:x and !w:x over, want %v (the head of !a:x counted, !w:x's waits for its retry)", got, want)
		}
		acquire("!d:x", "dead")
		if n, err := db.ReleaseStaleLeases(ctx, func(owner string) bool { return owner == "dead" }); err != nil || n != 1 {
			t.Fatalf("ended %d stale leases (%v), want 1", n, err)
		}
		acquire("!d:x", "p1")
		if got, want := attempts(), []int{1, 0, 1, 1}; !slices.Equal(got, want) {
			t.Fatalf("attempts %v after taking over a dead owner's room, want %v", got, want)
		}
	})
}
