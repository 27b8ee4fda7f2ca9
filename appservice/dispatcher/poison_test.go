package dispatcher_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// In this file, service code other than the handler call panics, or an
// event takes the process down: the process keeps serving, the event is
// parked after max_attempts with the customer told, and it never takes a
// restarted process down again.

// fragile is a service whose commit code, erasure or room filter panics
// on demand, and echoes otherwise.
type fragile struct {
	c *calls
	// watchPanics makes Watches panic for that room.
	watchPanics id.RoomID
}

func (f *fragile) Handle(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
	f.c.add(0, m.ID)
	switch m.Text() {
	case "commit panic":
		conv.Reply("half a reply")
		conv.OnCommit(func(ctx context.Context, tx *sql.Tx) error { panic("order table exploded") })
		return nil
	}
	conv.Reply("echo: " + m.Text())
	return nil
}

func (f *fragile) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	panic("erasure exploded")
}

func (f *fragile) Watches(room id.RoomID) bool {
	if room == f.watchPanics {
		panic("watch list exploded")
	}
	return false
}

func (f *fragile) Welcome(ctx context.Context, conv *handlers.Conversation) error {
	if conv.Room == "!welcome-panics:example.org" {
		panic("welcome exploded")
	}
	conv.Notice("Welcome!")
	return nil
}

func fragileFlow(t *testing.T, db *store.DB, fr *fragile) *flow {
	return startFlow(t, db, withBots(func(int) []*dispatcher.Bot {
		return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza"}, Handler: fr}}
	}), withOptions(func(o *dispatcher.Options) {
		o.MaxAttempts = 3
		o.RetryBase = 5 * time.Millisecond
		o.RetryMax = 20 * time.Millisecond
	}))
}

// checkParkedWithApology asserts the event was tried max attempts, then
// parked with the cause, and the customer got the apology (only) for it.
func checkParkedWithApology(t *testing.T, f *flow, sends []fakehs.Sent, eventID, cause string, attempts int) {
	t.Helper()
	st := f.inbox(t, eventID)
	if st.status != "parked" || st.attempts != attempts || !strings.Contains(st.lastError, cause) {
		t.Fatalf("event %s: %+v, want parked after %d attempts with %q", eventID, st, attempts, cause)
	}
	var apologies []fakehs.Sent
	for _, s := range sends {
		if strings.HasPrefix(bodies([]fakehs.Sent{s})[0], "Sorry") {
			apologies = append(apologies, s)
		}
		if strings.Contains(bodies([]fakehs.Sent{s})[0], "half a reply") {
			t.Fatalf("the failed turn's reply was sent: %q", bodies(sends))
		}
	}
	if len(apologies) != 1 {
		t.Fatalf("sends %q: want exactly one apology", bodies(sends))
	}
	checkApology(t, f, apologies[0], eventID, cause)
}

func TestPanickingOnCommitIsRetriedThenParked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fr := &fragile{c: newCalls()}
		f := fragileFlow(t, db, fr)
		room, other := "!dm:example.org", "!dm2:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.dm(t, other, bob, "Bob", botID)
		poison := fakehs.Message(room, alice, "commit panic")
		f.deliver(t, poison, fakehs.Message(other, bob, "meanwhile"))
		f.waitReply(t, other, "echo: meanwhile")
		f.deliver(t, fakehs.Message(room, alice, "next"))
		sends := f.waitReply(t, room, "echo: next")
		if n := fr.c.of(evID(poison)); n != 3 {
			t.Fatalf("handler ran %d times for an event whose commit panics, want max_attempts=3", n)
		}
		checkParkedWithApology(t, f, sends, evID(poison), "order table exploded", 3)
		if got := bodies(sends); len(got) != 3 || got[2] != "echo: next" {
			t.Fatalf("replies %q: want the welcome, the apology, then the next reply", got)
		}
	})
}

func TestPanickingForgetterIsParkedAndNothingErased(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fr := &fragile{c: newCalls()}
		f := fragileFlow(t, db, fr)
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.deliver(t, fakehs.Message(room, alice, "forget me"))
		f.waitSends(t, room, 4) // the welcome, the question and its two reactions
		yes := fakehs.Message(room, alice, "1")
		f.deliver(t, yes, fakehs.Message(room, alice, "still there?"))
		sends := f.waitReply(t, room, "echo: still there?")
		checkParkedWithApology(t, f, sends, evID(yes), "erasure exploded", 3)
		for _, b := range bodies(sends) {
			if strings.HasPrefix(b, "Done: I have erased") {
				t.Fatalf("replies %q: the erasure was announced although it failed", bodies(sends))
			}
		}
	})
}

func TestPanickingWatchesIsParkedAndOtherRoomsFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		staff := id.RoomID("!staff:example.org")
		fr := &fragile{c: newCalls(), watchPanics: staff}
		f := fragileFlow(t, db, fr)
		f.hs.SetMembers(staff.String(), map[string]string{alice: "Alice", bob: "Bob", botID.String(): "Pizza"})
		inv := fakehs.Invite(staff.String(), alice, botID.String(), false)
		f.deliver(t, inv)
		f.waitHandled(t, evID(inv))
		dm := "!dm:example.org"
		f.dm(t, dm, carol, "Carol", botID)
		poison := fakehs.Message(staff.String(), bob, "!orders")
		f.deliver(t, poison, fakehs.Message(dm, carol, "hello"))
		f.waitReply(t, dm, "echo: hello")
		f.waitHandled(t, evID(poison))
		st := f.inbox(t, evID(poison))
		if st.status != "parked" || st.attempts != 3 || !strings.Contains(st.lastError, "watch list exploded") {
			t.Fatalf("staff room event %+v, want parked after 3 attempts", st)
		}
	})
}

