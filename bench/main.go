// Command bench measures bizbots' message path against the yardstick of
// issue 12: a bare mautrix-go appservice echo bot (bench/comparator, its
// own module), driven with the same traffic through a fake homeserver on
// loopback, in one run, alternating targets over several rounds. It
// prints a table of intake events/s, replies/s, transaction ack p50/p99,
// message → reply p50/p99, CPU seconds per 1 000 messages and peak RSS,
// each with its ratio to the comparator.
//
//	go run ./bench            # 3 rounds, 30 transactions of 100 messages per run
//	go run ./bench -quick     # a smoke run (CI): every mode in tiny form
//
// Other modes: -sweep (open-loop offered load, with an SVG plot),
// -prefill-events/-prefill-rooms (a database that has grown),
// -conversations (RSS with many open DMs), -procs (several processes on
// one Postgres behind a proxy, with -kill). docs/PERFORMANCE.md has the
// commands.
//
// Only loopback is used; every run is bounded in count and time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bizbots/bizbots/store/storetest"
)

type options struct {
	rounds, txns, perTxn, rooms int
	senders                     []int
	targets                     string
	postgres                    string
	out                         string
	quick                       bool

	// -sweep: offered-load steps (messages/s), each step's duration, the
	// transactions the homeserver keeps in flight, and the plot file.
	sweep    []float64
	step     time.Duration
	inflight int
	plot     string
	probe    bool

	// -prefill-events/-rooms: rows stored before each bizbots run; the
	// table then compares each engine with and without them.
	prefill prefillSpec

	// -conversations: the RSS mode's number of DMs, and invites per
	// transaction.
	conversations, inviteBatch int

	// -procs: bizbots processes on one Postgres behind the bench's proxy.
	procs        []int
	kill         bool
	leaseTimeout string

	// -pprof: a CPU and an allocation profile per bizbots run, saved here.
	pprofDir     string
	pprofSeconds int
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a smoke run (CI): every mode in tiny form, no timing claims")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; targets alternate within each")
	flag.IntVar(&o.txns, "txns", 30, "transactions per run")
	flag.IntVar(&o.perTxn, "events", 100, "messages per transaction (the most per transaction in -sweep)")
	flag.IntVar(&o.rooms, "rooms", 100, "direct chats the messages are spread over")
	sendersFlag := flag.String("senders", "1,8", "concurrent transaction senders, one run each")
	flag.StringVar(&o.targets, "targets", "mautrix,sqlite,postgres", "targets")
	flag.StringVar(&o.postgres, "postgres", storetest.DefaultPostgres(), "admin URI of the Postgres server, a database is made per run (default: $"+storetest.EnvPostgres+" or the local server)")
	flag.StringVar(&o.out, "json", "", "also write the results as JSON to this file")
	sweepFlag := flag.String("sweep", "", "offered-load sweep: messages/s per step, e.g. 100,200,400,800,1600,3200 (open loop)")
	flag.DurationVar(&o.step, "step", 10*time.Second, "-sweep: how long each step offers its load")
	flag.IntVar(&o.inflight, "inflight", 1, "-sweep: transactions the homeserver keeps in flight (Synapse: 1)")
	flag.StringVar(&o.plot, "plot", "", "-sweep: write the SVG plot (replies/s and p99 against offered load) to this file")
	flag.BoolVar(&o.probe, "probe", true, "-sweep: also run each target at half and twice its maximum load")
	flag.IntVar(&o.prefill.events, "prefill-events", 0, "store this many handled messages (inbox and outbox rows) before each bizbots run, and compare with an empty database")
	flag.IntVar(&o.prefill.rooms, "prefill-rooms", 0, "-prefill-events: spread over this many rooms (bot rooms, customers, conversation state)")
	flag.IntVar(&o.conversations, "conversations", 0, "RSS mode: open this many DMs, then one message in each; reports peak RSS")
	flag.IntVar(&o.inviteBatch, "invite-batch", 1000, "-conversations: invites (and messages) per transaction")
	procsFlag := flag.String("procs", "", "scale-out: bizbots processes on one Postgres behind one URL, e.g. 1,2,3")
	flag.BoolVar(&o.kill, "kill", false, "-procs: SIGKILL one process a third into each run, restart it a second later, and check exactly-once and order")
	flag.Var(&configEdits, "set", "KEY=VALUE: change the first line of bizbots' config that sets KEY, for every run (repeatable), e.g. -set max_open_conns=8 -set workers=16")
	flag.StringVar(&o.leaseTimeout, "lease-timeout", "", "bizbots' dispatcher.lease_timeout for the runs (default: the config's, 2m); a killed process's rooms wait this long")
	flag.StringVar(&o.pprofDir, "pprof", "", "save a CPU and an allocation profile of each bizbots run into this directory")
	flag.IntVar(&o.pprofSeconds, "pprof-seconds", 10, "-pprof: seconds each profile covers, from the start of the traffic")
	flag.Parse()
	if env := os.Getenv(storetest.EnvPostgres); env != "" && !isFlagSet("postgres") {
		o.postgres = env
	}
	var err error
	if o.senders, err = intList("senders", *sendersFlag); err != nil {
		fatalf("%v", err)
	}
	if *sweepFlag != "" {
		ints, err := intList("sweep", *sweepFlag)
		if err != nil {
			fatalf("%v", err)
		}
		for _, v := range ints {
			o.sweep = append(o.sweep, float64(v))
		}
		sort.Float64s(o.sweep)
	}
	if *procsFlag != "" {
		if o.procs, err = intList("procs", *procsFlag); err != nil {
			fatalf("%v", err)
		}
	}
	if o.step <= 0 || o.inflight < 1 || o.inviteBatch < 1 || o.pprofSeconds < 1 || o.prefill.events < 0 || o.prefill.rooms < 0 || o.conversations < 0 {
		fatalf("-step, -inflight, -invite-batch and -pprof-seconds must be positive, -prefill-* and -conversations not negative")
	}
	if o.prefill.events > 0 && o.prefill.rooms < 1 {
		fatalf("-prefill-events needs -prefill-rooms (the rooms the messages are spread over)")
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func intList(name, v string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(v, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// result is one run: one target, one sender count, one round.
type result struct {
	Target          string  `json:"target"`
	Senders         int     `json:"senders"`
	Messages        int     `json:"messages"`
	IntakePerSec    float64 `json:"intake_events_per_s"`
	RepliesPerSec   float64 `json:"replies_per_s"`
	AckP50          float64 `json:"ack_p50_ms"`
	AckP99          float64 `json:"ack_p99_ms"`
	ReplyP50        float64 `json:"reply_p50_ms"`
	ReplyP99        float64 `json:"reply_p99_ms"`
	CPUPer1k        float64 `json:"cpu_s_per_1k"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	RequestsPerRply float64 `json:"hs_requests_per_reply"`
	Missing         int     `json:"missing_replies"`
	Duplicates      int     `json:"duplicate_replies"`
	Reorders        int     `json:"replies_out_of_room_order"`
}

// bench holds what every mode shares: the options and the built binaries.
type bench struct {
	o                               options
	root, work, bizbots, comparator string
	prefilled                       *prefillCache
}

func run(o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bizbots-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{o: o, root: root, work: work}
	b.prefilled = &prefillCache{b: b}
	defer b.prefilled.close()
	fmt.Fprintln(os.Stderr, "bench: building bizbots and the comparator ...")
	b.bizbots = filepath.Join(work, "bizbots")
	if out, err := exec.Command("go", "build", "-o", b.bizbots, "./cmd/bizbots").CombinedOutput(); err != nil {
		return fmt.Errorf("build bizbots: %v\n%s", err, out)
	}
	b.comparator = filepath.Join(work, "comparator")
	cmd := exec.Command("go", "build", "-o", b.comparator, ".")
	cmd.Dir = filepath.Join(root, "bench", "comparator")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build comparator: %v\n%s", err, out)
	}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
	}
	switch {
	case o.quick:
		return b.quickMode()
	case len(o.sweep) > 0:
		return b.sweepMode(os.Stdout)
	case o.conversations > 0:
		return b.rssMode(os.Stdout)
	case len(o.procs) > 0:
		return b.scaleOutMode(os.Stdout)
	default:
		return b.tableMode(os.Stdout)
	}
}

// targets resolves -targets. With prefill, each bizbots engine also runs
// as "<engine>+data" on a database holding the prefilled rows.
func (b *bench) targets(names string, prefill prefillSpec) ([]target, error) {
	bo := bizbotsOptions{leaseTimeout: b.o.leaseTimeout, pprof: b.o.pprofDir != ""}
	withData := bo
	if prefill.events > 0 || prefill.rooms > 0 {
		withData.prefill = b.prefilled
	}
	var order []target
	for _, n := range strings.Split(names, ",") {
		switch n {
		case "mautrix":
			order = append(order, comparatorTarget(b.comparator, b.work))
		case "sqlite", "postgres":
			db, dataDB := sqliteDB, sqliteDB
			if n == "postgres" {
				db = postgresDB(b.o.postgres, nil)
				dataDB = postgresDB(b.o.postgres, func() (string, error) {
					return b.prefilled.source(context.Background(), "postgres")
				})
			}
			order = append(order, bizbotsTarget(n, b.bizbots, b.work, db, bo))
			if withData.prefill != nil {
				order = append(order, bizbotsTarget(n+"+data", b.bizbots, b.work, dataDB, withData))
			}
		default:
			return nil, fmt.Errorf("unknown target %q (mautrix, sqlite, postgres)", n)
		}
	}
	return order, nil
}

// tableMode is the side-by-side table of issue 12: closed-loop runs, each
// target and sender count per round, targets alternating.
func (b *bench) tableMode(w io.Writer) error {
	o := b.o
	order, err := b.targets(o.targets, o.prefill)
	if err != nil {
		return err
	}
	var results []result
	for round := 0; round < o.rounds; round++ {
		for i := range order {
			// Alternate: each round starts with the next target.
			t := order[(i+round)%len(order)]
			for _, senders := range o.senders {
				r, err := b.runOnce(t, senders, round)
				if err != nil {
					return fmt.Errorf("%s, %d senders, round %d: %w", t.name, senders, round+1, err)
				}
				fmt.Fprintf(os.Stderr, "bench: round %d %-8s senders=%d  %6.0f replies/s  p99 %.1f ms\n",
					round+1, t.name, senders, r.RepliesPerSec, r.ReplyP99)
				results = append(results, r)
			}
		}
	}
	printTable(w, results, order, o)
	printDelivery(w, results, order)
	if o.prefill.events > 0 || o.prefill.rooms > 0 {
		printGrowth(w, results, o)
	}
	if o.out != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.out, data, 0o644); err != nil {
			return err
		}
	}
	// The comparator promises neither exactly-once nor order; bizbots does.
	for _, r := range results {
		if r.Target != "mautrix" && r.Duplicates+r.Reorders > 0 {
			return fmt.Errorf("bizbots broke its delivery promise (%s, %d senders: %d duplicated, %d out of room order)",
				r.Target, r.Senders, r.Duplicates, r.Reorders)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("run from the bizbots repository: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// runOnce starts t fresh, sends o.txns transactions of o.perTxn messages
// from senders goroutines, and waits for every reply (bounded).
func (b *bench) runOnce(t target, senders, round int) (result, error) {
	o := b.o
	total := o.txns * o.perTxn
	hs, err := newHomeserver("example.org", total)
	if err != nil {
		return result{}, err
	}
	defer hs.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := t.start(ctx, hs, o.rooms)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	ep := p.endpoint()
	profiled := startProfiles(p, o, fmt.Sprintf("%s-s%d-r%d", t.name, senders, round+1))
	r, l, err := measureClosed(ctx, ep, hs, o, senders, nil)
	r.Target = t.name
	if err == nil {
		d := hs.delivery(l)
		r.Duplicates, r.Reorders = d.Duplicates, d.Reorders
		if !d.ok() && t.name != "mautrix" {
			// bizbots promises both: say which messages broke it.
			fmt.Fprintf(os.Stderr, "bench: %s, %d senders: %v\n", t.name, senders, d)
		}
	}
	if perr := profiled(); perr != nil && err == nil {
		err = perr
	}
	if err == nil && r.Missing > 0 {
		err = fmt.Errorf("%d of %d replies never came (log: %s)", r.Missing, total, p.logPath)
	}
	return r, err
}

// measureClosed drives ep closed-loop: senders goroutines each send the
// next of o.txns transactions as soon as the previous one was
// acknowledged; then it waits for every reply (bounded: five minutes, or
// wait if given). onAck, if set, runs after each acknowledgement with the
// number acknowledged so far (the scale-out mode kills a process there).
func measureClosed(ctx context.Context, ep endpoint, hs *homeserver, o options, senders int, onAck func(acked int)) (result, *ledger, error) {
	total := o.txns * o.perTxn
	cpuBefore := cpuOf(ep.pids())
	reqsBefore := hs.requests.Load()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: time.Minute}
	l := newLedger(total)
	var next, acked atomic.Int64
	var acks []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	start := time.Now()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				txn := int(next.Add(1)) - 1
				if txn >= o.txns {
					return
				}
				now := time.Now()
				msgs := make([]int, o.perTxn)
				evs := make([]map[string]any, o.perTxn)
				for i := range evs {
					n := txn*o.perTxn + i
					msgs[i] = n
					hs.sentAt[n].Store(int64(now.Sub(hs.started)))
					evs[i] = messageEvent(n, o.rooms, hs.domain, now)
				}
				ti := l.sent(msgs, now.Sub(hs.started))
				took, _, err := push(ctx, client, ep, fmt.Sprintf("t%d", txn), evs)
				if err != nil {
					errs <- err
					return
				}
				l.acked(ti, time.Since(hs.started))
				mu.Lock()
				acks = append(acks, took)
				mu.Unlock()
				if onAck != nil {
					onAck(int(acked.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	intakeDone := time.Since(start)
	select {
	case err := <-errs:
		return result{}, l, err
	default:
	}
	wait := 5 * time.Minute
	if d, err := time.ParseDuration(o.leaseTimeout); err == nil && d > 0 {
		wait += d // rooms a killed process held wait for their lease to run out
	}
	hs.waitFor(time.Now().Add(wait), func() bool { return hs.replies >= total })
	hs.mu.Lock()
	replies, lats, last := hs.replies, append([]time.Duration(nil), hs.latencies...), hs.lastReply
	hs.mu.Unlock()
	r := result{Senders: senders, Messages: total, Missing: total - replies}
	r.IntakePerSec = float64(total) / intakeDone.Seconds()
	if replies > 0 {
		r.RepliesPerSec = float64(replies) / last.Sub(start).Seconds()
		r.RequestsPerRply = float64(hs.requests.Load()-reqsBefore) / float64(replies)
	}
	r.AckP50, r.AckP99 = pct(acks, 50), pct(acks, 99)
	r.ReplyP50, r.ReplyP99 = pct(lats, 50), pct(lats, 99)
	r.CPUPer1k = (cpuOf(ep.pids()) - cpuBefore) / float64(total) * 1000
	for _, pid := range ep.pids() {
		r.PeakRSSMB = max(r.PeakRSSMB, peakRSSMB(pid))
	}
	return r, l, nil
}

// messageEvent is customer message n, in room n mod rooms.
func messageEvent(n, rooms int, domain string, now time.Time) map[string]any {
	room := roomID(n%rooms, domain)
	return map[string]any{
		"event_id": eventID(fmt.Sprintf("m%d", n)), "room_id": room, "sender": customerOf(room, domain),
		"type": "m.room.message", "origin_server_ts": now.UnixMilli(),
		"content": map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("m %d", n)},
	}
}

func cpuOf(pids []int) float64 {
	s := 0.0
	for _, p := range pids {
		s += cpuSeconds(p)
	}
	return s
}

// push PUTs one transaction until it is acknowledged, as a homeserver
// does, and returns how long the successful attempt took and how many
// attempts it needed (bounded: 300 attempts, 100 ms apart, so a process
// restarting behind the proxy has half a minute).
func push(ctx context.Context, client *http.Client, ep endpoint, txnID string, evs []map[string]any) (time.Duration, int, error) {
	body, _ := json.Marshal(map[string]any{"events": evs})
	for attempt := 1; attempt <= 300; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, ep.url+"/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ep.hsToken)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), attempt, nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return 0, attempt, err
		}
		time.Sleep(100 * time.Millisecond) // the homeserver's retry backoff
	}
	return 0, 300, fmt.Errorf("transaction %s never acknowledged", txnID)
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i]) / float64(time.Millisecond)
}
