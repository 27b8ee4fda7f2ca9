package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func addFact(ctx context.Context, q store.Querier, key, value string) error {
	return store.UpdateCustomerFacts(ctx, q, "@shop:x", "@alice:x", map[string]*string{key: &value}, nil)
}

func facts(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	c, err := store.LoadCustomer(context.Background(), db, "@shop:x", "@alice:x")
	if err != nil || c == nil {
		t.Fatalf("load customer: %+v %v", c, err)
	}
	return c.Facts
}

func touchAlice(t *testing.T, db *store.DB) {
	t.Helper()
	if err := store.TouchCustomer(context.Background(), db, "@shop:x", "@alice:x", "Alice", 1); err != nil {
		t.Fatal(err)
	}
}

// Two turns of one customer in two rooms commit concurrently, each adding
// a different fact: both facts are kept.
func TestCustomerFactsConcurrentUpdatesKeepBoth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		touchAlice(t, db)
		const writers = 8
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.Tx(ctx, func(tx store.Tx) error { return addFact(ctx, tx, fmt.Sprint("k", i), "v") })
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := facts(t, db); len(got) != writers {
			t.Fatalf("facts after %d concurrent updates: %v", writers, got)
		}
	})
}

// The interleaving that lost a write on Postgres: the second transaction
// reads while the first holds its change uncommitted, then writes after
// the first commits. The update must wait for the first and build on it.
func TestCustomerFactsInterleavedTransactions(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	touchAlice(t, db)
	tx1, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	if err := addFact(ctx, tx1, "address", "Main St 1"); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		second <- db.Tx(ctx, func(tx store.Tx) error { return addFact(ctx, tx, "phone", "555") })
	}()
	// Commit the first only once the second waits for its row lock.
	waitFor(t, "the second transaction to wait for the customer row", func() bool {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	})
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := facts(t, db); got["address"] != "Main St 1" || got["phone"] != "555" {
		t.Fatalf("facts after two interleaved updates: %v, want address and phone", got)
	}
}

// A profile that is not JSON is an error, and stays as it was: replacing
// it with {} would silently drop what the business knew.
func TestCustomerFactsCorruptIsAnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		touchAlice(t, db)
		if _, err := db.ExecContext(ctx, `UPDATE customers SET profile = '{"address": "Main' WHERE user_id = '@alice:x'`); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, func(tx store.Tx) error { return addFact(ctx, tx, "phone", "555") })
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("update of a corrupt profile: %v, want ErrCorrupt", err)
		}
		if _, err := store.LoadCustomer(ctx, db, "@shop:x", "@alice:x"); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("load of a corrupt profile: %v, want ErrCorrupt", err)
		}
		var profile string
		if err := db.QueryRowContext(ctx, `SELECT profile FROM customers WHERE user_id = '@alice:x'`).Scan(&profile); err != nil {
			t.Fatal(err)
		}
		if profile != `{"address": "Main` {
			t.Fatalf("corrupt profile was overwritten with %q", profile)
		}
	})
}

