package dispatcher_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	asToken  = "as_token_0123456789abcdef0123456789abcdef"
	hsToken  = "hs_token_0123456789abcdef0123456789abcdef"
	botID    = id.UserID("@pizza:example.org")
	senderID = id.UserID("@bizbots:example.org")
	alice    = "@alice:example.org"
	bob      = "@bob:example.org"
	carol    = "@carol:example.org"

	// waitLimit bounds every wait for the flow; it is a deadlock guard,
	// not an expectation of speed.
	waitLimit = 60 * time.Second
)

// flowConfig is what startFlow builds; flowOptions change it.
type flowConfig struct {
	bots     func(process int) []*dispatcher.Bot
	opts     dispatcher.Options
	extraDBs []*store.DB
	users    func(hs *fakehs.HS, db *store.DB) dispatcher.Registrar
	upcoming func(ctx context.Context, uid id.UserID) (bool, error)
}

// withRegistrar gives each process's dispatcher a registrar of bot users.
func withRegistrar(users func(hs *fakehs.HS, db *store.DB) dispatcher.Registrar) flowOption {
	return func(c *flowConfig) { c.users = users }
}

type flowOption func(*flowConfig)

// withUpcoming tells the dispatchers which users are bots being added.
func withUpcoming(fn func(ctx context.Context, uid id.UserID) (bool, error)) flowOption {
	return func(c *flowConfig) { c.upcoming = fn }
}

// withBots replaces the default echo bot. bots is called once per process
// so a test can tell which process ran a handler.
func withBots(bots func(process int) []*dispatcher.Bot) flowOption {
	return func(c *flowConfig) { c.bots = bots }
}

// withOptions tunes the dispatchers.
func withOptions(fn func(o *dispatcher.Options)) flowOption {
	return func(c *flowConfig) { fn(&c.opts) }
}

// withProcesses runs one more bizbots "process" (intake, dispatcher and
// sender with their own owner ids and connection pool) per database
// handle, all on the same database.
func withProcesses(dbs ...*store.DB) flowOption {
	return func(c *flowConfig) { c.extraDBs = append(c.extraDBs, dbs...) }
}

// echoBot is the default bot: it echoes with "echo: " and welcomes.
func echoBot(welcome string) *dispatcher.Bot {
	return &dispatcher.Bot{UserID: botID, Config: config.Bot{Localpart: "pizza", Welcome: welcome},
		Handler: echo.New(echo.Config{Prefix: "echo: "})}
}

// flow runs intake, dispatcher and sender in process against a fake
// homeserver.
type flow struct {
	hs     *fakehs.HS
	asURL  string   // the first process's intake
	asURLs []string // every process's intake
	db     *store.DB
	disps  []*dispatcher.Dispatcher // every process's dispatcher
	txns   atomic.Int64
}

