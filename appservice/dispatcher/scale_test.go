package dispatcher_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// traffic is rooms×messages of customer chat, pushed as perTxn messages
// per room per transaction, rooms interleaved within each transaction the
// way a homeserver batches a busy server's timeline.
type traffic struct {
	rooms, messages, perTxn int
}

func (tr traffic) room(i int) string     { return fmt.Sprintf("!room%02d:example.org", i) }
func (tr traffic) customer(i int) string { return fmt.Sprintf("@customer%02d:example.org", i) }
func (tr traffic) body(room, msg int) string {
	return fmt.Sprintf("r%02d m%02d", room, msg)
}

// run opens a DM per room and streams the messages, sending transaction
// number n to intake n % len(f.asURLs). It returns the event ids in order.
func (tr traffic) run(t *testing.T, f *flow) [][]string {
	t.Helper()
	var invites []map[string]any
	for r := 0; r < tr.rooms; r++ {
		f.hs.SetMembers(tr.room(r), map[string]string{tr.customer(r): "Customer", botID.String(): "Pizza"})
		invites = append(invites, fakehs.Invite(tr.room(r), tr.customer(r), botID.String(), true))
	}
	f.pushTo(t, 0, "invites", invites...)
	ids := make([][]string, tr.rooms)
	txn := 0
	for start := 0; start < tr.messages; start += tr.perTxn {
		var evs []map[string]any
		for m := start; m < min(start+tr.perTxn, tr.messages); m++ {
			for r := 0; r < tr.rooms; r++ {
				ev := fakehs.Message(tr.room(r), tr.customer(r), tr.body(r, m))
				ids[r] = append(ids[r], evID(ev))
				evs = append(evs, ev)
			}
		}
		f.pushTo(t, txn%len(f.asURLs), fmt.Sprintf("t%d", txn), evs...)
		txn++
	}
	return ids
}

// check asserts every room got its welcome and then one reply per message,
// in order, each sent exactly once.
func (tr traffic) check(t *testing.T, f *flow) {
	t.Helper()
	for r := 0; r < tr.rooms; r++ {
		sends := f.waitSends(t, tr.room(r), tr.messages+1)
		want := []string{"Welcome to Pizza!"}
		for m := 0; m < tr.messages; m++ {
			want = append(want, "echo: "+tr.body(r, m))
		}
		if got := bodies(sends); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("room %s replies:\n%s\nwant:\n%s", tr.room(r), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, s := range sends {
			if n := f.hs.TxnRequests(s.User, s.TxnID); n != 1 {
				t.Fatalf("room %s: %q was sent %d times (txn %s)", tr.room(r), s.Content["body"], n, s.TxnID)
			}
		}
	}
	if n, want := len(f.hs.Sends()), tr.rooms*(tr.messages+1); n != want {
		t.Fatalf("%d sends in all, want %d", n, want)
	}
	ctx := context.Background()
	in, err := f.db.InboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in["done"] != tr.rooms*(tr.messages+1) || len(in) != 1 {
		t.Fatalf("inbox %v, want everything done", in)
	}
	// Every reply is recorded as sent; allow the last few records to land.
	if !f.hs.WaitFor(waitLimit, func() bool {
		out, err := f.db.OutboxCounts(ctx)
		return err == nil && out["sent"] == tr.rooms*(tr.messages+1) && len(out) == 1
	}) {
		out, _ := f.db.OutboxCounts(ctx)
		t.Fatalf("outbox %v, want every row sent", out)
	}
}

func TestManyRoomsInParallelKeepPerRoomOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withOptions(func(o *dispatcher.Options) { o.Workers = 8 }))
		tr := traffic{rooms: 20, messages: 30, perTxn: 5}
		tr.run(t, f)
		tr.check(t, f)
	})
}

// Several bizbots processes share one database: each event is handled
// exactly once, each room in order, each reply sent once.
func TestTwoProcessesShareOneDatabase(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			c := newCalls()
			// A process that starts handling waits (bounded) until the
			// other one handles something too. Leases are kept between
			// visits, so without that one fast process could serve every
			// room and the test would not exercise sharing: with its
			// workers busy, its other rooms go idle and are given back.
			var working [2]chan struct{}
			var once [2]sync.Once
			for p := range working {
				working[p] = make(chan struct{})
			}
			bots := func(process int) []*dispatcher.Bot {
				h := handlers.HandlerFunc(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
					c.add(process, m.ID)
					once[process].Do(func() { close(working[process]) })
					select {
					case <-working[1-process]:
					case <-time.After(10 * time.Second):
					case <-ctx.Done():
						return ctx.Err()
					}
					conv.Reply("echo: " + m.Text())
					return nil
				})
				return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza", Welcome: "Welcome to Pizza!"}, Handler: h}}
			}
			f := twoProcesses(t, d, withBots(bots), withOptions(func(o *dispatcher.Options) { o.LeaseTimeout = time.Second }))
			tr := traffic{rooms: 12, messages: 25, perTxn: 5}
			ids := tr.run(t, f)
			tr.check(t, f)
			for r := range ids {
				for _, e := range ids[r] {
					if n := c.of(e); n != 1 {
						t.Fatalf("event %s handled %d times", e, n)
					}
				}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Logf("messages handled per process: %v", c.byProc)
			if c.byProc[0] == 0 || c.byProc[1] == 0 {
				t.Fatalf("handled per process %v: one process did no work", c.byProc)
			}
		})
	}
}

