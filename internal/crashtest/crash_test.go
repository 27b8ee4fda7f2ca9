package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
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
	bin := binary(t)
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

	dir := t.TempDir()
	front := newFront(seed)
	frontSrv := httptest.NewServer(front)
	t.Cleanup(frontSrv.Close)

	// bizbots init writes the config and registration with fresh tokens;
	// then the fake homeserver is made with that as_token.
	cfgPath := filepath.Join(dir, "config.yaml")
	listen := freeAddr(t)
	out, err := exec.Command(bin, "init", "--homeserver-url", frontSrv.URL, "--domain", "example.org",
		"--listen", listen, "--database", dbURI, "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("bizbots init: %v\n%s", err, out)
	}
	tuneConfig(t, cfgPath)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load the config init wrote: %v", err)
	}
	hs := fakehs.New(cfg.AppService.ASToken)
	t.Cleanup(hs.Close)
	front.hs.Store(hs)
	asURL := "http://" + listen

	logPath := filepath.Join(dir, "bizbots.log")
	procs := &supervisor{t: t, bin: bin, cfgPath: cfgPath, logPath: logPath}
	t.Cleanup(procs.stopNow)
	defer func() {
		if t.Failed() {
			t.Logf("last lines of the bizbots log (%s):\n%s", logPath, tail(logPath, 80))
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
			if killErr = procs.start(); killErr != nil {
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
			up := procs.kill()
			killLog = append(killLog, fmt.Sprintf("#%d %s after %s", i+1, mode, up.Round(time.Millisecond)))
			sleep(time.Duration(killRng.IntN(100)) * time.Millisecond) // down for a moment
		}
		if killCtx.Err() == nil {
			killErr = procs.start()
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
	pending := func() (inbox, outbox map[string]int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		inbox, err1 := db.InboxCounts(ctx)
		outbox, err2 := db.OutboxCounts(ctx)
		if err := errors.Join(err1, err2); err != nil {
			t.Logf("count queues: %v", err)
			return nil, nil
		}
		return inbox, outbox
	}
	// Drained means no inbox or outbox row is pending: an inbox row is
	// done in the transaction that adds its replies to the outbox, and an
	// outbox row is marked sent only after the homeserver accepted it, so
	// then every send that will ever happen has happened.
	want := len(rooms) * (sz.messages + 1)
	drainStart := time.Now()
	drained := hs.WaitFor(60*time.Second, func() bool {
		in, out := pending()
		return in != nil && in["pending"] == 0 && out["pending"] == 0
	})
	in, outb := pending()
	if !drained {
		t.Errorf("not drained within 60 s: %d of %d replies sent; inbox %v, outbox %v", len(hs.Sends()), want, in, outb)
	} else {
		t.Logf("drained %s after the stream", time.Since(drainStart).Round(time.Millisecond))
	}
	procs.stop() // graceful, so a late stray send would still show below

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
	in, outb = pending()
	if in["done"] != totalEvents || len(in) != 1 {
		t.Errorf("inbox by status %v, want only done=%d", in, totalEvents)
	}
	if outb["sent"] != want || len(outb) != 1 {
		t.Errorf("outbox by status %v, want only sent=%d", outb, want)
	}
	var multi, seenTxns int
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT cause_event_id FROM outbox
		WHERE cause_event_id <> '' GROUP BY cause_event_id HAVING count(*) > 1) m`).Scan(&multi); err != nil {
		t.Fatal(err)
	}
	if multi != 0 {
		t.Errorf("%d messages produced more than one outbox row", multi)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM as_txn`).Scan(&seenTxns); err != nil {
		t.Fatal(err)
	}
	if seenTxns != len(txns) {
		t.Errorf("%d transactions recorded, want %d", seenTxns, len(txns))
	}

	// A kill between the homeserver accepting a send and bizbots recording
	// it leaves a reply whose outcome bizbots does not know. The sender then
	// looks for it in the room (GET /messages, by the txn id stamped in its
	// content) before sending again, and a resend reuses the txn id, which
	// the homeserver deduplicates. Either path may show up, or neither
	// when no kill landed in that window; exactly-once is checked above.
	dups, keys := front.duplicates()
	t.Logf("%d distinct reply txn ids; %d repeated send attempts (deduplicated by fakehs); %d lookups for an earlier attempt",
		keys, dups, front.lookups.Load())
	t.Logf("done in %s; the %d bizbots processes used %s of CPU", time.Since(began).Round(time.Millisecond),
		procs.n, time.Duration(procs.cpu.Load()).Round(time.Millisecond))
}

