package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func textReply(room, text string, parent int) store.OutgoingEvent {
	return store.OutgoingEvent{RoomID: room, BotUserID: "@b:x", Type: "m.room.message",
		Content: []byte(`{"body":"` + text + `"}`), ParentIndex: parent}
}

// A group member's deferred writes are made before its GroupTx returns,
// in the order it handed them in; they are not there before (that is the
// point), except after FlushLater; and two touches of one customer in a
// group are as if made one after the other.
func TestLaterWritesCommitWithTheGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const bot, user, room = "@b:x", "@alice:x", "!r:x"
		var before, flushed, after []string
		err := db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := store.TouchCustomerLater(ctx, tx, bot, user, "Alice", 1000); err != nil {
				return err
			}
			if err := store.AddHistoryLater(ctx, tx, bot, user, "message", "one", nil, 1000); err != nil {
				return err
			}
			if err := store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply(room, "1", -1), textReply(room, "2", -1)}); err != nil {
				return err
			}
			before = storetest.OutboxContents(t, tx, room)
			if err := store.FlushLater(ctx, tx); err != nil {
				return err
			}
			flushed = storetest.OutboxContents(t, tx, room)
			if err := store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply(room, "3", -1)}); err != nil {
				return err
			}
			if err := store.AddHistoryLater(ctx, tx, bot, user, "message", "two", nil, 2000); err != nil {
				return err
			}
			// A row that relates to another goes in at once: after what
			// was deferred before it.
			if err := store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply(room, "4", -1), textReply(room, "4r", 0)}); err != nil {
				return err
			}
			after = storetest.OutboxContents(t, tx, room)
			return store.TouchCustomerLater(ctx, tx, bot, user, "", 2000)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 0 || len(flushed) != 2 || len(after) != 5 {
			t.Fatalf("outbox rows seen in the transaction: %d before the flush, %d after, %d after a row with a parent; want 0, 2, 5",
				len(before), len(flushed), len(after))
		}
		want := []string{`{"body":"1"}`, `{"body":"2"}`, `{"body":"3"}`, `{"body":"4"}`, `{"body":"4r"}`}
		if got := storetest.OutboxContents(t, db, room); len(got) != len(want) {
			t.Fatalf("outbox %v, want %v", got, want)
		} else {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("outbox %v, want %v (in the order appended)", got, want)
				}
			}
		}
		hist, err := store.History(ctx, db, bot, user, 10)
		if err != nil || len(hist) != 2 || hist[0].Summary != "two" || hist[1].Summary != "one" || string(hist[1].Data) != "{}" {
			t.Fatalf("history %+v (%v), want two then one", hist, err)
		}
		var name string
		var first, last int64
		if err := db.QueryRowContext(ctx, `SELECT display_name, first_seen, last_seen FROM customers WHERE bot_user_id = $1 AND user_id = $2`,
			bot, user).Scan(&name, &first, &last); err != nil {
			t.Fatal(err)
		}
		if name != "Alice" || first != 1000 || last != 2000 {
			t.Fatalf("customer %q first %d last %d, want Alice 1000 2000", name, first, last)
		}
	})
}