// Text from a customer with NUL or invalid UTF-8 is stored (cleaned) on
// both engines instead of failing every commit of the room on Postgres.
func TestCustomerTextIsCleaned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bad := "a\x00b\xffc"
		storeTxn(t, db, "t1", msg("!r:x", "$1"), msg("!r:x", "$2"))
		first := next(t, db, "!r:x")
		err := db.Tx(ctx, func(tx store.Tx) error {
			// A handler's error text kept with the event may quote the customer.
			if err := store.FailInboxEvent(ctx, tx, first.Seq, 0, bad, false); err != nil {
				return err
			}
			if err := store.MarkInboxDone(ctx, tx, first.Seq, bad); err != nil {
				return err
			}
			if err := store.TouchCustomer(ctx, tx, "@shop:x", "@alice:x", bad, 1); err != nil {
				return err
			}
			if err := store.SetMember(ctx, tx, "!r:x", "@alice:x", "join", bad); err != nil {
				return err
			}
			if err := addFact(ctx, tx, "note", bad); err != nil {
				return err
			}
			return store.AddHistory(ctx, tx, "@shop:x", "@alice:x", "message", bad, []byte(`{"text":"`+bad+`"}`), 1)
		})
		if err != nil {
			t.Fatalf("storing text with NUL and invalid UTF-8: %v", err)
		}
		const want = "a\uFFFDb\uFFFDc"
		turn, err := store.LoadTurn(ctx, db, "@shop:x", "!r:x", "@alice:x")
		if err != nil || turn.MemberName != want {
			t.Fatalf("display name %q %v, want %q", turn.MemberName, err, want)
		}
		if got := facts(t, db)["note"]; got != want {
			t.Fatalf("fact %q, want %q", got, want)
		}
		h, err := store.History(ctx, db, "@shop:x", "@alice:x", 1)
		if err != nil || len(h) != 1 || h[0].Summary != want {
			t.Fatalf("history %+v %v", h, err)
		}
	})
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The room read that routes a message also brings what each joined bot
// knows of the sender: that bot's own state and customer record, the
// sender's name in the room; nothing of a bot that left, nothing of
// another customer.
func TestViewRoomReadsEachBotsTurn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const room, alice, bob = "!r:x", "@alice:x", "@bob:x"
		err := db.Tx(ctx, func(tx store.Tx) error {
			for _, b := range []string{"@pizza:x", "@taxi:x", "@gone:x"} {
				if err := store.SetBotMembership(ctx, tx, b, room, "join", false, alice); err != nil {
					return err
				}
				if err := store.TouchCustomer(ctx, tx, b, alice, "Alice", 1); err != nil {
					return err
				}
			}
			if err := store.SetBotMembership(ctx, tx, "@gone:x", room, "leave", false, ""); err != nil {
				return err
			}
			if err := store.SetMember(ctx, tx, room, alice, "join", "Alice A."); err != nil {
				return err
			}
			if err := store.TouchCustomer(ctx, tx, "@taxi:x", bob, "Bob", 1); err != nil {
				return err
			}
			if _, err := store.SetConsoleRoom(ctx, tx, "@taxi:x", room, store.ConvAgent, "@sam:x"); err != nil {
				return err
			}
			return store.SaveState(ctx, tx, "@pizza:x", room, alice, store.StateRow{Step: "size", State: []byte(`{"n":2}`)}, 1)
		})
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.ViewRoom(ctx, room, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Bots) != 2 || v.Bots[0].BotUserID != "@pizza:x" || v.Bots[1].BotUserID != "@taxi:x" || v.Joined != 1 {
			t.Fatalf("bots %+v, joined %d", v.Bots, v.Joined)
		}
		if !v.Held["@taxi:x"] || v.Held["@pizza:x"] {
			t.Fatalf("held %v", v.Held)
		}
		pizza, taxi := v.Turns["@pizza:x"], v.Turns["@taxi:x"]
		if pizza.State == nil || pizza.State.Step != "size" || string(pizza.State.State) != `{"n":2}` || taxi.State != nil {
			t.Fatalf("states: pizza %+v, taxi %+v", pizza.State, taxi.State)
		}
		if pizza.Customer == nil || taxi.Customer == nil || pizza.MemberName != "Alice A." || taxi.MemberName != "Alice A." {
			t.Fatalf("turns %+v", v.Turns)
		}
		if _, ok := v.Turns["@gone:x"]; ok || len(v.Turns) != 2 {
			t.Fatalf("turn rows of a bot that left: %+v", v.Turns)
		}
		// The same rows as LoadTurn reads for one bot.
		one, err := store.LoadTurn(ctx, db, "@pizza:x", room, alice)
		if err != nil || one.State.Step != pizza.State.Step || one.Customer.DisplayName != pizza.Customer.DisplayName || one.MemberName != pizza.MemberName {
			t.Fatalf("LoadTurn %+v (%v), ViewRoom %+v", one, err, pizza)
		}
		if v, err := db.ViewRoom(ctx, room, ""); err != nil || len(v.Turns) != 0 || len(v.Bots) != 2 {
			t.Fatalf("without a sender: %+v, %v", v, err)
		}
	})
}
