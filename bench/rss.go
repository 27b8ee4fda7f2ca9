package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
	bound := 10*time.Minute + time.Duration(n)*20*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	p, err := t.start(ctx, hs, 0)
	if err != nil {
		return err
	}
	defer p.stop()
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
	hs.waitFor(time.Now().Add(bound/2), func() bool { return hs.replies >= n })
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
