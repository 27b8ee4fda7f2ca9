package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/internal/faults"
	"github.com/bizbots/bizbots/internal/faults/faultsvc"
	"github.com/bizbots/bizbots/internal/tcpproxy"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	// EnvMode "full" runs `make faults` sizes (long outages, more rooms
	// and kills); anything else runs the bounded CI form.
	EnvMode = "BIZBOTS_FAULTS"
	// EnvSeed fixes the random seed of a run to replay its choices.
	EnvSeed = "BIZBOTS_FAULTS_SEED"
	// EnvReport names a file that gets one JSON line of figures per
	// scenario run (make soak sums them).
	EnvReport = "BIZBOTS_FAULTS_REPORT"

	faultBin = "github.com/bizbots/bizbots/internal/faults/faultbin"
	apology  = "Sorry, something went wrong"
)

func full() bool { return os.Getenv(EnvMode) == "full" }

// pick returns ci in the CI form and long under `make faults`.
func pick[T any](ci, long T) T {
	if full() {
		return long
	}
	return ci
}

func TestMain(m *testing.M) {
	code := m.Run()
	faults.Cleanup()
	os.Exit(code)
}

// world is one scenario's bizbots, homeserver, database and stream.
type world struct {
	t      *testing.T
	name   string
	seed   uint64
	rng    *rand.Rand
	engine store.Dialect
	dbURI  string // what the checks use (never through the proxy)
	proxy  *tcpproxy.Proxy
	front  *faults.Front
	hs     *fakehs.HS
	in     *faults.Instance
	procs  *faults.Supervisor
	pusher *faults.Pusher
	rooms  []faults.Room
	txns   []faults.Txn
	pace   time.Duration
	began  time.Time

	mu       sync.Mutex
	probe    func(point string) // what the faulty service's probe does
	kills    map[string]int
	budget   map[string]int
	restarts sync.WaitGroup
}

// options shape a world.
type options struct {
	rooms, messages int
	// text makes message j of room i; nil: "m<j>".
	text func(rng *rand.Rand, room, j int) string
	// dbURI overrides the database (SQLite on a small disk).
	dbURI string
	// proxy puts a cuttable proxy between bizbots and Postgres.
	proxy bool
	// edit changes the config after the test tuning.
	edit func(doc map[string]any)
	// perTxn caps the events of one transaction (0: 100, as Synapse).
	perTxn int
	// pace is the homeserver's pause between transactions; spread spaces
	// them so that the stream lasts about that long instead.
	pace, spread time.Duration
	// lateInvites opens rooms all along the stream, not all first.
	lateInvites bool
}

func newWorld(t *testing.T, engine store.Dialect, o options) *world {
	w := &world{t: t, name: t.Name(), engine: engine, began: time.Now(), kills: map[string]int{}, budget: map[string]int{}}
	w.seed = uint64(time.Now().UnixNano())
	if s := os.Getenv(EnvSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvSeed, s, err)
		}
		w.seed = v
	}
	t.Logf("seed %d (rerun with %s=%d)", w.seed, EnvSeed, w.seed)
	w.rng = rand.New(rand.NewPCG(w.seed, 1))
	bin := faults.Binary(t, faultBin)

	w.dbURI = o.dbURI
	if w.dbURI == "" {
		w.dbURI = storetest.URI(t, engine)
	}
	bizURI := w.dbURI
	if o.proxy {
		u, err := url.Parse(w.dbURI)
		if err != nil || engine != store.Postgres {
			t.Fatalf("a proxy needs a Postgres URI: %v", err)
		}
		if w.proxy, err = tcpproxy.Start(u.Host); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.proxy.Close() })
		u.Host = w.proxy.Addr()
		bizURI = u.String()
	}

	w.front = faults.NewFront(w.seed)
	t.Cleanup(w.front.Close)
	w.in = faults.Init(t, bin, w.front.Server.URL, bizURI, func(doc map[string]any) {
		faults.TestTuning(t, doc)
		faults.AllBots(t, doc, "faulty")
		if o.edit != nil {
			o.edit(doc)
		}
	})
	w.hs = fakehs.New(w.in.Cfg.AppService.ASToken)
	t.Cleanup(w.hs.Close)
	w.front.SetHS(w.hs)

	probeSrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		fn := w.probe
		w.mu.Unlock()
		if fn != nil {
			fn(r.URL.Query().Get("point"))
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(probeSrv.Close)

	logPath := filepath.Join(w.in.Dir, "bizbots.log")
	w.procs = &faults.Supervisor{T: t, Bin: bin, CfgPath: w.in.CfgPath, LogPath: logPath,
		Restart: true, MaxRestarts: pick(20, 60), Env: []string{faultsvc.EnvProbe + "=" + probeSrv.URL}}
	t.Cleanup(func() { w.restarts.Wait(); w.procs.StopNow() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the bizbots log (%s):\n%s", logPath, faults.Tail(logPath, 60))
		}
	})
	w.pusher = &faults.Pusher{URL: w.in.URL(), HSToken: w.in.Cfg.AppService.HSToken, PerTxn: pick(90*time.Second, 3*time.Minute)}

	text := o.text
	if text == nil {
		text = func(_ *rand.Rand, _, j int) string { return "m" + strconv.Itoa(j) }
	}
	bots := w.in.Cfg.Bots
	for i := 0; i < o.rooms; i++ {
		b := bots[i%len(bots)]
		r := faults.Room{
			ID:       fmt.Sprintf("!fault%d:example.org", i),
			Customer: fmt.Sprintf("@customer%d:example.org", i),
			Bot:      w.in.Cfg.UserID(b.Localpart).String(),
		}
		for j := 0; j < o.messages; j++ {
			r.Texts = append(r.Texts, text(w.rng, i, j))
		}
		w.hs.SetMembers(r.ID, map[string]string{r.Customer: fmt.Sprintf("Customer %d", i), r.Bot: b.DisplayName})
		w.rooms = append(w.rooms, r)
	}
	if o.perTxn == 0 {
		o.perTxn = 100
	}
	w.txns = faults.Stream(w.rng, "t", w.rooms, o.perTxn, 6, o.lateInvites)
	w.pace = o.pace
	if o.spread > 0 {
		w.pace = o.spread / time.Duration(len(w.txns))
	}
	return w
}

