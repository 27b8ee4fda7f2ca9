package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

// feedStats is what the homeserver's sending side saw in one step.
type feedStats struct {
	Txns, Retries  int
	AckP50, AckP99 float64 // ms, successful attempts
	MaxQueue       int     // events waiting to be sent, the most seen
	EndQueue       int     // events still waiting when the offered window closed
	MaxWaitMs      float64 // longest an event waited before its transaction was first sent
	EventsPerTxn   float64
}

// feedOpenLoop plays a homeserver with rate messages/s arriving for dur:
// message n arrives at start + n/rate whatever the appservice does
// (open loop), joins the homeserver's queue, and up to inflight
// transactions at a time carry what is queued (at most perTxn events
// each) to the appservice, retried until acknowledged. Message n's
// arrival time is its sentAt, so a message's latency includes the time it
// waited at the homeserver.
func feedOpenLoop(ctx context.Context, ep endpoint, hs *homeserver, l *ledger, rate float64, dur time.Duration, perTxn, rooms, inflight int) (feedStats, error) {
	total := len(hs.sentAt)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inflight}, Timeout: time.Minute}
	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		queue    []int
		genDone  bool
		failed   error
		st       feedStats
		acks     []time.Duration
		txnCount int
	)
	start := time.Since(hs.started)
	at := func(n int) time.Duration { return start + time.Duration(float64(n)/rate*float64(time.Second)) }
	var wg sync.WaitGroup
	for i := 0; i < inflight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				for len(queue) == 0 && !genDone && failed == nil {
					cond.Wait()
				}
				if failed != nil || len(queue) == 0 {
					mu.Unlock()
					return
				}
				take := append([]int(nil), queue[:min(perTxn, len(queue))]...)
				queue = queue[len(take):]
				id := txnCount
				txnCount++
				mu.Unlock()
				now := time.Now()
				since := now.Sub(hs.started)
				evs := make([]map[string]any, len(take))
				for i, n := range take {
					evs[i] = messageEvent(n, rooms, hs.domain, now)
				}
				ti := l.sent(take, since)
				took, attempts, err := push(ctx, client, ep, fmt.Sprintf("o%d", id), evs)
				mu.Lock()
				if err != nil {
					failed = err
					cond.Broadcast()
					mu.Unlock()
					return
				}
				l.acked(ti, time.Since(hs.started))
				st.Txns++
				st.Retries += attempts - 1
				acks = append(acks, took)
				st.MaxWaitMs = math.Max(st.MaxWaitMs, float64(since-time.Duration(hs.sentAt[take[0]].Load()))/float64(time.Millisecond))
				mu.Unlock()
			}
		}()
	}
	// The generator wakes every millisecond (or later, on a busy machine)
	// and queues every message whose arrival time has come.
	next := 0
	for next < total && ctx.Err() == nil {
		due := min(total, int(math.Floor((time.Since(hs.started)-start).Seconds()*rate))+1)
		mu.Lock()
		for ; next < due; next++ {
			hs.sentAt[next].Store(int64(at(next)))
			queue = append(queue, next)
		}
		st.MaxQueue = max(st.MaxQueue, len(queue))
		cond.Broadcast()
		bad := failed
		mu.Unlock()
		if bad != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	st.EndQueue = len(queue)
	genDone = true
	cond.Broadcast()
	mu.Unlock()
	wg.Wait()
	if failed != nil {
		return st, failed
	}
	st.AckP50, st.AckP99 = pct(acks, 50), pct(acks, 99)
	if st.Txns > 0 {
		st.EventsPerTxn = float64(total) / float64(st.Txns)
	}
	return st, nil
}

// stepResult is one target at one offered rate.
type stepResult struct {
	Target     string    `json:"target"`
	Kind       string    `json:"kind"` // sweep, half-max, 2x-max
	Offered    float64   `json:"offered_per_s"`
	Messages   int       `json:"messages"`
	Replies    float64   `json:"replies_per_s"`
	P50        float64   `json:"reply_p50_ms"`
	P99        float64   `json:"reply_p99_ms"`
	Unanswered int       `json:"unanswered"`
	Duplicates int       `json:"duplicates"`
	HS         feedStats `json:"homeserver"`
	CPUPer1k   float64   `json:"cpu_s_per_1k"`
	PeakRSSMB  float64   `json:"peak_rss_mb"`
}