func startFlow(t *testing.T, db *store.DB, options ...flowOption) *flow {
	t.Helper()
	cfg := flowConfig{
		bots: func(int) []*dispatcher.Bot { return []*dispatcher.Bot{echoBot("Welcome to Pizza!")} },
		opts: dispatcher.Options{Workers: 4, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond},
	}
	for _, o := range options {
		o(&cfg)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	f := &flow{hs: hs, db: db}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, pdb := range append([]*store.DB{db}, cfg.extraDBs...) {
		plog := log.With().Int("process", i).Logger()
		cli, err := hsclient.New(hs.URL(), asToken, 4, plog)
		if err != nil {
			t.Fatal(err)
		}
		disp := dispatcher.New(pdb, cfg.bots(i), senderID, cli, cfg.opts, plog)
		snd := sender.New(pdb, cli, sender.Options{Workers: 4, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond, MaxBackoff: time.Second}, plog)
		disp.OnOutbox = snd.WakeRooms
		if cfg.users != nil {
			disp.Users = cfg.users(hs, pdb)
		}
		if cfg.upcoming != nil {
			disp.Upcoming = cfg.upcoming
		}
		f.disps = append(f.disps, disp)
		srv := httptest.NewServer(&appservice.Server{DB: pdb, HSToken: hsToken, MaxBodyBytes: 1 << 20, Stored: disp.WakeRooms, Log: plog})
		t.Cleanup(srv.Close)
		f.asURLs = append(f.asURLs, srv.URL)
		wg.Add(2)
		go func() { defer wg.Done(); _ = disp.Run(ctx) }()
		go func() { defer wg.Done(); _ = snd.Run(ctx) }()
	}
	f.asURL = f.asURLs[0]
	t.Cleanup(func() { cancel(); wg.Wait() })
	return f
}

func (f *flow) push(t *testing.T, txn string, events ...map[string]any) {
	t.Helper()
	f.pushTo(t, 0, txn, events...)
}

// pushTo delivers a transaction to process i's intake.
func (f *flow) pushTo(t *testing.T, i int, txn string, events ...map[string]any) {
	t.Helper()
	status, err := fakehs.Push(context.Background(), f.asURLs[i], hsToken, txn, events)
	if err != nil || status != 200 {
		t.Fatalf("push %s: status %d, err %v", txn, status, err)
	}
}

// deliver pushes events in a transaction of their own.
func (f *flow) deliver(t *testing.T, events ...map[string]any) {
	t.Helper()
	f.push(t, fmt.Sprintf("auto%d", f.txns.Add(1)), events...)
}

// waitSends waits until room has at least n accepted sends and returns them.
func (f *flow) waitSends(t *testing.T, room string, n int) []fakehs.Sent {
	t.Helper()
	if !f.hs.WaitFor(waitLimit, func() bool { return len(f.hs.SendsTo(room)) >= n }) {
		t.Fatalf("room %s: %d sends, want %d: %q", room, len(f.hs.SendsTo(room)), n, bodies(f.hs.SendsTo(room)))
	}
	return f.hs.SendsTo(room)
}

// waitReply waits until room has a send with body last (the answer to
// the last message a test sent) and returns all the room's sends. Rooms are
// handled and sent in order, so everything before it has had its turn.
func (f *flow) waitReply(t *testing.T, room, last string) []fakehs.Sent {
	t.Helper()
	has := func() bool {
		for _, b := range bodies(f.hs.SendsTo(room)) {
			if b == last {
				return true
			}
		}
		return false
	}
	if !f.hs.WaitFor(waitLimit, has) {
		t.Fatalf("room %s: no reply %q; sends %q", room, last, bodies(f.hs.SendsTo(room)))
	}
	return f.hs.SendsTo(room)
}

// waitHandled waits until none of the events is pending in the inbox.
func (f *flow) waitHandled(t *testing.T, eventIDs ...string) {
	t.Helper()
	var pending []string
	ok := f.hs.WaitFor(waitLimit, func() bool {
		pending = pending[:0]
		for _, e := range eventIDs {
			if f.inbox(t, e).status == "pending" {
				pending = append(pending, e)
			}
		}
		return len(pending) == 0
	})
	if !ok {
		t.Fatalf("events still pending: %v", pending)
	}
}

type inboxState struct {
	status    string
	attempts  int
	lastError string
}

func (f *flow) inbox(t *testing.T, eventID string) inboxState {
	t.Helper()
	var s inboxState
	err := f.db.QueryRowContext(context.Background(), `SELECT status, attempts, last_error FROM inbox WHERE event_id = $1`, eventID).
		Scan(&s.status, &s.attempts, &s.lastError)
	if err != nil {
		t.Fatalf("inbox row %s: %v", eventID, err)
	}
	return s
}

// outboxCount counts the replies queued in a room, whatever their status.
func (f *flow) outboxCount(t *testing.T, room string) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(context.Background(), `SELECT count(*) FROM outbox WHERE room_id = $1`, room).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// dm opens a one-to-one room between customer and bot: the homeserver
// knows both as members, the customer invites the bot, and the invite is
// handled (the bot joined).
func (f *flow) dm(t *testing.T, room, customer, name string, bot id.UserID) {
	t.Helper()
	f.hs.SetMembers(room, map[string]string{customer: name, bot.String(): "Bot"})
	inv := fakehs.Invite(room, customer, bot.String(), true)
	f.deliver(t, inv)
	f.waitHandled(t, evID(inv))
	if st := f.inbox(t, evID(inv)); st.status != "done" || st.lastError != "" {
		t.Fatalf("invite to %s: %+v", room, st)
	}
}

func evID(ev map[string]any) string { return ev["event_id"].(string) }

// withMentions adds m.mentions.user_ids to a message.
func withMentions(ev map[string]any, users ...string) map[string]any {
	ev["content"].(map[string]any)["m.mentions"] = map[string]any{"user_ids": users}
	return ev
}

func bodies(sends []fakehs.Sent) []string {
	var out []string
	for _, s := range sends {
		b, _ := s.Content["body"].(string)
		out = append(out, b)
	}
	return out
}

// calls counts handler calls per event, and which process made them.
type calls struct {
	mu      sync.Mutex
	byEvent map[id.EventID]int
	byProc  map[int]int
}

func newCalls() *calls { return &calls{byEvent: map[id.EventID]int{}, byProc: map[int]int{}} }

func (c *calls) add(process int, ev id.EventID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byEvent[ev]++
	c.byProc[process]++
	return c.byEvent[ev]
}

func (c *calls) of(ev string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byEvent[id.EventID(ev)]
}

// scripted is a bot whose handler is fn.
func scripted(fn handlers.HandlerFunc) func(int) []*dispatcher.Bot {
	return func(int) []*dispatcher.Bot {
		return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza"}, Handler: fn}}
	}
}

func TestInviteWelcomeAndRepliesInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db)
		room := "!dm:example.org"
		f.hs.SetMembers(room, map[string]string{"@alice:example.org": "Alice", botID.String(): "Pizza"})
		f.push(t, "t1", fakehs.Invite(room, "@alice:example.org", botID.String(), true))
		var evs []map[string]any
		for i := 0; i < 20; i++ {
			evs = append(evs, fakehs.Message(room, "@alice:example.org", "msg "+string(rune('a'+i))))
		}
		f.push(t, "t2", evs...)
		if !f.hs.WaitFor(waitLimit, func() bool { return len(f.hs.SendsTo(room)) >= 21 }) {
			t.Fatalf("got %d sends, want 21: %q", len(f.hs.SendsTo(room)), bodies(f.hs.SendsTo(room)))
		}
		got := bodies(f.hs.SendsTo(room))
		if got[0] != "Welcome to Pizza!" {
			t.Fatalf("first message %q, want the welcome", got[0])
		}
		for i := 0; i < 20; i++ {
			want := "echo: msg " + string(rune('a'+i))
			if got[i+1] != want {
				t.Fatalf("reply %d = %q, want %q (all: %q)", i, got[i+1], want, got)
			}
		}
		for _, s := range f.hs.SendsTo(room) {
			if s.User != botID.String() {
				t.Fatalf("sent as %q, want the bot", s.User)
			}
			if !strings.HasPrefix(s.TxnID, "bb."+db.InstallID+".") {
				t.Fatalf("txn id %q is not derived from the outbox row", s.TxnID)
			}
		}
		if j := f.hs.Joins(); len(j) != 1 || j[0] != botID.String()+" "+room {
			t.Fatalf("joins %v", j)
		}
	})
}

// A customer's messages handled in one go get one read receipt, for the
// last of them, after they were handled: a receipt per message doubled
// the requests the homeserver takes for each reply.
func TestOneReadReceiptPerBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db)
		room := "!receipts:example.org"
		f.dm(t, room, alice, "Alice", botID)
		var evs []map[string]any
		for i := range 5 {
			evs = append(evs, fakehs.Message(room, alice, fmt.Sprintf("msg %d", i)))
		}
		f.deliver(t, evs...)
		f.waitReply(t, room, "echo: msg 4")
		last := evID(evs[4])
		if !f.hs.WaitFor(waitLimit, func() bool {
			r := f.hs.Receipts(room)
			return len(r) > 0 && r[len(r)-1].EventID == last
		}) {
			t.Fatalf("no read receipt for the last message; receipts %+v", f.hs.Receipts(room))
		}
		for _, r := range f.hs.Receipts(room) {
			if r.EventID != last {
				t.Errorf("receipt for %s (not the last message of the batch): %+v", r.EventID, f.hs.Receipts(room))
			}
			if r.User != botID.String() || r.Type != "m.read" {
				t.Errorf("receipt %+v, want m.read from the bot", r)
			}
		}
	})
}
