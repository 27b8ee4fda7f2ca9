package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bizbots/bizbots/internal/loopport"
)

// roundRobin spreads requests over backends (host:port) in turn, and
// sends a request the backend failed (refused, reset, died mid-request)
// to the next one, as nginx's proxy_next_upstream does for idempotent
// methods: a transaction PUT is idempotent (its txn id makes a replay a
// no-op), so retrying it elsewhere is safe.
type roundRobin struct {
	backends []string
	next     atomic.Uint64
	base     http.RoundTripper
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	first := int(rr.next.Add(1))
	var errs []error
	for i := range rr.backends {
		b := rr.backends[(first+i)%len(rr.backends)]
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = "http", b, b
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		resp, err := rr.base.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return nil, errors.Join(errs...)
}

// startProxy serves a round-robin reverse proxy over backends on ln; it
// returns a func that stops it.
func startProxy(ln net.Listener, backends []string) func() {
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", backends[0] },
		Transport: &roundRobin{backends: backends, base: &http.Transport{MaxIdleConnsPerHost: 64}},
		// A dead backend is the point of the -kill run: its errors are
		// expected, and the homeserver's retry counts them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }
}

// cluster is n `bizbots serve` processes on one Postgres database, each
// with its own appservice listener, behind one proxy URL.
type cluster struct {
	procs    []*process
	addrs    []string
	cfgPaths []string
	dir, bin string
	ep       endpoint
	stop     func()
}

func (b *bench) startCluster(ctx context.Context, hs *homeserver, n int) (*cluster, error) {
	c := &cluster{bin: b.bizbots}
	var cleanup []func()
	c.stop = func() {
		for _, p := range c.procs {
			p.stop()
		}
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	fail := func(err error) (*cluster, error) { c.stop(); return nil, err }
	var err error
	if c.dir, err = os.MkdirTemp(b.work, fmt.Sprintf("procs%d-", n)); err != nil {
		return nil, err
	}
	uri, dropDB, err := postgresDB(b.o.postgres, nil)()
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, dropDB)
	for i := 0; i < n; i++ {
		addr, err := loopport.Free()
		if err != nil {
			return fail(err)
		}
		c.addrs = append(c.addrs, addr)
	}
	// The proxy's URL is the appservice URL the homeserver knows (in the
	// registration); each process listens on its own address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	cleanup = append(cleanup, startProxy(ln, c.addrs))
	url := "http://" + ln.Addr().String()
	var cfg []byte
	var hsToken string
	for i, addr := range c.addrs {
		path := filepath.Join(c.dir, fmt.Sprintf("config%d.yaml", i))
		if i == 0 {
			// One init: every process needs the same tokens.
			if hsToken, err = writeConfig(b.bizbots, path, hs, addr, url, uri, b.o.leaseTimeout); err != nil {
				return fail(err)
			}
			if cfg, err = os.ReadFile(path); err != nil {
				return fail(err)
			}
		} else if err := os.WriteFile(path, bytes.Replace(cfg, []byte(`listen: "`+c.addrs[0]+`"`), []byte(`listen: "`+addr+`"`), 1), 0o600); err != nil {
			return fail(err)
		}
		p := &process{url: "http://" + addr, hsToken: hsToken, logPath: filepath.Join(c.dir, fmt.Sprintf("serve%d.log", i))}
		// One after the other: the first one migrates the database.
		if err := p.serve(ctx, b.bizbots, path, addr, nil); err != nil {
			return fail(err)
		}
		c.procs = append(c.procs, p)
		c.cfgPaths = append(c.cfgPaths, path)
	}
	c.ep = endpoint{url: url, hsToken: hsToken, pids: func() []int {
		var pids []int
		for _, p := range c.procs {
			pids = append(pids, p.pid())
		}
		return pids
	}}
	if err := invite(ctx, c.ep, hs, 0, b.o.rooms, b.o.rooms); err != nil {
		return fail(fmt.Errorf("%w (logs: %s)", err, c.dir))
	}
	return c, nil
}

// killAndRestart SIGKILLs process i, waits for it to die, and starts it
// again with the same config a second later (as systemd's Restart= or a
// container runtime would). It returns when the process was killed and
// when it listens again.
func (c *cluster) killAndRestart(ctx context.Context, i int) (killed, back time.Time, err error) {
	p := c.procs[i]
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	killed = time.Now()
	time.Sleep(time.Second)
	np := &process{url: p.url, hsToken: p.hsToken, logPath: strings.TrimSuffix(p.logPath, ".log") + "-restarted.log"}
	if err := np.serve(ctx, c.bin, c.cfgPaths[i], c.addrs[i], nil); err != nil {
		return killed, time.Time{}, err
	}
	c.procs[i] = np
	return killed, time.Now(), nil
}

// scaleOutResult is one cluster run.
type scaleOutResult struct {
	result
	Procs      int      `json:"procs"`
	Delivery   delivery `json:"delivery"`
	KilledAt   float64  `json:"killed_at_s,omitempty"`       // since the traffic started
	RestartedS float64  `json:"restarted_after_s,omitempty"` // since the kill
	LastReplyS float64  `json:"last_reply_after_kill_s,omitempty"`
}

// scaleOutMode runs, per round, each -procs count (order rotating) with
// each sender count: n processes on a fresh Postgres database behind the
// proxy, closed-loop traffic as in the table; with -kill the last process
// is killed a third into the transactions and restarted. Every run
// checks exactly-once and per-room order from what the homeserver got.
func (b *bench) scaleOutMode(w io.Writer) error {
	o := b.o
	var all []scaleOutResult
	var bad []string
	for round := 0; round < o.rounds; round++ {
		for i := range o.procs {
			n := o.procs[(i+round)%len(o.procs)]
			for _, senders := range o.senders {
				r, err := b.scaleOutRun(n, senders)
				if err != nil {
					return fmt.Errorf("%d processes, %d senders, round %d: %w", n, senders, round+1, err)
				}
				fmt.Fprintf(os.Stderr, "bench: procs=%d senders=%d  %6.0f replies/s  %s\n", n, senders, r.RepliesPerSec, r.Delivery)
				if !r.Delivery.ok() {
					bad = append(bad, fmt.Sprintf("%d processes, %d senders, round %d: %s", n, senders, round+1, r.Delivery))
				}
				all = append(all, r)
			}
		}
	}
	kill := "no process killed"
	if o.kill {
		kill = "the last process SIGKILLed a third into each run and restarted 1 s later"
	}
	fmt.Fprintf(w, "\nScale-out: bizbots processes on one Postgres database behind one round-robin proxy; %d transactions × %d messages in %d rooms; %s\n\n",
		o.txns, o.perTxn, o.rooms, kill)
	fmt.Fprintln(w, "| processes | senders | round | intake ev/s | replies/s | reply p50 ms | reply p99 ms | CPU s/1k msg | killed at s | back after s | last reply after kill s | delivery |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, r := range all {
		killCols := "— | — | —"
		if o.kill {
			killCols = fmt.Sprintf("%.1f | %.1f | %.1f", r.KilledAt, r.RestartedS, r.LastReplyS)
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Procs, r.Senders, i/(len(o.procs)*len(o.senders))+1,
			num(r.IntakePerSec), num(r.RepliesPerSec), num(r.ReplyP50), num(r.ReplyP99), num(r.CPUPer1k), killCols, r.Delivery)
	}
	fmt.Fprintln(w, "\n| processes | senders | replies/s, median over rounds | ÷ 1 process |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, senders := range o.senders {
		base := 0.0
		for _, n := range o.procs {
			var v []float64
			for _, r := range all {
				if r.Procs == n && r.Senders == senders {
					v = append(v, r.RepliesPerSec)
				}
			}
			sort.Float64s(v)
			m := v[len(v)/2]
			if n == 1 {
				base = m
			}
			ratio := "—"
			if base > 0 {
				ratio = fmt.Sprintf("×%.2f", m/base)
			}
			fmt.Fprintf(w, "| %d | %d | %s | %s |\n", n, senders, num(m), ratio)
		}
	}
	if err := saveJSON(o.out, all); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("delivery broken:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

func (b *bench) scaleOutRun(n, senders int) (scaleOutResult, error) {
	o := b.o
	total := o.txns * o.perTxn
	hs, err := newHomeserver("example.org", total)
	if err != nil {
		return scaleOutResult{}, err
	}
	defer hs.close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := b.startCluster(ctx, hs, n)
	if err != nil {
		return scaleOutResult{}, err
	}
	defer c.stop()
	out := scaleOutResult{Procs: n}
	var once sync.Once
	var killWG sync.WaitGroup
	var killErr error
	var killed, back time.Time
	onAck := func(acked int) {
		if !o.kill || acked < max(1, o.txns/3) {
			return
		}
		once.Do(func() {
			killWG.Add(1)
			go func() {
				defer killWG.Done()
				killed, back, killErr = c.killAndRestart(ctx, n-1)
			}()
		})
	}
	started := time.Now()
	r, l, err := measureClosed(ctx, c.ep, hs, o, senders, onAck)
	killWG.Wait()
	if err != nil {
		return out, fmt.Errorf("%w (logs: %s)", err, c.dir)
	}
	if killErr != nil {
		return out, fmt.Errorf("restart after kill: %w", killErr)
	}
	r.Target = fmt.Sprintf("postgres×%d", n)
	out.result = r
	out.Delivery = hs.delivery(l)
	hs.mu.Lock()
	last := hs.lastReply
	hs.mu.Unlock()
	if !killed.IsZero() {
		out.KilledAt = killed.Sub(started).Seconds()
		out.RestartedS = back.Sub(killed).Seconds()
		out.LastReplyS = last.Sub(killed).Seconds()
	}
	return out, nil
}