// runStep starts t fresh and offers rate messages/s for o.step, then waits
// for the replies (bounded: twice the step plus 20 s). Replies/s counts
// the replies that arrived in the offered window after its first fifth
// (the warm-up); p50/p99 cover every message of the step, and a message
// never answered counts with the time it waited until the end.
func (b *bench) runStep(t target, rate float64, kind string) (stepResult, error) {
	o := b.o
	total := max(1, int(rate*o.step.Seconds()))
	hs, err := newHomeserver("example.org", total)
	if err != nil {
		return stepResult{}, err
	}
	defer hs.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+3*o.step)
	defer cancel()
	p, err := t.start(ctx, hs, o.rooms)
	if err != nil {
		return stepResult{}, err
	}
	defer p.stop()
	ep := p.endpoint()
	cpuBefore := cpuOf(ep.pids())
	profiled := startProfiles(p, o, fmt.Sprintf("%s-%s-%.0f", t.name, kind, rate))
	l := newLedger(total)
	start := time.Since(hs.started)
	st, err := feedOpenLoop(ctx, ep, hs, l, rate, o.step, o.perTxn, o.rooms, o.inflight)
	if err != nil {
		return stepResult{}, fmt.Errorf("%w (log: %s)", err, p.logPath)
	}
	hs.waitFor(time.Now().Add(2*o.step+20*time.Second), func() bool { return hs.replies >= total })
	end := time.Since(hs.started)
	r := stepResult{Target: t.name, Kind: kind, Offered: rate, Messages: total, HS: st}
	warm := start + o.step/5
	window := start + o.step
	hs.mu.Lock()
	inWindow := 0
	lats := make([]time.Duration, total)
	for n := 0; n < total; n++ {
		sent := time.Duration(hs.sentAt[n].Load())
		if at := hs.replyAt[n]; at > 0 {
			lats[n] = at - sent
			if at >= warm && at <= window {
				inWindow++
			}
		} else {
			lats[n] = end - sent
			r.Unanswered++
		}
	}
	r.Duplicates = hs.dups
	hs.mu.Unlock()
	r.Replies = float64(inWindow) / (window - warm).Seconds()
	r.P50, r.P99 = pct(lats, 50), pct(lats, 99)
	r.CPUPer1k = (cpuOf(ep.pids()) - cpuBefore) / float64(total) * 1000
	r.PeakRSSMB = peakRSSMB(p.pid())
	if err := profiled(); err != nil {
		return r, err
	}
	return r, nil
}

// sustains says whether a step kept up: replies/s at least 95 % of the
// offered rate.
func (r stepResult) sustains() bool { return r.Replies >= 0.95*r.Offered }

// maxLoad is the highest offered rate a target sustained, 0 if none.
func maxLoad(steps []stepResult) float64 {
	m := 0.0
	for _, s := range steps {
		if s.Kind == "sweep" && s.sustains() {
			m = math.Max(m, s.Offered)
		}
	}
	return m
}