func TestPanickingWelcomeStillJoins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fr := &fragile{c: newCalls()}
		f := fragileFlow(t, db, fr)
		room := "!welcome-panics:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		inv := fakehs.Invite(room, alice, botID.String(), true)
		f.deliver(t, inv, fakehs.Message(room, alice, "hi"))
		sends := f.waitReply(t, room, "echo: hi")
		if got := bodies(sends); len(got) != 2 || !strings.HasPrefix(got[0], "Sorry") {
			t.Fatalf("replies %q: want an apology for the failed welcome, then the reply", got)
		}
		if j := f.hs.Joins(); len(j) != 1 {
			t.Fatalf("joins %v", j)
		}
	})
}

// An event that kills the process while it is handled (kill -9, out of
// memory, a fatal runtime error no recover catches) must not kill every
// process that picks it up after. Here a "dead" process is one whose
// handler never comes back and never writes again; the lease it held
// runs out and another process takes the room. The process that takes
// the room over counts the attempt the dead one was making, so after
// MaxDeaths deaths the next process parks the event, without running it,
// and tells the customer.
func TestEventThatKillsProcessesIsParkedAfterMaxAttempts(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			c := newCalls()
			died := make(chan int, 8)
			var stop sync.Once
			freeze := make(chan struct{})
			t.Cleanup(func() { stop.Do(func() { close(freeze) }) })
			bots := func(process int) []*dispatcher.Bot {
				h := handlers.HandlerFunc(func(ctx context.Context, conv *handlers.Conversation, m *handlers.Message) error {
					c.add(process, m.ID)
					if m.Text() == "poison" {
						died <- process
						select { // this process is gone (until the test ends)
						case <-freeze:
						case <-ctx.Done():
						}
						return ctx.Err()
					}
					conv.Reply("echo: " + m.Text())
					return nil
				})
				return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza"}, Handler: h}}
			}
			uri := storetest.URI(t, d)
			first := open(t, uri)
			if _, _, err := first.Upgrade(context.Background()); err != nil {
				t.Fatal(err)
			}
			second, third := open(t, uri), open(t, uri)
			for _, db := range []*store.DB{second, third} {
				if err := db.Prepare(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			f := startFlow(t, first, withBots(bots), withProcesses(second, third), withOptions(func(o *dispatcher.Options) {
				o.MaxAttempts = 2
				o.MaxDeaths = 2
				o.HandlerTimeout = 10 * waitLimit
			}))
			room := "!dm:example.org"
			f.dm(t, room, alice, "Alice", botID)
			poison := fakehs.Message(room, alice, "poison")
			f.deliver(t, poison, fakehs.Message(room, alice, "after"))
			for death := 1; death <= 2; death++ {
				select {
				case <-died:
				case <-time.After(waitLimit):
					t.Fatalf("death %d never came", death)
				}
				// Deaths before this one were counted by the processes
				// that took the room over.
				if st := f.inbox(t, evID(poison)); st.attempts != death-1 || st.status != "pending" {
					t.Fatalf("at death %d the event is %+v, want %d deaths counted", death, st, death-1)
				}
				// The dead process's lease runs out.
				if _, err := f.db.ExecContext(context.Background(), `UPDATE room_lease SET expires_at = 0 WHERE queue = 'inbox' AND room_id = $1`, room); err != nil {
					t.Fatal(err)
				}
			}
			sends := f.waitReply(t, room, "echo: after")
			if n := c.of(evID(poison)); n != 2 {
				t.Fatalf("the poison event ran %d times, want MaxDeaths=2", n)
			}
			got := bodies(sends)
			if len(got) != 2 || !strings.HasPrefix(got[0], "Sorry") {
				t.Fatalf("replies %q: want an apology for the lost message, then the reply", got)
			}
			checkApology(t, f, sends[0], evID(poison), "process died")
			if st := f.inbox(t, evID(poison)); st.status != "parked" {
				t.Fatalf("poison event %+v", st)
			}
		})
	}
}

// A customer's vote on the bot's poll whose routing keeps panicking is
// parked like a typed answer, and the customer is told: whichever poll
// response type their client sends (Element's unstable one or the stable
// one of Matrix 1.7), a vote must not vanish in silence.
func TestPanickingPollVoteIsParkedWithApology(t *testing.T) {
	for _, typ := range []string{"org.matrix.msc3381.poll.response", "m.poll.response"} {
		t.Run(typ, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				room := "!dm:example.org"
				fr := &fragile{c: newCalls(), watchPanics: id.RoomID(room)}
				f := fragileFlow(t, db, fr)
				f.dm(t, room, alice, "Alice", botID)
				poll := f.waitSends(t, room, 1)[0] // the welcome stands in for the bot's poll
				content := map[string]any{
					"m.relates_to": map[string]any{"rel_type": "m.reference", "event_id": poll.EventID},
				}
				if typ == "m.poll.response" {
					content["m.selections"] = []string{"1"}
				} else {
					content[typ] = map[string]any{"answers": []string{"1"}}
				}
				vote := fakehs.Message(room, alice, "")
				vote["type"], vote["content"] = typ, content
				f.deliver(t, vote)
				f.waitHandled(t, evID(vote))
				// Parking and its apology commit together: no wait needed.
				if n := f.outboxCount(t, room); n != 2 {
					t.Fatalf("room has %d replies queued, want the welcome and the apology", n)
				}
				sends := f.waitSends(t, room, 2)
				checkParkedWithApology(t, f, sends, evID(vote), "watch list exploded", 3)
			})
		})
	}
}
