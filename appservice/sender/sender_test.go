package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	asToken = "as_token_0123456789abcdef0123456789abcdef"
	bot     = "@pizza:example.org"
	room    = "!dm:example.org"

	waitLimit = 60 * time.Second // deadlock guard, not a speed expectation
)

func fastOptions() sender.Options {
	return sender.Options{Workers: 4, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond, MaxBackoff: time.Second}
}

// run starts a sender on db against hs; the returned stop (also run at
// cleanup) cancels it and waits until it returned, like a process exiting.
func run(t *testing.T, db *store.DB, hs *fakehs.HS, opts sender.Options) (stop func()) {
	t.Helper()
	return runOn(t, db, func(c *hsclient.Client) sender.Transport { return c }, hs, opts)
}

// runOn is run with the transport wrap makes of the client.
func runOn(t *testing.T, db *store.DB, wrap func(*hsclient.Client) sender.Transport, hs *fakehs.HS, opts sender.Options) (stop func()) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	cli, err := hsclient.New(hs.URL(), asToken, 4, log)
	if err != nil {
		t.Fatal(err)
	}
	s := sender.New(db, wrap(cli), opts, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func newHS(t *testing.T) *fakehs.HS {
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	return hs
}

func text(r, body string) store.OutgoingEvent {
	c, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": body})
	return store.OutgoingEvent{RoomID: r, BotUserID: bot, Type: "m.room.message", Content: c, ParentIndex: -1}
}

func queue(t *testing.T, db *store.DB, evs ...store.OutgoingEvent) []int64 {
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

type rowState struct {
	status, lastError, eventID string
	attempts                   int
}

func row(t *testing.T, db *store.DB, id int64) rowState {
	t.Helper()
	var s rowState
	err := db.QueryRowContext(context.Background(), `SELECT status, last_error, event_id, attempts FROM outbox WHERE id = $1`, id).
		Scan(&s.status, &s.lastError, &s.eventID, &s.attempts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitDone waits until none of the rows is pending.
func waitDone(t *testing.T, db *store.DB, hs *fakehs.HS, ids ...int64) {
	t.Helper()
	if !hs.WaitFor(waitLimit, func() bool {
		for _, id := range ids {
			if row(t, db, id).status == "pending" {
				return false
			}
		}
		return true
	}) {
		for _, id := range ids {
			t.Logf("row %d: %+v", id, row(t, db, id))
		}
		t.Fatal("rows still pending")
	}
}

func bodies(sends []fakehs.Sent) []string {
	var out []string
	for _, s := range sends {
		b, _ := s.Content["body"].(string)
		out = append(out, b)
	}
	return out
}

// failTxns answers the first n attempts of the given txn ids with f.
func failTxns(db *store.DB, f fakehs.Failure, n int, ids ...int64) func(user, room, txn string, attempt int) *fakehs.Failure {
	txns := map[string]bool{}
	for _, id := range ids {
		txns[db.MatrixTxnID(id)] = true
	}
	return func(user, room, txn string, attempt int) *fakehs.Failure {
		if txns[txn] && attempt <= n {
			return &f
		}
		return nil
	}
}

func TestSendsEachRoomInOrderAsTheBot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		run(t, db, hs, fastOptions())
		var ids []int64
		for i := 0; i < 3; i++ {
			ids = append(ids, queue(t, db, text("!a:example.org", "a"+string(rune('1'+i))), text("!b:example.org", "b"+string(rune('1'+i))))...)
		}
		waitDone(t, db, hs, ids...)
		for _, r := range []string{"!a:example.org", "!b:example.org"} {
			sends := hs.SendsTo(r)
			p := r[1:2]
			if got := strings.Join(bodies(sends), ","); got != p+"1,"+p+"2,"+p+"3" {
				t.Fatalf("room %s got %s", r, got)
			}
		}
		byTxn := map[string]fakehs.Sent{}
		for _, s := range hs.Sends() {
			byTxn[s.TxnID] = s
		}
		for _, id := range ids {
			s, ok := byTxn[db.MatrixTxnID(id)]
			if !ok {
				t.Fatalf("row %d was not sent under its txn id %s", id, db.MatrixTxnID(id))
			}
			if s.User != bot || s.Type != "m.room.message" {
				t.Fatalf("row %d sent as %s type %s", id, s.User, s.Type)
			}
			if st := row(t, db, id); st.status != "sent" || st.eventID != s.EventID || st.attempts != 0 {
				t.Fatalf("row %d: %+v, want sent with event id %s, no failed attempt", id, st, s.EventID)
			}
		}
	})
}

func TestRateLimitIsRetriedAfterTheAskedWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail fakehs.Failure
		wait time.Duration
	}{
		{"retry_after_ms", fakehs.Failure{Status: 429, Errcode: "M_LIMIT_EXCEEDED", RetryAfterMS: 300}, 300 * time.Millisecond},
		{"Retry-After header", fakehs.Failure{Status: 429, Errcode: "M_LIMIT_EXCEEDED", RetryAfter: "1"}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				hs := newHS(t)
				var mu sync.Mutex
				var at []time.Time
				hs.SetOnSend(func(user, room, txn string, attempt int) *fakehs.Failure {
					mu.Lock()
					defer mu.Unlock()
					at = append(at, time.Now())
					if attempt == 1 {
						return &tc.fail
					}
					return nil
				})
				run(t, db, hs, fastOptions())
				ids := queue(t, db, text(room, "hello"))
				waitDone(t, db, hs, ids...)
				if st := row(t, db, ids[0]); st.status != "sent" || st.attempts != 1 {
					t.Fatalf("row %+v, want sent on the second attempt (one failed)", st)
				}
				if n := len(hs.Sends()); n != 1 {
					t.Fatalf("%d events, want 1", n)
				}
				mu.Lock()
				defer mu.Unlock()
				// Retrying sooner than asked only earns another 429.
				if gap := at[1].Sub(at[0]); gap < tc.wait-5*time.Millisecond {
					t.Fatalf("retried after %v; the homeserver asked for %v", gap, tc.wait)
				}
			})
		})
	}
}

func TestServerErrorsAndNetworkFailuresAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail fakehs.Failure
	}{
		{"500", fakehs.Failure{Status: 500, Errcode: "M_UNKNOWN"}},
		{"502", fakehs.Failure{Status: 502}},
		{"connection dropped", fakehs.Failure{Disconnect: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				hs := newHS(t)
				ids := queue(t, db, text(room, "one"), text(room, "two"))
				hs.SetOnSend(failTxns(db, tc.fail, 2, ids[0]))
				run(t, db, hs, fastOptions())
				waitDone(t, db, hs, ids...)
				if st := row(t, db, ids[0]); st.status != "sent" || st.attempts != 2 {
					t.Fatalf("row %+v, want sent on the third attempt (two failed)", st)
				}
				if n := hs.TxnRequests(bot, db.MatrixTxnID(ids[0])); n != 3 {
					t.Fatalf("%d requests, want 3", n)
				}
				if got := strings.Join(bodies(hs.Sends()), ","); got != "one,two" {
					t.Fatalf("sent %s: want each once, in order", got)
				}
			})
		})
	}
}

func TestRefusedRowIsFailedAndTheRoomMovesOn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		ids := queue(t, db, text(room, "forbidden"), text(room, "bad"), text(room, "fine"))
		forbidden := failTxns(db, fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN"}, 99, ids[0])
		bad := failTxns(db, fakehs.Failure{Status: 400, Errcode: "M_BAD_JSON"}, 99, ids[1])
		hs.SetOnSend(func(user, room, txn string, attempt int) *fakehs.Failure {
			if f := forbidden(user, room, txn, attempt); f != nil {
				return f
			}
			return bad(user, room, txn, attempt)
		})
		run(t, db, hs, fastOptions())
		waitDone(t, db, hs, ids...)
		for i, want := range []string{"403 M_FORBIDDEN", "400 M_BAD_JSON"} {
			st := row(t, db, ids[i])
			if st.status != "failed" || !strings.Contains(st.lastError, want) || st.attempts != 1 {
				t.Fatalf("row %d: %+v, want failed at once with %q", ids[i], st, want)
			}
			if n := hs.TxnRequests(bot, db.MatrixTxnID(ids[i])); n != 1 {
				t.Fatalf("refused row tried %d times", n)
			}
		}
		if got := bodies(hs.Sends()); len(got) != 1 || got[0] != "fine" {
			t.Fatalf("sent %q", got)
		}
		if st := row(t, db, ids[2]); st.status != "sent" {
			t.Fatalf("row after the refused ones: %+v", st)
		}
	})
}

