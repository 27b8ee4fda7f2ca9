package dispatcher_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	asToken = "as_token_0123456789abcdef0123456789abcdef"
	hsToken = "hs_token_0123456789abcdef0123456789abcdef"
	botID   = id.UserID("@pizza:example.org")
)

// flow runs intake, dispatcher and sender in process against a fake
// homeserver.
type flow struct {
	hs    *fakehs.HS
	asURL string
	db    *store.DB
}

func startFlow(t *testing.T, db *store.DB) *flow {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	cli, err := hsclient.New(hs.URL(), asToken, 4, log)
	if err != nil {
		t.Fatal(err)
	}
	bots := []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza", Welcome: "Welcome to Pizza!"}, Handler: echo.New(echo.Config{Prefix: "echo: "})}}
	opts := dispatcher.Options{Workers: 4, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}
	disp := dispatcher.New(db, bots, "@bizbots:example.org", cli, opts, log)
	snd := sender.New(db, cli, sender.Options{Workers: 4, PollInterval: 20 * time.Millisecond, RetryBase: 10 * time.Millisecond, MaxBackoff: time.Second}, log)
	disp.OnOutbox = snd.Wake
	srv := httptest.NewServer(&appservice.Server{DB: db, HSToken: hsToken, MaxBodyBytes: 1 << 20, Stored: disp.Wake, Log: log})
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = disp.Run(ctx) }()
	go func() { defer wg.Done(); _ = snd.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &flow{hs: hs, asURL: srv.URL, db: db}
}

func (f *flow) push(t *testing.T, txn string, events ...map[string]any) {
	t.Helper()
	status, err := fakehs.Push(context.Background(), f.asURL, hsToken, txn, events)
	if err != nil || status != 200 {
		t.Fatalf("push %s: status %d, err %v", txn, status, err)
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
		if !f.hs.WaitFor(10*time.Second, func() bool { return len(f.hs.SendsTo(room)) >= 21 }) {
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
