package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// rssMode opens o.conversations DMs with each bizbots target (invites in
// transactions of o.inviteBatch; the bot joins and greets each), then
// sends one message in each (same batches) and waits for every reply. It
// reports the bizbots process's peak RSS (VmHWM) and its RSS at the end,
// and how long each phase took. The comparator, which keeps nothing per
// room and ignores invites, gets the messages only.
func (b *bench) rssMode(w io.Writer) error {
	o := b.o
	order, err := b.targets(o.targets, prefillSpec{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d conversations: invites then one message each, %d per transaction\n\n", o.conversations, o.inviteBatch)
	fmt.Fprintln(w, "| target | open DMs, s | greeted/s | answer all, s | replies/s | peak RSS MB | RSS at end MB | unanswered |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, t := range order {
		if err := b.rssRun(w, t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

func (b *bench) rssRun(w io.Writer, t target) error {
	o := b.o
	n := o.conversations
	hs, err := newHomeserver("example.org", n)
	if err != nil {
		return err
	}
	defer hs.close()
	// Bounded: each phase gets two minutes plus 20 ms per conversation.
	phase := 2*time.Minute + time.Duration(n)*20*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 2*phase+5*time.Minute)
	defer cancel()
	p, err := t.start(ctx, hs, 0)
	if err != nil {
		return err
	}
	defer p.stop()
	stopProgress := progress(hs, t.name, n, p.pid())
	defer stopProgress()
	ep := p.endpoint()
	began := time.Now()
	if t.name != "mautrix" {
		if err := invite(ctx, ep, hs, 0, n, o.inviteBatch); err != nil {
			return fmt.Errorf("%w (log: %s)", err, p.logPath)
		}
	}
	opened := time.Since(began)
	began = time.Now()
	for lo := 0; lo < n; lo += o.inviteBatch {
		now := time.Now()
		var evs []map[string]any
		for m := lo; m < min(lo+o.inviteBatch, n); m++ {
			hs.sentAt[m].Store(int64(now.Sub(hs.started)))
			evs = append(evs, messageEvent(m, n, hs.domain, now)) // message m in room m
		}
		if _, _, err := push(ctx, http.DefaultClient, ep, fmt.Sprintf("msgs%d", lo), evs); err != nil {
			return fmt.Errorf("%w (log: %s)", err, p.logPath)
		}
	}
	hs.waitFor(time.Now().Add(phase), func() bool { return hs.replies >= n })
	answered := time.Since(began)
	hs.mu.Lock()
	replies := hs.replies
	hs.mu.Unlock()
	greetRate := "—"
	if t.name != "mautrix" {
		greetRate = num(float64(n) / opened.Seconds())
	}
	fmt.Fprintf(w, "| %s | %.1f | %s | %.1f | %s | %s | %s | %d |\n", t.name, opened.Seconds(), greetRate, answered.Seconds(),
		num(float64(replies)/answered.Seconds()), num(peakRSSMB(p.pid())), num(rssMB(p.pid())), n-replies)
	if replies < n {
		return fmt.Errorf("%d of %d replies never came (log: %s)", n-replies, n, p.logPath)
	}
	return nil
}

// rssMB is the process's resident set now (VmRSS) in MB.
func rssMB(pid int) float64 { return procStatusMB(pid, "VmRSS:") }

// progress prints, every 30 s until stopped, how many rooms were greeted
// and answered so far (the long runs of this mode take minutes).
func progress(hs *homeserver, name string, n, pid int) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				hs.mu.Lock()
				g, r := hs.welcomes, hs.replies
				hs.mu.Unlock()
				fmt.Fprintf(os.Stderr, "bench: %s: %d of %d greeted, %d answered, RSS %.0f MB\n", name, g, n, r, rssMB(pid))
			}
		}
	}()
	return func() { close(done); <-finished }
}
