package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
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
	"github.com/bizbots/bizbots/internal/benchreport"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The flow benchmarks run intake → dispatcher → echo → outbox → sender →
// fake homeserver in process, over loopback HTTP on both sides, with the
// options `bizbots init` writes (8 dispatcher and 8 sender workers, 1 s
// poll: new work is picked up by wake-ups, not polls).

const (
	benchAS    = "bench_as_token_0123456789abcdef0123456789abcdef"
	benchHS    = "bench_hs_token_0123456789abcdef0123456789abcdef"
	benchBot   = id.UserID("@pizza:example.org")
	benchRooms = 25
)

// benchFlow is one in-process bizbots with a fake homeserver that
// timestamps each reply as it arrives.
type benchFlow struct {
	asURL string
	hs    *fakehs.HS

	mu      sync.Mutex
	txns    map[string]bool      // Matrix txn ids of the sends seen
	arrived map[string]time.Time // reply body → when the homeserver accepted it
	changed chan struct{}
}

// startBenchFlow starts one bizbots "process" (dispatcher and sender with
// their own owner ids and connection pool) per database handle, all on
// one database; intake runs on the first.
func startBenchFlow(b *testing.B, dbs ...*store.DB) *benchFlow {
	b.Helper()
	log := zerolog.Nop()
	f := &benchFlow{hs: fakehs.New(benchAS), arrived: map[string]time.Time{}, txns: map[string]bool{}, changed: make(chan struct{}, 1)}
	b.Cleanup(f.hs.Close)
	// Stamp sends on their way back from the fake homeserver.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isSend := r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/")
		var content struct {
			Body string `json:"body"`
		}
		if isSend {
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &content)
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		rec := httptest.NewRecorder()
		f.hs.Server.Config.Handler.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if isSend && rec.Code == http.StatusOK {
			f.stamp(path.Base(r.URL.Path), content.Body)
		}
	}))
	b.Cleanup(front.Close)
	cli, err := hsclient.New(front.URL, benchAS, 8, log)
	if err != nil {
		b.Fatal(err)
	}
	bots := []*dispatcher.Bot{{UserID: benchBot, Config: config.Bot{Localpart: "pizza", Welcome: "Welcome!"},
		Handler: echo.New(echo.Config{Prefix: "You said: "})}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i, db := range dbs {
		disp := dispatcher.New(db, bots, "@bizbots:example.org", cli, dispatcher.Options{Workers: 8, PollInterval: time.Second}, log)
		snd := sender.New(db, cli, sender.Options{Workers: 8, PollInterval: time.Second}, log)
		disp.OnOutbox = snd.WakeRooms
		if i == 0 {
			srv := httptest.NewServer(&appservice.Server{DB: db, HSToken: benchHS, MaxBodyBytes: 10 << 20, Stored: disp.WakeRooms, Log: log})
			b.Cleanup(srv.Close)
			f.asURL = srv.URL
		}
		wg.Add(2)
		go func() { defer wg.Done(); _ = disp.Run(ctx) }()
		go func() { defer wg.Done(); _ = snd.Run(ctx) }()
	}

	// Open the DMs: every room gets its invite handled and its welcome sent.
	var invites []map[string]any
	for r := 0; r < benchRooms; r++ {
		f.hs.SetMembers(benchRoom(r), map[string]string{benchCustomer(r): "Customer", benchBot.String(): "Pizza"})
		invites = append(invites, fakehs.Invite(benchRoom(r), benchCustomer(r), benchBot.String(), true))
	}
	f.push(b, "invites", invites)
	f.wait(b, 30*time.Second, func() bool { return f.count() == benchRooms })
	return f
}

func benchRoom(r int) string     { return fmt.Sprintf("!bench%d:example.org", r) }
func benchCustomer(r int) string { return fmt.Sprintf("@customer%d:example.org", r) }

// stamp records when a reply first reached the homeserver.
func (f *benchFlow) stamp(txnID, body string) {
	now := time.Now()
	f.mu.Lock()
	if !f.txns[txnID] {
		f.txns[txnID] = true
		f.arrived[body] = now
	}
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *benchFlow) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.txns)
}

func (f *benchFlow) arrival(body string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.arrived[body]
	return t, ok
}