// tuneConfig makes the config init wrote fit a test: short leases (the
// minimum the config accepts) so rooms a killed process held free up
// quickly, fast polling, JSON logs, echo bots.
func tuneConfig(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	section := func(name string) map[string]any {
		m, ok := doc[name].(map[string]any)
		if !ok {
			t.Fatalf("config has no %s section", name)
		}
		return m
	}
	section("dispatcher")["lease_timeout"] = "5s"
	section("dispatcher")["poll_interval"] = "50ms"
	section("sender")["max_backoff"] = "2s"
	section("logging")["format"] = "json"
	section("logging")["level"] = "info"
	// Every bot runs echo ("You said: " + text) with a welcome, whatever
	// the template's defaults become.
	bots, ok := doc["bots"].([]any)
	if !ok || len(bots) == 0 {
		t.Fatal("config has no bots")
	}
	for _, b := range bots {
		bot := b.(map[string]any)
		bot["service"] = "echo"
		bot["welcome"] = fmt.Sprintf("Welcome! This is %v.", bot["localpart"])
		delete(bot, "config")
	}
	data, err = yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// front sits between bizbots and the fake homeserver: it counts send
// attempts per (user, txn id) and lookups of earlier attempts, and holds
// each send's answer back for a few milliseconds after the homeserver
// accepted it, as a network would, which gives kills a window where a
// send is done but not yet recorded.
type front struct {
	hs atomic.Pointer[fakehs.HS]

	mu       sync.Mutex
	rng      *rand.Rand
	attempts map[string]int
	// lookups counts GET …/messages: the sender looking for an earlier
	// attempt of a reply before sending it again.
	lookups atomic.Int64
}

func newFront(seed uint64) *front {
	return &front{rng: rand.New(rand.NewPCG(seed, 3)), attempts: map[string]int{}}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs := f.hs.Load()
	if hs == nil {
		http.Error(w, `{"errcode":"M_UNKNOWN","error":"not ready"}`, http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/messages") {
		f.lookups.Add(1)
	}
	if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/send/") {
		hs.Server.Config.Handler.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.attempts[r.URL.Query().Get("user_id")+"|"+path.Base(r.URL.Path)]++
	delay := time.Duration(f.rng.IntN(20)) * time.Millisecond
	f.mu.Unlock()
	rec := httptest.NewRecorder()
	hs.Server.Config.Handler.ServeHTTP(rec, r)
	time.Sleep(delay)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// duplicates returns how many send attempts repeated an earlier (user, txn
// id), and how many distinct ones there were.
func (f *front) duplicates() (dups, keys int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.attempts {
		dups += n - 1
	}
	return dups, len(f.attempts)
}

// supervisor runs, kills and restarts `bizbots serve`.
type supervisor struct {
	t                     *testing.T
	bin, cfgPath, logPath string

	mu      sync.Mutex
	closed  bool
	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
	n       int
	cpu     atomic.Int64 // user+system ns of the processes that ended
}

func (s *supervisor) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the test is over")
	}
	if s.cmd != nil {
		return errors.New("bizbots is already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.n++
	fmt.Fprintf(logf, "=== crashtest: start #%d at %s\n", s.n, time.Now().Format(time.StampMilli))
	cmd := exec.Command(s.bin, "serve", "--config", s.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bizbots: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		s.cpu.Add(int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()))
		close(exited)
	}()
	s.cmd, s.exited, s.started = cmd, exited, time.Now()
	return nil
}

// kill sends SIGKILL, waits for the process to be gone and says how long
// it had run.
func (s *supervisor) kill() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	up := time.Since(s.started)
	s.cmd = nil
	if f, err := os.OpenFile(s.logPath, os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintf(f, "=== crashtest: kill -9 #%d at %s after %s\n", s.n, time.Now().Format(time.StampMilli), up)
		f.Close()
	}
	return up
}

// stop asks for a clean shutdown (SIGTERM), killing after 20 s.
func (s *supervisor) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.t.Errorf("bizbots did not stop within 20 s of SIGTERM (goroutine dump in %s)", s.logPath)
		_ = s.cmd.Process.Signal(syscall.SIGQUIT) // Go dumps its goroutines and exits
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.exited
		}
	}
	s.cmd = nil
}

func (s *supervisor) stopNow() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.closed = nil, true
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// binary builds bizbots once per test binary run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bizbots-crashtest-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "bizbots")
		out, err := exec.Command(goTool(), "build", "-o", builtBin, "github.com/bizbots/bizbots/cmd/bizbots").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/bizbots: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
