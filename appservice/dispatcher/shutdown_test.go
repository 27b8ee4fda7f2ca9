package dispatcher_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// storeEvents appends events to the inbox as intake would.
func storeEvents(t *testing.T, db *store.DB, txn string, events ...map[string]any) {
	t.Helper()
	var in []store.IncomingEvent
	for _, e := range events {
		raw := mustJSON(t, e)
		in = append(in, store.IncomingEvent{EventID: evID(e), RoomID: e["room_id"].(string), Sender: e["sender"].(string),
			Type: e["type"].(string), OriginTS: time.Now().UnixMilli(), JSON: raw})
	}
	if _, _, err := db.StoreTransaction(context.Background(), txn, in); err != nil {
		t.Fatal(err)
	}
}

// An event in hand when bizbots is told to stop is finished and committed
// (its side effects outside the database happen once), not abandoned and
// redone after the restart.
func TestShutdownFinishesTheEventInHand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var calls atomic.Int64
		started, release := make(chan struct{}), make(chan struct{})
		h := handlers.HandlerFunc(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			if calls.Add(1) == 1 {
				close(started)
				// A call to the business's own system, which honours ctx.
				select {
				case <-release:
				case <-ctx.Done():
					return handlers.Temporary(ctx.Err())
				}
			}
			conv.Reply("order placed")
			return nil
		})
		r := startShutdownRig(t, db, h, waitLimit)
		room, order, done, stop := r.room, r.order, r.done, r.stop
		<-started
		stop() // SIGTERM while the handler is busy
		select {
		case <-done:
			t.Fatal("Run returned with an event in hand")
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("Run did not return after the event in hand finished")
		}
		f := &flow{db: db, hs: r.hs}
		if st := f.inbox(t, evID(order)); st.status != "done" || st.attempts != 0 {
			t.Fatalf("event in hand at shutdown: %+v, want committed", st)
		}
		if n := f.outboxCount(t, room); n != 1 {
			t.Fatalf("%d replies queued, want the one answer", n)
		}

		// Restart: nothing is redone.
		again := r.restart()
		if err := again.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("the handler ran %d times across the restart, want once", n)
		}
		if n := f.outboxCount(t, room); n != 1 {
			t.Fatalf("%d replies queued after the restart, want 1", n)
		}
	})
}

// A handler that does not finish within the grace is cut off: the event
// stays pending, without a counted attempt, and is handled after restart.
func TestShutdownGraceRunsOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var calls atomic.Int64
		started := make(chan struct{})
		h := handlers.HandlerFunc(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			if calls.Add(1) == 1 {
				close(started)
				<-ctx.Done()
				return handlers.Temporary(ctx.Err())
			}
			conv.Reply("order placed")
			return nil
		})
		r := startShutdownRig(t, db, h, 100*time.Millisecond)
		room, order, done, stop := r.room, r.order, r.done, r.stop
		<-started
		stop()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Fatal("Run did not return after the grace")
		}
		f := &flow{db: db, hs: r.hs}
		if st := f.inbox(t, evID(order)); st.status != "pending" || st.attempts != 0 || !strings.Contains(st.lastError, "stopped") {
			t.Fatalf("event cut off by the shutdown: %+v, want pending and not counted as an attempt", st)
		}
		again := r.restart()
		if err := again.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := f.inbox(t, evID(order)); st.status != "done" {
			t.Fatalf("after the restart: %+v", st)
		}
		if n := f.outboxCount(t, room); n != 1 {
			t.Fatalf("%d replies after the restart, want 1", n)
		}
	})
}

// shutdownRig is one bizbots process running a bot with handler h in a
// direct chat whose customer's order is in the inbox.
type shutdownRig struct {
	room  string
	order map[string]any
	hs    *fakehs.HS
	done  chan struct{} // closed when Run returns
	stop  context.CancelFunc
	// restart makes a new dispatcher on the same database.
	restart func() *dispatcher.Dispatcher
}

func startShutdownRig(t *testing.T, db *store.DB, h handlers.Handler, grace time.Duration) *shutdownRig {
	t.Helper()
	bots := []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza"}, Handler: h}}
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	log := zerolog.New(zerolog.NewTestWriter(t))
	opts := dispatcher.Options{Workers: 2, PollInterval: 20 * time.Millisecond, ShutdownGrace: grace}
	r := &shutdownRig{room: "!dm:example.org", hs: hs, done: make(chan struct{}),
		restart: func() *dispatcher.Dispatcher { return dispatcher.New(db, bots, senderID, hsClient(t, hs), opts, log) }}
	if err := db.Tx(context.Background(), func(tx store.Tx) error {
		return store.SetBotMembership(context.Background(), tx, botID.String(), r.room, "join", true, alice)
	}); err != nil {
		t.Fatal(err)
	}
	r.order = fakehs.Message(r.room, alice, "one margherita")
	storeEvents(t, db, "t1", r.order)
	disp := dispatcher.New(db, bots, senderID, hsClient(t, hs), opts, log)
	ctx, stop := context.WithCancel(context.Background())
	r.stop = stop
	t.Cleanup(stop)
	go func() { defer close(r.done); _ = disp.Run(ctx) }()
	return r
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hsClient(t *testing.T, hs *fakehs.HS) *hsclient.Client {
	t.Helper()
	cli, err := hsclient.New(hs.URL(), asToken, 4, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return cli
}