// sweepMode offers each -sweep rate to each target (a fresh process per
// step, the targets' order rotating from step to step), then, per target,
// half and twice its maximum load; prints the tables and writes the plot.
func (b *bench) sweepMode(w io.Writer) error {
	o := b.o
	order, err := b.targets(o.targets, prefillSpec{})
	if err != nil {
		return err
	}
	var all []stepResult
	for si, rate := range o.sweep {
		for i := range order {
			t := order[(i+si)%len(order)]
			r, err := b.runStep(t, rate, "sweep")
			if err != nil {
				return fmt.Errorf("%s at %.0f/s: %w", t.name, rate, err)
			}
			fmt.Fprintf(os.Stderr, "bench: sweep %-8s offered %6.0f/s  replies %6.0f/s  p99 %.1f ms\n", t.name, rate, r.Replies, r.P99)
			all = append(all, r)
		}
	}
	if o.probe {
		for _, t := range order {
			m := maxLoad(stepsOf(all, t.name))
			if m == 0 {
				fmt.Fprintf(os.Stderr, "bench: %s sustained no step; no half/double probe\n", t.name)
				continue
			}
			for _, p := range []struct {
				kind string
				rate float64
			}{{"half-max", m / 2}, {"2x-max", 2 * m}} {
				r, err := b.runStep(t, p.rate, p.kind)
				if err != nil {
					return fmt.Errorf("%s at %.0f/s (%s): %w", t.name, p.rate, p.kind, err)
				}
				fmt.Fprintf(os.Stderr, "bench: %-8s %-8s %6.0f/s  replies %6.0f/s  p99 %.1f ms\n", p.kind, t.name, p.rate, r.Replies, r.P99)
				all = append(all, r)
			}
		}
	}
	printSweep(w, all, order, o)
	if o.plot != "" {
		var series []plotSeries
		for _, t := range order {
			s := plotSeries{Name: t.name}
			for _, r := range stepsOf(all, t.name) {
				if r.Kind == "sweep" {
					s.Points = append(s.Points, plotPoint{Offered: r.Offered, Replies: r.Replies, P99ms: r.P99})
				}
			}
			series = append(series, s)
		}
		f, err := os.Create(o.plot)
		if err != nil {
			return err
		}
		title := fmt.Sprintf("echo bot, open loop, %s per step, %d rooms, %d transaction(s) in flight", o.step, o.rooms, o.inflight)
		if err := writeLoadPlot(f, title, series); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nPlot: %s\n", o.plot)
	}
	return saveJSON(o.out, all)
}

func stepsOf(all []stepResult, target string) []stepResult {
	var out []stepResult
	for _, r := range all {
		if r.Target == target {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offered < out[j].Offered })
	return out
}

func printSweep(w io.Writer, all []stepResult, order []target, o options) {
	fmt.Fprintf(w, "\nOffered-load sweep: open loop, %s per step, %d rooms, ≤ %d messages per transaction, %d in flight; replies/s after a fifth of warm-up\n\n",
		o.step, o.rooms, o.perTxn, o.inflight)
	fmt.Fprintln(w, "| target | step | offered/s | replies/s | reply p50 ms | reply p99 ms | unanswered | HS txns | HS retries | ack p99 ms | HS queue max | queue at end | max wait at HS ms | CPU s/1k | RSS MB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range order {
		for _, r := range stepsOf(all, t.name) {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %d | %d | %s | %d | %d | %s | %s | %s |\n",
				r.Target, r.Kind, num(r.Offered), num(r.Replies), num(r.P50), num(r.P99), r.Unanswered,
				r.HS.Txns, r.HS.Retries, num(r.HS.AckP99), r.HS.MaxQueue, r.HS.EndQueue, num(r.HS.MaxWaitMs), num(r.CPUPer1k), num(r.PeakRSSMB))
		}
	}
	fmt.Fprintln(w, "\n| target | max load (replies ≥ 95 % offered) | p99 at half max, ms | at 2× max: replies/s, p99 ms, HS retries, HS queue max / at end, max wait at HS ms |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, t := range order {
		steps := stepsOf(all, t.name)
		m := maxLoad(steps)
		half, dbl := "—", "—"
		for _, r := range steps {
			switch r.Kind {
			case "half-max":
				half = num(r.P99)
			case "2x-max":
				dbl = fmt.Sprintf("%s/s of %s offered, %s, %d, %d / %d, %s", num(r.Replies), num(r.Offered), num(r.P99), r.HS.Retries, r.HS.MaxQueue, r.HS.EndQueue, num(r.HS.MaxWaitMs))
			}
		}
		maxS := num(m)
		if m == 0 {
			maxS = "none sustained"
		} else if m == o.sweep[len(o.sweep)-1] {
			maxS += " (the top step: not saturated)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.name, maxS, half, dbl)
	}
}

func saveJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	return os.WriteFile(path, data, 0o644)
}
