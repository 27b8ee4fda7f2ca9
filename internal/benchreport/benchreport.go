// Package benchreport turns the latencies a benchmark measured into the
// custom metrics docs/PERFORMANCE.md reports: throughput in events per
// second and the p50/p99 latency in milliseconds.
package benchreport

import (
	"slices"
	"testing"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100, nearest rank) of
// samples, which it sorts. Zero when there are none.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	rank := int(p/100*float64(len(samples))+0.5) - 1
	return samples[min(max(rank, 0), len(samples)-1)]
}

// Latency reports the p50 and p99 of samples as p50-ms and p99-ms.
func Latency(b *testing.B, samples []time.Duration) {
	b.ReportMetric(ms(Percentile(samples, 50)), "p50-ms")
	b.ReportMetric(ms(Percentile(samples, 99)), "p99-ms")
}

// Throughput reports events handled in elapsed as events/s.
func Throughput(b *testing.B, events int, elapsed time.Duration) {
	if elapsed > 0 {
		b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
