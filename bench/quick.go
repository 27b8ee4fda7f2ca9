package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// quickMode is the CI smoke run: every mode once, in tiny form, so a
// change that breaks one shows up; none of its numbers mean anything.
func (b *bench) quickMode() error {
	w := os.Stdout
	base := b.o
	defer func() { b.o = base }()
	steps := []struct {
		name string
		set  func(o *options)
		run  func() error
	}{
		{"table", func(o *options) { o.rounds, o.txns = 1, 3 }, func() error { return b.tableMode(w) }},
		{"sweep", func(o *options) {
			o.targets, o.sweep, o.step, o.probe = "mautrix,sqlite", []float64{50, 100}, time.Second, false
			o.plot = filepath.Join(b.work, "quick-load.svg")
		}, func() error { return b.sweepMode(w) }},
		{"data growth", func(o *options) {
			o.rounds, o.txns, o.targets, o.senders, o.prefill = 1, 2, "sqlite", []int{1}, prefillSpec{events: 2000, rooms: 300}
		}, func() error { return b.tableMode(w) }},
		{"conversations", func(o *options) { o.targets, o.conversations, o.inviteBatch = "sqlite", 300, 100 },
			func() error { return b.rssMode(w) }},
		{"scale-out", func(o *options) {
			o.rounds, o.txns, o.senders, o.procs, o.kill, o.leaseTimeout = 1, 6, []int{1}, []int{2}, true, "5s"
		}, func() error { return b.scaleOutMode(w) }},
	}
	for _, s := range steps {
		b.o = base
		b.o.out = ""
		s.set(&b.o)
		began := time.Now()
		if err := s.run(); err != nil {
			return fmt.Errorf("quick %s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "bench: quick %s took %.1f s\n", s.name, time.Since(began).Seconds())
	}
	return nil
}
