package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/internal/faults"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// EnvSeed fixes the random seed (kill moments, transaction sizes, event
// order) to replay a failing run's choices. Timing still varies.
const EnvSeed = "BIZBOTS_CRASH_SEED"

// size is how much one run streams and how often it kills.
type size struct {
	rooms, messages  int
	kills, moreKills int // kills + a random 0..moreKills
}

func runSize() size {
	if testing.Short() {
		return size{rooms: 4, messages: 15, kills: 2, moreKills: 1}
	}
	return size{rooms: 8, messages: 40, kills: 5, moreKills: 3}
}

func TestCrashSQLite(t *testing.T) {
	crashTest(t, storetest.URI(t, store.SQLite))
}

func TestCrashPostgres(t *testing.T) {
	crashTest(t, storetest.URI(t, store.Postgres))
}

// crashTest runs the whole scenario against a database URI.
func crashTest(t *testing.T, dbURI string) {
	began := time.Now()
	bin := faults.Binary(t, "github.com/bizbots/bizbots/cmd/bizbots")
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(EnvSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvSeed, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, EnvSeed, seed)
	sz := runSize()

	front := faults.NewFront(seed)
	t.Cleanup(front.Close)

	// bizbots init writes the config and registration with fresh tokens;
	// then the fake homeserver is made with that as_token.
	in := faults.Init(t, bin, front.Server.URL, dbURI, func(doc map[string]any) {
		faults.TestTuning(t, doc)
		faults.AllBots(t, doc, "echo") // "You said: " + text, and a welcome
	})
	cfg := in.Cfg
	hs := fakehs.New(cfg.AppService.ASToken)
	t.Cleanup(hs.Close)
	front.SetHS(hs)
	asURL := in.URL()

	logPath := filepath.Join(in.Dir, "bizbots.log")
	procs := &faults.Supervisor{T: t, Bin: bin, CfgPath: in.CfgPath, LogPath: logPath}
	t.Cleanup(procs.StopNow)
	defer func() {
		if t.Failed() {
			t.Logf("last lines of the bizbots log (%s):\n%s", logPath, faults.Tail(logPath, 80))
		}
	}()

	// The rooms: one customer and one bot each, bots taken in turn.
	type room struct {
		id, customer, bot, welcome string
	}
	rooms := make([]room, sz.rooms)
	for i := range rooms {
		b := cfg.Bots[i%len(cfg.Bots)]
		rooms[i] = room{
			id:       fmt.Sprintf("!crash%d:example.org", i),
			customer: fmt.Sprintf("@customer%d:example.org", i),
			bot:      cfg.UserID(b.Localpart).String(),
			welcome:  b.Welcome,
		}
		hs.SetMembers(rooms[i].id, map[string]string{rooms[i].customer: fmt.Sprintf("Customer %d", i), rooms[i].bot: b.DisplayName})
	}

	// The stream: invites first, then every room's numbered messages in a
	// random interleaving that keeps each room's order, cut into
	// transactions of varied size.
	rng := rand.New(rand.NewPCG(seed, 1))
	var txns [][]map[string]any
	var invites []map[string]any
	for _, r := range rooms {
		invites = append(invites, fakehs.Invite(r.id, r.customer, r.bot, true))
	}
	for len(invites) > 0 {
		n := min(1+rng.IntN(3), len(invites))
		txns = append(txns, invites[:n])
		invites = invites[n:]
	}
	next := make([]int, len(rooms))
	var msgs []map[string]any
	for left := len(rooms) * sz.messages; left > 0; left-- {
		i := rng.IntN(len(rooms))
		for next[i] == sz.messages {
			i = (i + 1) % len(rooms)
		}
		msgs = append(msgs, fakehs.Message(rooms[i].id, rooms[i].customer, strconv.Itoa(next[i])))
		next[i]++
	}
	for len(msgs) > 0 {
		n := min(1+rng.IntN(20), len(msgs))
		txns = append(txns, msgs[:n])
		msgs = msgs[n:]
	}
	totalEvents := len(rooms) * (sz.messages + 1)
	t.Logf("%d rooms × %d messages + %d invites in %d transactions; database %s",
		len(rooms), sz.messages, len(rooms), len(txns), strings.SplitN(dbURI, ":", 2)[0])

	// The killer: start, wait, kill -9, restart, a bounded number of
	// times; some kills come right after a transaction was acknowledged.
	acked := make(chan struct{}, 1)
	killerDone := make(chan struct{})
	var killLog []string
	var killErr error
	kills := sz.kills + rng.IntN(sz.moreKills+1)
	killRng := rand.New(rand.NewPCG(seed, 2))
	killCtx, stopKiller := context.WithCancel(context.Background())
	t.Cleanup(func() { stopKiller(); <-killerDone }) // before procs.stopNow
	sleep := func(d time.Duration) {
		select {
		case <-killCtx.Done():
		case <-time.After(d):
		}
	}
	go func() {
		defer close(killerDone)
		for i := 0; i < kills && killCtx.Err() == nil; i++ {
			if killErr = procs.Start(); killErr != nil {
				return
			}
			mode := "timer"
			if killRng.IntN(10) < 3 {
				mode = "after-ack"
				select { // forget an old acknowledgement
				case <-acked:
				default:
				}
				select {
				case <-acked:
				case <-killCtx.Done():
				case <-time.After(2 * time.Second): // the stream is over
					mode = "after-ack (none came)"
				}
			} else {
				sleep(time.Duration(50+killRng.IntN(651)) * time.Millisecond)
			}
			up := procs.Kill()
			killLog = append(killLog, fmt.Sprintf("#%d %s after %s", i+1, mode, up.Round(time.Millisecond)))
			sleep(time.Duration(killRng.IntN(100)) * time.Millisecond) // down for a moment
		}
		if killCtx.Err() == nil {
			killErr = procs.Start()
		}
	}()

	// The homeserver side: one transaction at a time, the same txn id and
	// events again until 200, with a short backoff.
	streamStart := time.Now()
	streamDeadline := streamStart.Add(50 * time.Second)
	var attempts, failures int
	for k, evs := range txns {
		txnID := fmt.Sprintf("crash-%d", k)
		for try := 0; ; try++ {
			if time.Now().After(streamDeadline) || try > 2000 {
				t.Fatalf("transaction %s not acknowledged after %d attempts", txnID, try)
			}
			attempts++
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			status, err := fakehs.Push(ctx, asURL, cfg.AppService.HSToken, txnID, evs)
			cancel()
			if err == nil && status == http.StatusOK {
				break
			}
			failures++
			time.Sleep(min(10*time.Millisecond<<min(try, 5), 250*time.Millisecond))
		}
		select {
		case acked <- struct{}{}:
		default:
		}
		time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond) // the homeserver's own pace
	}
	streamed := time.Since(streamStart)
	select {
	case <-killerDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the killer did not finish")
	}
	if killErr != nil {
		t.Fatal(killErr)
	}
	t.Logf("stream acknowledged after %s: %d push attempts, %d failed (connection refused/reset or not 200)",
		streamed.Round(time.Millisecond), attempts, failures)
	t.Logf("%d kills: %s", len(killLog), strings.Join(killLog, "; "))

	// Everything must now drain, exactly once.
	db, err := store.Open(context.Background(), dbURI, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending := func() (inbox, outbox map[string]int) { return faults.Queues(db) }
	// Drained means no inbox or outbox row is pending: an inbox row is
	// done in the transaction that adds its replies to the outbox, and an
	// outbox row is marked sent only after the homeserver accepted it, so
	// then every send that will ever happen has happened.
	want := len(rooms) * (sz.messages + 1)
	drainStart := time.Now()
	drained := hs.WaitFor(60*time.Second, func() bool {
		return faults.Idle(db)
	})
	inb, outb := pending()
	if !drained {
		t.Errorf("not drained within 60 s: %d of %d replies sent; inbox %v, outbox %v", len(hs.Sends()), want, inb, outb)
	} else {
		t.Logf("drained %s after the stream", time.Since(drainStart).Round(time.Millisecond))
	}
	procs.Stop() // graceful, so a late stray send would still show below

	// Every reply exactly once, in each room's order, from its bot.
	sends := hs.Sends()
	if len(sends) != want {
		t.Errorf("%d sends, want %d (one welcome and %d replies per room)", len(sends), want, sz.messages)
	}
	for _, r := range rooms {
		wantBodies := []string{r.welcome}
		for i := 0; i < sz.messages; i++ {
			wantBodies = append(wantBodies, "You said: "+strconv.Itoa(i))
		}
		var got []string
		for _, s := range hs.SendsTo(r.id) {
			b, _ := s.Content["body"].(string)
			got = append(got, b)
			if s.User != r.bot {
				t.Errorf("room %s: %q sent as %s, want %s", r.id, b, s.User, r.bot)
			}
		}
		if !slices.Equal(got, wantBodies) {
			t.Errorf("room %s: sends differ from one welcome then one reply per message in order:\n got  %q\n want %q", r.id, got, wantBodies)
		}
		joined := 0
		for _, j := range hs.Joins() {
			if j == r.bot+" "+r.id {
				joined++
			}
		}
		if joined == 0 {
			t.Errorf("room %s: the bot never joined", r.id)
		}
	}

	// Every event handled exactly once, nothing pending or parked.
	inb, outb = pending()
	if inb["done"] != totalEvents || len(inb) != 1 {
		t.Errorf("inbox by status %v, want only done=%d", inb, totalEvents)
	}
	if outb["sent"] != want || len(outb) != 1 {
		t.Errorf("outbox by status %v, want only sent=%d", outb, want)
	}
	faults.CheckOnce(t, db, len(txns))

	// A kill between the homeserver accepting a send and bizbots recording
	// it leaves a reply whose outcome bizbots does not know. The sender then
	// looks for it in the room (GET /messages, by the txn id stamped in its
	// content) before sending again, and a resend reuses the txn id, which
	// the homeserver deduplicates. Either path may show up, or neither
	// when no kill landed in that window; exactly-once is checked above.
	dups, keys := front.Duplicates()
	t.Logf("%d distinct reply txn ids; %d repeated send attempts (deduplicated by fakehs); %d lookups for an earlier attempt",
		keys, dups, front.Lookups())
	t.Logf("done in %s; the %d bizbots processes used %s of CPU", time.Since(began).Round(time.Millisecond),
		procs.Starts(), procs.CPU().Round(time.Millisecond))
}

func TestMain(m *testing.M) {
	code := m.Run()
	faults.Cleanup()
	os.Exit(code)
}
