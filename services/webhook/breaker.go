package webhook

import (
	"sync"
	"time"
)

// breaker is a circuit breaker for one endpoint: after threshold failures
// in a row it opens for cooldown (doubling up to maxCooldown while probes
// keep failing), and while open, deliveries fail at once instead of
// waiting for a dead server's timeout. When the cooldown is over one
// probe goes through; its success closes the breaker. It runs on the
// dispatcher's clock (passed in), so tests can move time; a library
// breaker reads the wall clock.
type breaker struct {
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration

	mu       sync.Mutex
	failures int
	openTill time.Time
	wait     time.Duration
	probing  bool
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, maxCooldown: 10 * time.Minute}
}

// allow says whether a request may go now; when not, until when not.
func (b *breaker) allow(now time.Time) (bool, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.threshold {
		return true, time.Time{}
	}
	if now.Before(b.openTill) || b.probing {
		return false, b.openTill
	}
	b.probing = true
	return true, time.Time{}
}

// done records a request's outcome.
func (b *breaker) done(now time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if ok {
		b.failures, b.wait = 0, 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.wait = min(max(b.wait*2, b.cooldown), b.maxCooldown)
		b.openTill = now.Add(b.wait)
	}
}
