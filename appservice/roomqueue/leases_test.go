package roomqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Tend gives back the rooms no visit is in once they are idle, and keeps
// (renews) a room whose visit is still going, however long it takes.
func TestLeasesKeepRoomsInUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := &roomqueue.Leases{DB: db, Queue: store.QueueInbox, Owner: roomqueue.OwnerID("dispatch"),
			TTL: time.Minute, Idle: time.Nanosecond, Log: zerolog.Nop()}
		for _, room := range []string{"!busy:x", "!done:x"} {
			if !l.Hold(ctx, room) {
				t.Fatalf("could not hold %s", room)
			}
		}
		l.Done("!done:x")
		time.Sleep(time.Millisecond) // both rooms' last use is now older than Idle
		l.Tend(ctx)
		other := roomqueue.OwnerID("dispatch")
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, "!busy:x", other, 60_000); err != nil || ok {
			t.Fatalf("another process took the room a visit is in (%v)", err)
		}
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, "!done:x", other, 60_000); err != nil || !ok {
			t.Fatalf("the idle room was not given back (%v)", err)
		}
		// Once its visit ends and it goes idle, the busy room is given back too.
		l.Done("!busy:x")
		time.Sleep(time.Millisecond)
		l.Tend(ctx)
		if ok, err := db.AcquireLease(ctx, store.QueueInbox, "!busy:x", other, 60_000); err != nil || !ok {
			t.Fatalf("the room was not given back after its visit (%v)", err)
		}
	})
}

// A room whose lease row one of the process's commits holds while the
// leases are tended stays the process's: tending does not wait for the
// commit (see store.RenewLeases), and the room is given back once its
// visit ends and it goes idle, like any other. (Postgres: on SQLite no
// commit is open while leases are tended.)
func TestLeasesTendedDuringACommit(t *testing.T) {
	db := storetest.New(t, store.Postgres)
	ctx := context.Background()
	l := &roomqueue.Leases{DB: db, Queue: store.QueueInbox, Owner: roomqueue.OwnerID("dispatch"),
		TTL: time.Minute, Idle: time.Nanosecond, Log: zerolog.Nop()}
	if !l.Hold(ctx, "!busy:x") {
		t.Fatal("could not hold the room")
	}
	commit, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer commit.Rollback()
	if err := store.RenewLease(ctx, commit, store.QueueInbox, "!busy:x", l.Owner, time.Minute.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	l.Tend(tctx)
	if tctx.Err() != nil {
		t.Fatal("tending the leases waited for the commit")
	}
	if err := commit.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Done("!busy:x")
	time.Sleep(time.Millisecond) // its last use is now older than Idle
	l.Tend(ctx)
	if ok, err := db.AcquireLease(ctx, store.QueueInbox, "!busy:x", roomqueue.OwnerID("dispatch"), 60_000); err != nil || !ok {
		t.Fatalf("the room was not given back once idle (%v)", err)
	}
}