func (f *benchFlow) push(b *testing.B, txnID string, events []map[string]any) {
	status, err := fakehs.Push(context.Background(), f.asURL, benchHS, txnID, events)
	if err != nil || status != http.StatusOK {
		b.Fatalf("push %s: %d %v", txnID, status, err)
	}
}

// wait blocks until cond holds, failing the benchmark after limit (a
// deadlock guard, not a speed expectation).
func (f *benchFlow) wait(b *testing.B, limit time.Duration, cond func() bool) {
	deadline := time.After(limit)
	for !cond() {
		select {
		case <-f.changed:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			b.Fatalf("flow did not finish within %s", limit)
		}
	}
}

// BenchmarkFlowLatency measures one message's round trip with nothing
// else going on: push a one-event transaction, wait until the echo reply
// reaches the homeserver. One op is one message; p50-ms/p99-ms are its
// latency, events/s the closed-loop rate (one message in flight).
func BenchmarkFlowLatency(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			f := startBenchFlow(b, storetest.New(b, d))
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r := i % benchRooms
				body := fmt.Sprintf("m%d", i)
				t0 := time.Now()
				f.push(b, fmt.Sprintf("lat-%d", i), []map[string]any{fakehs.Message(benchRoom(r), benchCustomer(r), body)})
				f.wait(b, 30*time.Second, func() bool { _, ok := f.arrival("You said: " + body); return ok })
				at, _ := f.arrival("You said: " + body)
				lat = append(lat, at.Sub(t0))
			}
			elapsed := time.Since(start)
			b.StopTimer()
			benchreport.Throughput(b, b.N, elapsed)
			benchreport.Latency(b, lat)
		})
	}
}

// BenchmarkFlowLoad measures a burst: one op pushes a 100-event
// transaction (4 messages in each of 25 rooms) and waits until all 100
// replies reached the homeserver. events/s is messages answered per
// second over the whole run; p50-ms/p99-ms are each message's latency
// from the start of its transaction's push to its reply reaching the
// homeserver. Rooms are handled in parallel (8 workers), each room's
// messages in order.
//
// postgres-2proc runs two dispatcher+sender "processes" (own owner ids and
// connection pools) on the one database, as two bizbots processes would
// share it; intake runs on the first (a homeserver sends one transaction
// at a time anyway).
func BenchmarkFlowLoad(b *testing.B) {
	const perTxn = 100
	setups := []struct {
		name string
		dbs  func(b *testing.B) []*store.DB
	}{
		{"sqlite", func(b *testing.B) []*store.DB { return []*store.DB{storetest.New(b, store.SQLite)} }},
		{"postgres", func(b *testing.B) []*store.DB { return []*store.DB{storetest.New(b, store.Postgres)} }},
		{"postgres-2proc", func(b *testing.B) []*store.DB {
			uri := storetest.URI(b, store.Postgres)
			var dbs []*store.DB
			for range 2 {
				db, err := store.Open(context.Background(), uri, 0)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				if _, _, err := db.Upgrade(context.Background()); err != nil {
					b.Fatal(err)
				}
				dbs = append(dbs, db)
			}
			return dbs
		}},
	}
	for _, setup := range setups {
		b.Run(setup.name, func(b *testing.B) {
			f := startBenchFlow(b, setup.dbs(b)...)
			txns := make([][]map[string]any, b.N)
			for i := range txns {
				for j := 0; j < perTxn; j++ {
					r := j % benchRooms
					txns[i] = append(txns[i], fakehs.Message(benchRoom(r), benchCustomer(r), fmt.Sprintf("m%d.%d", i, j)))
				}
			}
			lat := make([]time.Duration, 0, b.N*perTxn)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				pushed := time.Now()
				f.push(b, fmt.Sprintf("load-%d", i), txns[i])
				want := benchRooms + (i+1)*perTxn
				f.wait(b, time.Minute, func() bool { return f.count() >= want })
				for j := 0; j < perTxn; j++ {
					at, ok := f.arrival(fmt.Sprintf("You said: m%d.%d", i, j))
					if !ok {
						b.Fatalf("no reply to m%d.%d", i, j)
					}
					lat = append(lat, at.Sub(pushed))
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := f.count(); n != benchRooms+b.N*perTxn {
				b.Fatalf("%d sends, want %d", n, benchRooms+b.N*perTxn)
			}
			benchreport.Throughput(b, b.N*perTxn, elapsed)
			benchreport.Latency(b, lat)
		})
	}
}