// twoProcesses starts a flow of two processes on a fresh database of d.
func twoProcesses(t *testing.T, d store.Dialect, options ...flowOption) *flow {
	t.Helper()
	uri := storetest.URI(t, d)
	first := open(t, uri)
	if _, _, err := first.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := open(t, uri)
	if err := second.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return startFlow(t, first, append(options, withProcesses(second))...)
}

// A handler slower than the lease's idle time keeps its room: the lease
// is renewed while the visit lasts, not given back as idle under it (which
// made the commit fail and the handler run again, for ever).
func TestSlowHandlerKeepsItsRoom(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const lease = 400 * time.Millisecond // idle after 100 ms
		c := newCalls()
		bots := scripted(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
			c.add(0, m.ID)
			// The backend this handler calls is slow: it answers after
			// several of the lease's idle periods.
			time.Sleep(3 * lease / 2)
			conv.Reply("done: " + m.Text())
			return nil
		})
		f := startFlow(t, db, withBots(bots), withOptions(func(o *dispatcher.Options) { o.LeaseTimeout = lease }))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		msg := fakehs.Message(room, alice, "slow")
		f.deliver(t, msg)
		if got := bodies(f.waitSends(t, room, 1)); got[0] != "done: slow" {
			t.Fatalf("replies %q", got)
		}
		if n := c.of(evID(msg)); n != 1 {
			t.Fatalf("handler ran %d times for one message, want 1", n)
		}
	})
}

// A process that stalls past its lease loses the room: the other process
// handles the event, and the stalled one's late commit is refused, so the
// customer gets one answer.
func TestStalledProcessLosesRoomAndCannotCommit(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			c := newCalls()
			started, release := make(chan int, 1), make(chan struct{})
			bots := func(process int) []*dispatcher.Bot {
				h := handlers.HandlerFunc(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
					if m.Text() != "order" {
						conv.Reply("echo: " + m.Text())
						return nil
					}
					if c.add(process, m.ID) == 1 {
						started <- process
						select {
						case <-release:
						case <-ctx.Done():
							return ctx.Err()
						}
						conv.Reply("stale answer")
						return nil
					}
					conv.Reply("fresh answer")
					return nil
				})
				return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza"}, Handler: h}}
			}
			f := twoProcesses(t, d, withBots(bots))
			room := "!dm:example.org"
			f.dm(t, room, alice, "Alice", botID)
			order := fakehs.Message(room, alice, "order")
			f.deliver(t, order)
			var stalled int
			select {
			case stalled = <-started:
			case <-time.After(waitLimit):
				t.Fatal("the handler never ran")
			}
			// The stalled process's lease runs out.
			if _, err := f.db.ExecContext(context.Background(), `UPDATE room_lease SET expires_at = 0 WHERE queue = 'inbox' AND room_id = $1`, room); err != nil {
				t.Fatal(err)
			}
			if got := bodies(f.waitSends(t, room, 1)); got[0] != "fresh answer" {
				t.Fatalf("replies %q", got)
			}
			c.mu.Lock()
			other := c.byProc[1-stalled]
			c.mu.Unlock()
			if other != 1 {
				t.Fatalf("the other process ran the handler %d times, want 1", other)
			}
			close(release)
			f.deliver(t, fakehs.Message(room, alice, "next"))
			got := bodies(f.waitSends(t, room, 2))
			if strings.Join(got, "|") != "fresh answer|echo: next" {
				t.Fatalf("replies %q: the stalled process's answer must not be sent", got)
			}
			if n := f.outboxCount(t, room); n != 2 {
				t.Fatalf("%d replies queued, want 2", n)
			}
			if st := f.inbox(t, evID(order)); st.status != "done" {
				t.Fatalf("order event %+v", st)
			}
		})
	}
}

func open(t *testing.T, uri string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