// Outside a group commit the *Later functions write at once.
func TestLaterOutsideAGroupWritesAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.Tx(ctx, func(tx store.Tx) error {
			if err := store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply("!r:x", "1", -1)}); err != nil {
				return err
			}
			if err := store.TouchCustomerLater(ctx, tx, "@b:x", "@alice:x", "Alice", 1000); err != nil {
				return err
			}
			if n := len(storetest.OutboxContents(t, tx, "!r:x")); n != 1 {
				t.Errorf("%d outbox rows in the transaction, want 1", n)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&n); err != nil || n != 1 {
				t.Errorf("%d customers (%v), want 1", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// refuseOutbox makes the database refuse outbox rows for room.
func refuseOutbox(t *testing.T, db *store.DB, room string) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox WHEN NEW.room_id = '` + room + `'
		BEGIN SELECT RAISE(ABORT, 'refused by test'); END`}
	if db.Dialect == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$`,
			`CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW WHEN (NEW.room_id = '` + room + `') EXECUTE FUNCTION refuse_outbox()`,
		}
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// When the group's deferred writes fail, each member learns its own
// outcome: the member whose row was refused gets the error and none of its
// writes stay; the others commit. On SQLite (one committer) the members
// are made to share a group: a first member holds the committer while the
// others queue.
func TestLaterFailureIsTheMembersOwn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		refuseOutbox(t, db, "!bad:x")
		hold, held := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
				select {
				case <-held:
				default:
					close(held)
				}
				<-hold
				return nil
			})
		}()
		<-held
		member := func(room, user string) error {
			return db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if err := store.TouchCustomerLater(ctx, tx, "@b:x", user, "", 1000); err != nil {
					return err
				}
				if err := store.AddHistoryLater(ctx, tx, "@b:x", user, "message", "hi", nil, 1000); err != nil {
					return err
				}
				return store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply(room, "hi", -1)})
			})
		}
		errs := make([]error, 3)
		rooms := []string{"!a:x", "!bad:x", "!c:x"}
		for i, room := range rooms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = member(room, "@u"+room)
			}()
		}
		close(hold)
		wg.Wait()
		if errs[0] != nil || errs[2] != nil || errs[1] == nil {
			t.Fatalf("members' errors %v; want only the refused room's", errs)
		}
		for _, room := range rooms {
			var rows, customers, history int
			if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM outbox WHERE room_id = $1),
				(SELECT count(*) FROM customers WHERE user_id = $2), (SELECT count(*) FROM customer_history WHERE user_id = $2)`,
				room, "@u"+room).Scan(&rows, &customers, &history); err != nil {
				t.Fatal(err)
			}
			want := 1
			if room == "!bad:x" {
				want = 0
			}
			if rows != want || customers != want || history != want {
				t.Errorf("%s: %d outbox rows, %d customers, %d history lines; want %d of each", room, rows, customers, history, want)
			}
		}
	})
}

// The sender's records of a group are one statement: rows of many rooms
// recorded as sent at once each land on their own row, and leave the
// rows beside them alone.
func TestOutboxMarksFromManyRooms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 40
		var ids []int64
		err := db.Tx(ctx, func(tx store.Tx) error {
			for i := range n {
				got, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{textReply("!r"+string(rune('a'+i%26))+string(rune('a'+i/26))+":x", "hi", -1), textReply("!z:x", "next", -1)})
				if err != nil {
					return err
				}
				ids = append(ids, got...)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- db.MarkOutboxSent(ctx, ids[2*i], "$e"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			var status, eventID string
			var attempts int
			if err := db.QueryRowContext(ctx, `SELECT status, event_id, attempts FROM outbox WHERE id = $1`, ids[2*i]).Scan(&status, &eventID, &attempts); err != nil {
				t.Fatal(err)
			}
			want := "$e" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if status != "sent" || eventID != want || attempts != 0 {
				t.Fatalf("row %d: %s %q attempts %d; want sent %q, no failed attempt", ids[2*i], status, eventID, attempts, want)
			}
			if err := db.QueryRowContext(ctx, `SELECT status, event_id FROM outbox WHERE id = $1`, ids[2*i+1]).Scan(&status, &eventID); err != nil {
				t.Fatal(err)
			}
			if status != "pending" || eventID != "" {
				t.Fatalf("next row %d: %s %q; want pending", ids[2*i+1], status, eventID)
			}
		}
	})
}

// oneCommitter opens a fresh migrated database of dialect d whose group
// commits run one at a time, and returns it with hold: while the function
// hold returns is not called, one member holds the committer, so members
// handed in meanwhile share the next group.
func oneCommitter(t *testing.T, d store.Dialect) (*store.DB, func() func()) {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenWith(ctx, storetest.URI(t, d), store.Options{Timeout: storetest.Timeout, Committers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	return db, func() func() {
		held, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			_ = db.GroupTx(ctx, func(context.Context, store.Tx) error {
				select {
				case <-held:
				default:
					close(held)
				}
				<-release
				return nil
			})
		}()
		<-held
		return func() { close(release); <-done }
	}
}

// Events finished in one group commit (on Postgres, one statement for the
// group) each get their room's next event claimed; a member whose lease
// was taken over gets ErrLeaseLost, and neither its event nor its other
// writes change, while the others commit.
func TestGroupFinishesEachMembersEvent(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, hold := oneCommitter(t, d)
			rooms := []string{"!a:x", "!b:x", "!c:x"}
			heads := map[string]*store.InboxEvent{}
			for _, room := range rooms {
				storeTxn(t, db, "t"+room, msg(room, "$1"+room), msg(room, "$2"+room))
				owner := "me"
				if room == "!b:x" {
					owner = "other"
				}
				if ok, err := db.AcquireLease(ctx, store.QueueInbox, room, owner, 60000); err != nil || !ok {
					t.Fatal(ok, err)
				}
				head, err := db.NextInboxEvent(ctx, room)
				if err != nil || head == nil {
					t.Fatal(head, err)
				}
				heads[room] = head
			}
			release := hold()
			var wg sync.WaitGroup
			errs := make([]error, len(rooms))
			nexts := make([]*store.InboxEvent, len(rooms))
			for i, room := range rooms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
						if err := db.FinishInboxEventLater(ctx, tx, room, "me", heads[room].Seq, "", store.Now(), &nexts[i]); err != nil {
							return err
						}
						return store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{textReply(room, "hi", -1)})
					})
				}()
			}
			release()
			wg.Wait()
			for i, room := range rooms {
				var status string
				if err := db.QueryRowContext(ctx, `SELECT status FROM inbox WHERE seq = $1`, heads[room].Seq).Scan(&status); err != nil {
					t.Fatal(err)
				}
				replies := len(storetest.OutboxContents(t, db, room))
				if room == "!b:x" {
					if !errors.Is(errs[i], store.ErrLeaseLost) || status != "pending" || replies != 0 {
						t.Errorf("%s (lease taken over): %v, head %s, %d replies; want ErrLeaseLost, pending, none", room, errs[i], status, replies)
					}
					continue
				}
				if errs[i] != nil || status != "done" || replies != 1 {
					t.Errorf("%s: %v, head %s, %d replies; want done with its reply", room, errs[i], status, replies)
				}
				if n := nexts[i]; n == nil || n.EventID != "$2"+room || n.Attempts != 0 {
					t.Errorf("%s: next %+v, want $2%s claimed", room, n, room)
				}
			}
		})
	}
}