// Defect 8: a homeserver down for "an hour" (far more failed attempts than
// the old limit of 12, with every kind of temporary failure) loses no
// reply: when it is back, every reply goes out once, in order per room.
func TestOutageOfAnHourLosesNoReply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		outage := []fakehs.Failure{
			{Status: 502},
			{Disconnect: true},
			{Status: 429, Errcode: "M_LIMIT_EXCEEDED", RetryAfterMS: 1},
			{Status: 503, Errcode: "M_UNKNOWN"},
			{Status: 401, Errcode: "M_UNKNOWN_TOKEN"}, // registration being reloaded
			{Status: 403, Errcode: "M_FORBIDDEN", Error: "Application service has not registered this user (@pizza:example.org)"},
			{Status: 500, Errcode: "M_UNKNOWN"},
		}
		const downFor = 40 // failed attempts per reply at the head of its room, ≫ the old 12
		var mu sync.Mutex
		failures := map[string]int{}
		hs.SetOnSend(func(user, room, txn string, attempt int) *fakehs.Failure {
			mu.Lock()
			defer mu.Unlock()
			if failures[room] >= downFor {
				return nil // the homeserver is back for this room
			}
			f := outage[failures[room]%len(outage)]
			failures[room]++
			return &f
		})
		opts := fastOptions()
		opts.RetryBase, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
		run(t, db, hs, opts)
		rooms := []string{"!a:example.org", "!b:example.org", "!c:example.org"}
		var ids []int64
		for i := 1; i <= 3; i++ {
			for _, r := range rooms {
				ids = append(ids, queue(t, db, text(r, fmt.Sprintf("%s%d", r[1:2], i)))...)
			}
		}
		waitDone(t, db, hs, ids...)
		for _, id := range ids {
			if st := row(t, db, id); st.status != "sent" {
				t.Fatalf("row %d: %+v, want sent after the outage", id, st)
			}
		}
		for _, r := range rooms {
			p := r[1:2]
			if got := strings.Join(bodies(hs.SendsTo(r)), ","); got != p+"1,"+p+"2,"+p+"3" {
				t.Fatalf("room %s got %s: want each reply once, in order", r, got)
			}
		}
		if st := row(t, db, ids[0]); st.attempts <= 12 {
			t.Fatalf("first reply took %d attempts; the outage was meant to outlast the old limit of 12", st.attempts)
		}
	})
}

// noFinder is a transport that cannot look up earlier deliveries, so the
// txn id is all that keeps a resend from duplicating a reply.
type noFinder struct{ c *hsclient.Client }

func (n noFinder) Send(ctx context.Context, bot id.UserID, room id.RoomID, typ, txn string, content json.RawMessage) (id.EventID, error) {
	return n.c.Send(ctx, bot, room, typ, txn, content)
}

// A reply the homeserver accepted but the sender never recorded (the
// process died between the two) is not shown twice after a restart: the
// sender finds the earlier delivery, or, when it cannot look, resends it
// under the same txn id and the homeserver keeps one event.
func TestCrashAfterSendDoesNotDuplicate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		find     bool
		requests int
	}{
		{"earlier delivery found", true, 1},
		{"txn id only", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				hs := newHS(t)
				ids := queue(t, db, text(room, "exactly once"))
				txn := db.MatrixTxnID(ids[0])
				stop := run(t, db, hs, fastOptions())
				waitDone(t, db, hs, ids...)
				first := row(t, db, ids[0])
				stop()
				// The crash: the send happened, its result was never
				// recorded, and the dead process's lease on the room runs
				// out instead of being given back.
				crashed(t, db, room, ids[0])
				if tc.find {
					run(t, db, hs, fastOptions())
				} else {
					runOn(t, db, func(c *hsclient.Client) sender.Transport { return noFinder{c} }, hs, fastOptions())
				}
				waitDone(t, db, hs, ids...)
				if n := hs.TxnRequests(bot, txn); n != tc.requests {
					t.Fatalf("txn %s requested %d times, want %d", txn, n, tc.requests)
				}
				if n := hs.Count(fakehs.EndpointSend); n != tc.requests {
					t.Fatalf("%d send requests in all, want %d: a resend used another txn id", n, tc.requests)
				}
				if sends := hs.Sends(); len(sends) != 1 || sends[0].TxnID != txn {
					t.Fatalf("homeserver events %+v, want one under %s", sends, txn)
				}
				if st := row(t, db, ids[0]); st.status != "sent" || st.eventID != first.eventID {
					t.Fatalf("after the restart %+v, want sent with the first event id %s", st, first.eventID)
				}
			})
		})
	}
}

