package backoff_test

import (
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/backoff"
)

func TestCeilingDoublesUpToTheCap(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: 30 * time.Second}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second},
		{5, 16 * time.Second}, {6, 30 * time.Second}, {1_000_000, 30 * time.Second},
	} {
		if got := p.Ceiling(tc.failures); got != tc.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestDelayIsJitteredInTheUpperHalf(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: 8 * time.Second}
	seen := map[time.Duration]bool{}
	for i := 0; i < 1000; i++ {
		for f := 1; f <= 6; f++ {
			c := p.Ceiling(f)
			d := p.Delay(f)
			if d < c/2 || d > c {
				t.Fatalf("Delay(%d) = %v, outside [%v, %v]", f, d, c/2, c)
			}
			if f == 6 {
				seen[d] = true
			}
		}
	}
	if len(seen) < 100 {
		t.Fatalf("only %d different waits in 1000 draws: no jitter", len(seen))
	}
}
