package main

import (
	"fmt"
	"io"
	"sort"
)

// printTable prints, per target and sender count, the median over rounds
// of each figure and its ratio to the comparator (higher is better for
// rates, lower for times and costs; the ratio is always "bizbots is N×
// as good").
func printTable(w io.Writer, results []result, order []target, o options) {
	type key struct {
		target  string
		senders int
	}
	groups := map[key][]result{}
	for _, r := range results {
		k := key{r.Target, r.Senders}
		groups[k] = append(groups[k], r)
	}
	med := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	type col struct {
		name   string
		f      func(result) float64
		higher bool
	}
	cols := []col{
		{"intake ev/s", func(r result) float64 { return r.IntakePerSec }, true},
		{"replies/s", func(r result) float64 { return r.RepliesPerSec }, true},
		{"ack p50 ms", func(r result) float64 { return r.AckP50 }, false},
		{"ack p99 ms", func(r result) float64 { return r.AckP99 }, false},
		{"reply p50 ms", func(r result) float64 { return r.ReplyP50 }, false},
		{"reply p99 ms", func(r result) float64 { return r.ReplyP99 }, false},
		{"CPU s/1k msg", func(r result) float64 { return r.CPUPer1k }, false},
		{"peak RSS MB", func(r result) float64 { return r.PeakRSSMB }, false},
		{"HS req/reply", func(r result) float64 { return r.RequestsPerRply }, false},
	}
	fmt.Fprintf(w, "\n%d round(s), %d transactions × %d messages in %d rooms per run; medians; (×N) = as good as the comparator N times\n\n",
		o.rounds, o.txns, o.perTxn, o.rooms)
	fmt.Fprint(w, "| target | senders |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.name)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, senders := range o.senders {
		base := groups[key{"mautrix", senders}]
		for _, t := range order {
			rs := groups[key{t.name, senders}]
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %d |", t.name, senders)
			for _, c := range cols {
				v := med(rs, c.f)
				fmt.Fprintf(w, " %s", num(v))
				if len(base) > 0 && t.name != "mautrix" {
					b := med(base, c.f)
					if ratio := ratioOf(v, b, c.higher); ratio > 0 {
						fmt.Fprintf(w, " (×%.2f)", ratio)
					}
				}
				fmt.Fprint(w, " |")
			}
			fmt.Fprintln(w)
		}
	}
}

func ratioOf(v, base float64, higher bool) float64 {
	if v == 0 || base == 0 {
		return 0
	}
	if higher {
		return v / base
	}
	return base / v
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// printGrowth compares each engine on the prefilled database with the
// same engine on an empty one, in the same run (medians over rounds).
func printGrowth(w io.Writer, results []result, o options) {
	medianOf := func(target string, senders int, f func(result) float64) (float64, bool) {
		var v []float64
		for _, r := range results {
			if r.Target == target && r.Senders == senders {
				v = append(v, f(r))
			}
		}
		if len(v) == 0 {
			return 0, false
		}
		sort.Float64s(v)
		return v[len(v)/2], true
	}
	fmt.Fprintf(w, "\nData growth: %d stored messages in %d rooms against an empty database (same run; ratio = with data ÷ empty)\n\n",
		o.prefill.events, o.prefill.rooms)
	fmt.Fprintln(w, "| engine | senders | replies/s empty | replies/s with data | ratio | reply p99 ms empty | with data |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, s := range o.senders {
			empty, ok1 := medianOf(engine, s, func(r result) float64 { return r.RepliesPerSec })
			full, ok2 := medianOf(engine+"+data", s, func(r result) float64 { return r.RepliesPerSec })
			if !ok1 || !ok2 {
				continue
			}
			p99e, _ := medianOf(engine, s, func(r result) float64 { return r.ReplyP99 })
			p99f, _ := medianOf(engine+"+data", s, func(r result) float64 { return r.ReplyP99 })
			ratio := 0.0
			if empty > 0 {
				ratio = full / empty
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | ×%.2f | %s | %s |\n", engine, s, num(empty), num(full), ratio, num(p99e), num(p99f))
		}
	}
}

// printDelivery says, per target, whether every run answered each message
// exactly once and each room in order (the comparator promises neither).
func printDelivery(w io.Writer, results []result, order []target) {
	fmt.Fprintln(w)
	for _, t := range order {
		runs, missing, dups, reorders := 0, 0, 0, 0
		for _, r := range results {
			if r.Target == t.name {
				runs++
				missing += r.Missing
				dups += r.Duplicates
				reorders += r.Reorders
			}
		}
		verdict := "exactly once, in order"
		if missing+dups+reorders > 0 {
			verdict = fmt.Sprintf("%d missing, %d duplicated, %d out of room order", missing, dups, reorders)
		}
		fmt.Fprintf(w, "Delivery, %s (%d runs): %s\n", t.name, runs, verdict)
	}
}