// crashed makes db look as a process that died while sending rows ids of
// room leaves it: the rows pending (their sends may have reached the
// homeserver, their outcome was never recorded) and the room's outbox
// lease held by the dead process, expired.
func crashed(t *testing.T, db *store.DB, room string, ids ...int64) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		if _, err := db.ExecContext(ctx, `UPDATE outbox SET status = 'pending', event_id = '', sent_at = NULL WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ('outbox', $1, 'send-dead-1', 0)`, room); err != nil {
		t.Fatal(err)
	}
}

// No attempt is recorded before a send. A process that dies with a room's
// queue half sent leaves the reply it was sending (delivered) and the
// next one (never sent) alike, pending with no attempt counted: the sender
// that takes the room over counts one for both, finds the first among
// the bot's events instead of sending it again and sends the second once.
func TestRepliesOfADeadSenderAreSentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		ids := queue(t, db, text(room, "first"), text(room, "second"))
		stop := run(t, db, hs, fastOptions())
		waitDone(t, db, hs, ids...)
		stop()
		second := row(t, db, ids[1])
		// The death: the second reply was sent, its record and the third
		// reply's send never happened.
		ids = append(ids, queue(t, db, text(room, "third"))...)
		crashed(t, db, room, ids[1])
		run(t, db, hs, fastOptions())
		waitDone(t, db, hs, ids...)
		for _, id := range ids[1:] {
			if n := hs.TxnRequests(bot, db.MatrixTxnID(id)); n != 1 {
				t.Fatalf("txn of row %d requested %d times, want once", id, n)
			}
		}
		if got := bodies(hs.Sends()); strings.Join(got, ",") != "first,second,third" {
			t.Fatalf("homeserver has %q, want each reply once, in order", got)
		}
		if st := row(t, db, ids[1]); st.status != "sent" || st.eventID != second.eventID {
			t.Fatalf("second row %+v, want sent with the event id of its first delivery %s", st, second.eventID)
		}
	})
}

func TestLostResponseIsFoundNotResent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		ids := queue(t, db, text(room, "exactly once"), text(room, "next"))
		hs.SetOnSend(failTxns(db, fakehs.Failure{LoseResponse: true}, 1, ids[0]))
		run(t, db, hs, fastOptions())
		waitDone(t, db, hs, ids...)
		// The sender looks for the first delivery (by the txn id stamped
		// in its content) before resending, and finds it.
		if n := hs.TxnRequests(bot, db.MatrixTxnID(ids[0])); n != 1 {
			t.Fatalf("%d send requests, want 1 (the lost one, found afterwards)", n)
		}
		sends := hs.Sends()
		if got := strings.Join(bodies(sends), ","); got != "exactly once,next" {
			t.Fatalf("homeserver has %s", got)
		}
		if st := row(t, db, ids[0]); st.status != "sent" || st.eventID != sends[0].EventID {
			t.Fatalf("row %+v, want the event id the homeserver gave the first time (%s)", st, sends[0].EventID)
		}
	})
}

func reaction(key string, parent int) store.OutgoingEvent {
	c, _ := json.Marshal(map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "key": key}})
	return store.OutgoingEvent{RoomID: room, BotUserID: bot, Type: "m.reaction", Content: c, ParentIndex: parent}
}

func TestReactionsPointAtTheirParent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		run(t, db, hs, fastOptions())
		ids := queue(t, db, text(room, "1. Margherita\n2. Diavola"), reaction("1️⃣", 0), reaction("2️⃣", 0))
		waitDone(t, db, hs, ids...)
		sends := hs.SendsTo(room)
		if len(sends) != 3 {
			t.Fatalf("%d sends", len(sends))
		}
		for i, key := range []string{"1️⃣", "2️⃣"} {
			s := sends[i+1]
			rel, _ := s.Content["m.relates_to"].(map[string]any)
			if s.Type != "m.reaction" || rel["event_id"] != sends[0].EventID || rel["rel_type"] != "m.annotation" || rel["key"] != key {
				t.Fatalf("reaction %d: type %s relates_to %v, want an annotation %s on %s", i, s.Type, rel, key, sends[0].EventID)
			}
		}
	})
}

func TestReactionOnAFailedMessageFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		ids := queue(t, db, text(room, "menu"), reaction("1️⃣", 0))
		after := queue(t, db, text(room, "after"))
		hs.SetOnSend(failTxns(db, fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN"}, 99, ids[0]))
		run(t, db, hs, fastOptions())
		waitDone(t, db, hs, append(ids, after...)...)
		st := row(t, db, ids[1])
		if st.status != "failed" || !strings.Contains(st.lastError, "not sent") {
			t.Fatalf("reaction row %+v, want failed because its message was not sent", st)
		}
		if n := hs.TxnRequests(bot, db.MatrixTxnID(ids[1])); n != 0 {
			t.Fatalf("a reaction without its message was sent %d times", n)
		}
		if got := bodies(hs.Sends()); len(got) != 1 || got[0] != "after" {
			t.Fatalf("sent %q", got)
		}
	})
}

// Defect 10: a homeserver that hangs on some rooms' sends. Each request has
// its own timeout, so the hung rooms do not hold every worker and the other
// rooms get their replies; each hung attempt is recorded (counted, with
// its reason and a retry time), and once the homeserver answers again the
// hung replies go out once, in order.
func TestHungSendsDoNotStarveOtherRooms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := newHS(t)
		var mu sync.Mutex
		hung := map[string]bool{}
		hanging := true
		hs.SetOnSend(func(user, room, txn string, attempt int) *fakehs.Failure {
			mu.Lock()
			defer mu.Unlock()
			if hanging && hung[room] {
				return &fakehs.Failure{Hang: true}
			}
			return nil
		})
		opts := fastOptions()
		opts.Workers = 2
		opts.RequestTimeout = 200 * time.Millisecond
		opts.RetryBase, opts.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
		run(t, db, hs, opts)

		// More hung rooms than workers, queued first (oldest work is
		// handed out first).
		var hungIDs, okIDs []int64
		for i := 0; i < 4; i++ {
			r := fmt.Sprintf("!hung%d:example.org", i)
			mu.Lock()
			hung[r] = true
			mu.Unlock()
			hungIDs = append(hungIDs, queue(t, db, text(r, "h1"), text(r, "h2"))...)
		}
		for i := 0; i < 6; i++ {
			okIDs = append(okIDs, queue(t, db, text(fmt.Sprintf("!ok%d:example.org", i), "fine"))...)
		}
		// Bounded well under the old shared 30 s deadline, during which
		// the hung sends held both workers.
		if !hs.WaitFor(15*time.Second, func() bool {
			for _, id := range okIDs {
				if row(t, db, id).status != "sent" {
					return false
				}
			}
			return true
		}) {
			t.Fatal("rooms that answer got no reply while other rooms hung")
		}
		// The hung heads are pending, with their attempts and reason recorded.
		for i := 0; i < len(hungIDs); i += 2 {
			if !hs.WaitFor(waitLimit, func() bool {
				st := row(t, db, hungIDs[i])
				return st.attempts >= 1 && st.lastError != ""
			}) {
				t.Fatalf("hung row %d: %+v, want its attempt recorded", hungIDs[i], row(t, db, hungIDs[i]))
			}
			st := row(t, db, hungIDs[i])
			if st.status != "pending" || !strings.Contains(st.lastError, "no answer from the homeserver within 200ms") {
				t.Fatalf("hung row %d: %+v, want pending with the timeout as reason", hungIDs[i], st)
			}
		}
		mu.Lock()
		hanging = false
		mu.Unlock()
		waitDone(t, db, hs, hungIDs...)
		for i := 0; i < 4; i++ {
			r := fmt.Sprintf("!hung%d:example.org", i)
			if got := strings.Join(bodies(hs.SendsTo(r)), ","); got != "h1,h2" {
				t.Fatalf("room %s got %s: want each reply once, in order", r, got)
			}
		}
		for _, id := range append(hungIDs, okIDs...) {
			if st := row(t, db, id); st.status != "sent" {
				t.Fatalf("row %d: %+v", id, st)
			}
		}
	})
}