// onProbe sets what happens when the faulty service reaches a point.
func (w *world) onProbe(fn func(point string)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.probe = fn
}

// killAt kills bizbots at point if that point's budget allows, and starts
// it again after a moment. It reports whether it killed.
func (w *world) killAt(point string) bool {
	w.mu.Lock()
	if w.budget[point] <= w.kills[point] {
		w.mu.Unlock()
		return false
	}
	w.kills[point]++
	n := w.kills[point]
	w.mu.Unlock()
	if w.procs.Kill() == 0 {
		w.mu.Lock()
		w.kills[point]--
		w.mu.Unlock()
		return false
	}
	w.procs.Note(fmt.Sprintf("that kill was at %s (#%d there)", point, n))
	w.restarts.Add(1)
	down := time.Duration(w.rngInt(100)) * time.Millisecond
	time.AfterFunc(down, func() {
		defer w.restarts.Done()
		if err := w.procs.Start(); err != nil && !strings.Contains(err.Error(), "already running") {
			w.t.Logf("restart after a kill at %s: %v", point, err)
		}
	})
	return true
}

func (w *world) rngInt(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.IntN(n)
}

// chance is true about once in n calls.
func (w *world) chance(n int) bool { return w.rngInt(n) == 0 }

// run starts bizbots, streams every transaction while schedule injects
// faults, waits for schedule to end and then for everything to drain
// within drain, and checks the guarantees.
func (w *world) run(drain time.Duration, schedule func(ctx context.Context)) {
	t := w.t
	if err := w.procs.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A bizbots that keeps dying fails the run now, not at every deadline.
	watchDone := make(chan struct{})
	defer func() { cancel(); <-watchDone }()
	go func() {
		defer close(watchDone)
		for sleepCtx(ctx, 200*time.Millisecond) {
			if w.procs.GaveUp() {
				t.Errorf("bizbots kept dying; gave up after %d restarts: %v", len(w.procs.Crashes()), w.procs.Crashes())
				cancel()
				return
			}
		}
	}()
	scheduleDone := make(chan struct{})
	go func() {
		defer close(scheduleDone)
		if schedule != nil {
			schedule(ctx)
		}
	}()
	streamStart := time.Now()
	for _, txn := range w.txns {
		if err := w.pusher.Push(ctx, txn); err != nil {
			cancel()
			<-scheduleDone
			t.Fatal(err)
		}
		sleepCtx(ctx, w.pace)
	}
	streamed := time.Since(streamStart)
	select {
	case <-scheduleDone:
	case <-time.After(10 * time.Minute):
		t.Fatal("the fault schedule did not end within 10 minutes")
	}
	w.onProbe(nil)
	w.front.AfterStore(nil)
	w.front.BeforeSend(nil)
	w.pusher.Sending, w.pusher.Acked = nil, nil
	w.restarts.Wait()
	w.check(drain, streamed)
}

// expected is the reply a message gets from the faulty service.
func expected(text string) (want string, prefix bool) {
	word, _, _ := strings.Cut(text, " ")
	if word == "panic" || word == "commitpanic" {
		return apology, true
	}
	return faultsvc.Prefix + text, false
}

type figures struct {
	Scenario   string         `json:"scenario"`
	Engine     string         `json:"engine"`
	Seed       uint64         `json:"seed"`
	Rooms      int            `json:"rooms"`
	Events     int            `json:"events"`
	Txns       int            `json:"transactions"`
	Pushes     int64          `json:"push_attempts"`
	Refused    int64          `json:"push_failures"`
	Sends      int            `json:"sends"`
	Kills      map[string]int `json:"kills"`
	Starts     int            `json:"starts"`
	Faulted    map[string]int `json:"homeserver_faulted_requests"`
	SendRepeat int            `json:"send_repeats_deduplicated"`
	Lookups    int64          `json:"lookups"`
	Duplicates int            `json:"duplicates"`
	Lost       int            `json:"lost"`
	Seconds    float64        `json:"seconds"`
	Passed     bool           `json:"passed"`
}

