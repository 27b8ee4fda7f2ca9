package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Processes sharing a Postgres database hear of each other's new inbox
// rooms (a room's lease stays with the process working in it, which may
// not be the one the load balancer gave the transaction), and not of
// their own.
func TestOtherProcessesHearOfNewRooms(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbs := storetest.Processes(t, 2)
	a, b := dbs[0], dbs[1]
	heardA, heardB := make(chan []string, 10), make(chan []string, 10)
	listening := func(db *store.DB, heard chan []string) {
		go db.Listen(ctx, store.ChannelInbox, func(rooms []string) { heard <- rooms }, zerolog.Nop())
	}
	listening(a, heardA)
	listening(b, heardB)
	// The listeners need a moment to connect: keep storing until B hears.
	var got []string
	for i := 0; i < 100 && got == nil; i++ {
		if _, _, err := a.StoreTransaction(ctx, "t"+time.Now().String(), []store.IncomingEvent{
			{EventID: "$e" + time.Now().String(), RoomID: "!r1:x", Sender: "@u:x", Type: "m.room.message", JSON: []byte(`{}`)},
			{EventID: "$f" + time.Now().String(), RoomID: "!r2:x", Sender: "@u:x", Type: "m.room.message", JSON: []byte(`{}`)},
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-heardB:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(got) != 2 || got[0] != "!r1:x" || got[1] != "!r2:x" {
		t.Fatalf("B heard %q, want the two rooms", got)
	}
	select {
	case own := <-heardA:
		if own != nil {
			t.Fatalf("A heard its own rooms %q", own)
		}
	default:
	}
}
