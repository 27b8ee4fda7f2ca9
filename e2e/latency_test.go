package e2e

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// latencySample is one message → reply round trip, three ways:
//
//   - Driver: from the Go test writing "send" to client.py until it parsed
//     the reply's event line (client.py, the pipe and the parse included).
//   - Client: from client.py starting the send request until its sync loop
//     received the reply (what a user's client sees).
//   - Server: the reply's origin_server_ts minus the message's: Dendrite
//     pushing the transaction, bizbots storing, handling and sending the
//     reply, Dendrite accepting it (no client sync in it). Millisecond
//     resolution.
type latencySample struct {
	Driver, Client, Server time.Duration
}

// measureLatency sends n numbered messages one at a time ("<prefix> i"),
// each after the previous reply arrived, and times every round trip.
func measureLatency(tb testing.TB, d *dm, prefix string, n int) []latencySample {
	tb.Helper()
	user := "@alice:localhost"
	out := make([]latencySample, 0, n)
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("%s %d", prefix, i)
		want := echo(body)
		start := time.Now()
		if err := d.cs.Send(body); err != nil {
			tb.Fatal(err)
		}
		lines, err := d.cs.WaitFor(30*time.Second, "the reply to "+body, func(ls []harness.ClientLine) bool {
			for j := len(ls) - 1; j >= 0; j-- {
				if ls[j].Kind == "event" && ls[j].Sender == d.bot && ls[j].Body == want {
					return true
				}
			}
			return false
		})
		driver := time.Since(start)
		if err != nil {
			tb.Fatal(err)
		}
		var sent, mine, reply *harness.ClientLine
		for j := range lines {
			l := &lines[j]
			switch {
			case l.Kind == "sent" && l.Body == body:
				sent = l
			case l.Kind == "event" && l.Sender == user && l.Body == body:
				mine = l
			case l.Kind == "event" && l.Sender == d.bot && l.Body == want:
				reply = l
			}
		}
		s := latencySample{Driver: driver}
		if sent != nil && reply != nil && sent.TSend > 0 && reply.TRecv > 0 {
			s.Client = time.Duration((reply.TRecv - sent.TSend) * float64(time.Second))
		}
		if mine != nil && reply != nil {
			s.Server = time.Duration(reply.OriginServerTS-mine.OriginServerTS) * time.Millisecond
		}
		out = append(out, s)
	}
	return out
}

// pct returns the q-quantile (0..1) of ds by the nearest-rank method.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(q*float64(len(s)))) - 1
	if k < 0 {
		k = 0
	}
	return s[k]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type latencyStats struct {
	Name                     string
	P50, P90, P99, Max, Mean time.Duration
	N                        int
}

func summarize(name string, ds []time.Duration) latencyStats {
	st := latencyStats{Name: name, N: len(ds), P50: pct(ds, .5), P90: pct(ds, .9), P99: pct(ds, .99), Max: pct(ds, 1)}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	if len(ds) > 0 {
		st.Mean = sum / time.Duration(len(ds))
	}
	return st
}

func (s latencyStats) String() string {
	return fmt.Sprintf("%-7s n=%d  p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %6.1f ms  mean %6.1f ms",
		s.Name, s.N, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(s.Mean))
}

func latencyTable(samples []latencySample) []latencyStats {
	var drv, cli, srv []time.Duration
	for _, s := range samples {
		drv = append(drv, s.Driver)
		cli = append(cli, s.Client)
		srv = append(srv, s.Server)
	}
	return []latencyStats{summarize("client", cli), summarize("server", srv), summarize("driver", drv)}
}

// latencyN is $E2E_LATENCY_N, else def.
func latencyN(tb testing.TB, def int) int {
	if v := os.Getenv("E2E_LATENCY_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			tb.Fatalf("E2E_LATENCY_N=%q: want 1..10000", v)
		}
		return n
	}
	return def
}

// TestMessageToReplyLatency measures message → reply latency through the
// real stack (nio client → Dendrite → bizbots → Dendrite → nio client),
// one message at a time (30 by default, E2E_LATENCY_N to change), after 3
// warm-up messages, and logs p50/p90/p99/max. It asserts nothing about
// time: the figures depend on the machine. bizbots logs at info here, as in
// production. See latencySample for what "client", "server" and "driver"
// measure.
func TestMessageToReplyLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	py := harness.PythonWithNio(t)
	s := harness.StartStackT(t, harness.StackOptions{LogLevel: "info"})
	d := openDM(t, py, s, "alice", "echo", 5*time.Minute)
	measureLatency(t, d, "warm-up", 3)
	n := latencyN(t, 30)
	start := time.Now()
	samples := measureLatency(t, d, "latency", n)
	var b strings.Builder
	fmt.Fprintf(&b, "message → reply latency, %d sequential round trips in %s (Dendrite %s, SQLite, echo bot):\n",
		n, time.Since(start).Round(time.Millisecond), harness.DendriteVersion)
	for _, st := range latencyTable(samples) {
		b.WriteString("  " + st.String() + "\n")
	}
	t.Log(b.String())
}

// BenchmarkDendriteRoundTrip is the same round trip as a benchmark: one
// op is one message and its reply; it reports p50/p99/max of the client's
// view (and the server's) as extra metrics.
//
//	go test -run '^$' -bench DendriteRoundTrip -benchtime 30x ./e2e/
func BenchmarkDendriteRoundTrip(b *testing.B) {
	py := harness.PythonWithNio(b)
	s := harness.StartStackT(b, harness.StackOptions{LogLevel: "info"})
	d := openDM(b, py, s, "alice", "echo", 30*time.Minute)
	measureLatency(b, d, "warm-up", 3)
	var samples []latencySample
	i := 0
	for b.Loop() {
		i++
		samples = append(samples, measureLatency(b, d, fmt.Sprintf("bench %d", i), 1)...)
	}
	for _, st := range latencyTable(samples)[:2] {
		b.ReportMetric(ms(st.P50), st.Name+"-p50-ms")
		b.ReportMetric(ms(st.P99), st.Name+"-p99-ms")
		b.ReportMetric(ms(st.Max), st.Name+"-max-ms")
	}
}
