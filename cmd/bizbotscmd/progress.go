package bizbotscmd

import (
	"fmt"
	"io"
	"time"
)

// progress shows how far a long command has come: a line rewritten in
// place on a terminal (at most 10 times a second), nothing otherwise, so
// logs and pipes stay clean.
type progress struct {
	w     io.Writer
	what  string
	tty   bool
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, tty: isTerminal(w), start: time.Now()}
}

func (p *progress) update(done, total int, unit string) {
	if !p.tty || time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	left := ""
	if el := time.Since(p.start); done > 0 && done < total && el > time.Second {
		left = fmt.Sprintf(", about %s left", (el * time.Duration(total-done) / time.Duration(done)).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r%s: %d/%d %s (%d%%)%s   ", p.what, done, total, unit, pct, left)
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
