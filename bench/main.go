// Command bench measures bizbots' message path against the yardstick of
// issue 12: a bare mautrix-go appservice echo bot (bench/comparator, its
// own module), driven with the same traffic through a fake homeserver on
// loopback, in one run, alternating targets over several rounds. It
// prints a table of intake events/s, replies/s, transaction ack p50/p99,
// message → reply p50/p99, CPU seconds per 1 000 messages and peak RSS,
// each with its ratio to the comparator.
//
//	go run ./bench            # 3 rounds, 30 transactions of 100 messages per run
//	go run ./bench -quick     # a smoke run (CI): 1 round, 3 transactions
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
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "a smoke run: 1 round of 3 transactions per target and mode")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; targets alternate within each")
	flag.IntVar(&o.txns, "txns", 30, "transactions per run")
	flag.IntVar(&o.perTxn, "events", 100, "messages per transaction")
	flag.IntVar(&o.rooms, "rooms", 100, "direct chats the messages are spread over")
	sendersFlag := flag.String("senders", "1,8", "concurrent transaction senders, one run each")
	flag.StringVar(&o.targets, "targets", "mautrix,sqlite,postgres", "targets")
	flag.StringVar(&o.postgres, "postgres", storetest.DefaultPostgres(), "admin URI of the Postgres server, a database is made per run (default: $"+storetest.EnvPostgres+" or the local server)")
	flag.StringVar(&o.out, "json", "", "also write the results as JSON to this file")
	flag.Parse()
	if env := os.Getenv(storetest.EnvPostgres); env != "" && !isFlagSet("postgres") {
		o.postgres = env
	}
	if *quick {
		o.rounds, o.txns = 1, 3
	}
	for _, s := range strings.Split(*sendersFlag, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			fatalf("-senders: %q is not a positive number", s)
		}
		o.senders = append(o.senders, n)
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
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
	AckP50, AckP99  float64 `json:"-"`
	ReplyP50        float64 `json:"reply_p50_ms"`
	ReplyP99        float64 `json:"reply_p99_ms"`
	CPUPer1k        float64 `json:"cpu_s_per_1k"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	RequestsPerRply float64 `json:"hs_requests_per_reply"`
	Missing         int     `json:"missing_replies"`
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
	fmt.Fprintln(os.Stderr, "bench: building bizbots and the comparator ...")
	bizbots := filepath.Join(work, "bizbots")
	if out, err := exec.Command("go", "build", "-o", bizbots, "./cmd/bizbots").CombinedOutput(); err != nil {
		return fmt.Errorf("build bizbots: %v\n%s", err, out)
	}
	comparator := filepath.Join(work, "comparator")
	cmd := exec.Command("go", "build", "-o", comparator, ".")
	cmd.Dir = filepath.Join(root, "bench", "comparator")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build comparator: %v\n%s", err, out)
	}
	all := map[string]target{
		"mautrix":  comparatorTarget(comparator, work),
		"sqlite":   bizbotsTarget("sqlite", bizbots, work, sqliteDB),
		"postgres": bizbotsTarget("postgres", bizbots, work, postgresDB(o.postgres)),
	}
	var order []target
	for _, n := range strings.Split(o.targets, ",") {
		t, ok := all[n]
		if !ok {
			return fmt.Errorf("unknown target %q (mautrix, sqlite, postgres)", n)
		}
		order = append(order, t)
	}
	var results []result
	for round := 0; round < o.rounds; round++ {
		for i := range order {
			// Alternate: each round starts with the next target.
			t := order[(i+round)%len(order)]
			for _, senders := range o.senders {
				r, err := runOnce(t, o, senders, work)
				if err != nil {
					return fmt.Errorf("%s, %d senders, round %d: %w", t.name, senders, round+1, err)
				}
				fmt.Fprintf(os.Stderr, "bench: round %d %-8s senders=%d  %6.0f replies/s  p99 %.1f ms\n",
					round+1, t.name, senders, r.RepliesPerSec, r.ReplyP99)
				results = append(results, r)
			}
		}
	}
	printTable(os.Stdout, results, order, o)
	if o.out != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.out, data, 0o644); err != nil {
			return err
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
func runOnce(t target, o options, senders int, work string) (result, error) {
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
	reqsBefore := hs.requests.Load()
	cpuBefore := cpuSeconds(p.cmd.Process.Pid)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: time.Minute}
	var next atomic.Int64
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
				evs := make([]map[string]any, o.perTxn)
				now := time.Now()
				for i := range evs {
					n := txn*o.perTxn + i
					room := roomID(n%o.rooms, hs.domain)
					hs.sentAt[n].Store(int64(now.Sub(hs.started)))
					evs[i] = map[string]any{
						"event_id": fmt.Sprintf("$m%d", n), "room_id": room, "sender": customerOf(room, hs.domain),
						"type": "m.room.message", "origin_server_ts": now.UnixMilli(),
						"content": map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("m %d", n)},
					}
				}
				took, err := push(ctx, client, p, fmt.Sprintf("t%d", txn), evs)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acks = append(acks, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	intakeDone := time.Since(start)
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	hs.waitFor(time.Now().Add(5*time.Minute), func() bool { return hs.replies >= total })
	hs.mu.Lock()
	replies, lats, last := hs.replies, append([]time.Duration(nil), hs.latencies...), hs.lastReply
	hs.mu.Unlock()
	r := result{Target: t.name, Senders: senders, Messages: total, Missing: total - replies}
	r.IntakePerSec = float64(total) / intakeDone.Seconds()
	if replies > 0 {
		r.RepliesPerSec = float64(replies) / last.Sub(start).Seconds()
		r.RequestsPerRply = float64(hs.requests.Load()-reqsBefore) / float64(replies)
	}
	r.AckP50, r.AckP99 = pct(acks, 50), pct(acks, 99)
	r.ReplyP50, r.ReplyP99 = pct(lats, 50), pct(lats, 99)
	r.CPUPer1k = (cpuSeconds(p.cmd.Process.Pid) - cpuBefore) / float64(total) * 1000
	r.PeakRSSMB = peakRSSMB(p.cmd.Process.Pid)
	if r.Missing > 0 {
		return r, fmt.Errorf("%d of %d replies never came (log: %s)", r.Missing, total, p.logPath)
	}
	return r, nil
}

// push PUTs one transaction and returns how long the ack took.
func push(ctx context.Context, client *http.Client, p *process, txnID string, evs []map[string]any) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{"events": evs})
	for attempt := 0; attempt < 50; attempt++ { // a homeserver retries until 200
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, p.url+"/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+p.hsToken)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return 0, err
		}
		time.Sleep(100 * time.Millisecond) // the homeserver's retry backoff
	}
	return 0, fmt.Errorf("transaction %s never acknowledged", txnID)
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