func (w *world) check(drain time.Duration, streamed time.Duration) {
	t := w.t
	db, err := store.Open(context.Background(), w.dbURI, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending := func() (inbox, outbox map[string]int) { return faults.Queues(db) }
	events := 0
	for _, r := range w.rooms {
		events += 1 + len(r.Texts)
	}
	drainStart := time.Now()
	drained := w.hs.WaitFor(drain, func() bool {
		if w.procs.GaveUp() {
			return true // reported as stuck below
		}
		return faults.Idle(db)
	})
	inb, outb := pending()
	if !drained || inb["pending"]+outb["pending"] > 0 {
		t.Errorf("stuck: not drained within %s of the stream's end; inbox %v, outbox %v", drain, inb, outb)
	}
	drainTook := time.Since(drainStart)

	// The process is alive and healthy, and never died by itself.
	if !w.procs.Running() {
		t.Errorf("bizbots is not running at the end")
	}
	if c := w.procs.Crashes(); len(c) > 0 {
		t.Errorf("bizbots died by itself %d times (restarted as systemd would): %s", len(c), strings.Join(c, "; "))
	}
	if resp, err := http.Get(w.in.URL() + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/health at the end: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	w.procs.Stop() // graceful, so a late stray send would still show below

	// Every reply exactly once, in each room's order, from its bot.
	dupes, lost := 0, 0
	for _, r := range w.rooms {
		bot, ok := w.in.Cfg.BotByUserID(id.UserID(r.Bot))
		if !ok {
			t.Fatalf("room %s: %s is not a configured bot", r.ID, r.Bot)
		}
		wantBodies := []string{bot.Welcome}
		prefixes := []bool{false}
		for _, text := range r.Texts {
			b, p := expected(text)
			wantBodies, prefixes = append(wantBodies, b), append(prefixes, p)
		}
		var got []string
		for _, s := range w.hs.SendsTo(r.ID) {
			b, _ := s.Content["body"].(string)
			got = append(got, b)
			if s.User != r.Bot {
				t.Errorf("room %s: %q sent as %s, want %s", r.ID, b, s.User, r.Bot)
			}
		}
		same := len(got) == len(wantBodies)
		for i := 0; same && i < len(got); i++ {
			same = got[i] == wantBodies[i] || prefixes[i] && strings.HasPrefix(got[i], wantBodies[i])
		}
		if !same {
			dupes += max(0, len(got)-len(wantBodies))
			lost += max(0, len(wantBodies)-len(got))
			t.Errorf("room %s: sends differ from one welcome then one reply per message in order:\n got  %q\n want %q", r.ID, got, wantBodies)
		}
	}

	// Every event handled exactly once: nothing pending, nothing failed.
	if inb["pending"] != 0 || inb["done"]+inb["parked"] != events {
		t.Errorf("inbox by status %v, want done+parked=%d", inb, events)
	}
	sends := len(w.hs.Sends())
	if outb["sent"] != sends || len(outb) != 1 {
		t.Errorf("outbox by status %v, want only sent=%d (what the homeserver got)", outb, sends)
	}
	multi := faults.CheckOnce(t, db, len(w.txns))

	repeats, _ := w.front.Duplicates()
	f := figures{
		Scenario: w.name, Engine: string(w.engine), Seed: w.seed, Rooms: len(w.rooms), Events: events,
		Txns: len(w.txns), Pushes: w.pusher.Attempts.Load(), Refused: w.pusher.Failures.Load(),
		Sends: sends, Kills: w.kills, Starts: w.procs.Starts(), Faulted: map[string]int{},
		SendRepeat: repeats, Lookups: w.front.Lookups(), Duplicates: dupes + multi, Lost: lost,
		Seconds: time.Since(w.began).Seconds(), Passed: !t.Failed(),
	}
	for k, v := range w.front.Faulted() {
		f.Faulted[k.String()] = v
	}
	killed := 0
	for _, n := range w.kills {
		killed += n
	}
	t.Logf("%d rooms, %d events in %d transactions streamed in %s (%d pushes, %d refused); %d kills %v; %d starts; homeserver faults %v; drained %s later; %d sends, %d repeated attempts deduplicated, %d lookups",
		f.Rooms, events, f.Txns, streamed.Round(time.Millisecond), f.Pushes, f.Refused, killed, w.kills, f.Starts,
		f.Faulted, drainTook.Round(time.Millisecond), sends, repeats, f.Lookups)
	if path := os.Getenv(EnvReport); path != "" {
		if fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			line, _ := json.Marshal(f)
			fmt.Fprintf(fh, "%s\n", line)
			fh.Close()
		}
	}
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
