// Package backoff says how long to wait before trying again after a
// failure: exponential from a base, capped, with jitter so that many rooms
// failing together (a homeserver outage) do not all retry in the same
// instant when it comes back. It is the one backoff of bizbots: the
// sender, the dispatcher and provisioning use it. It does not sleep or
// count attempts; callers keep their own schedule (the sender in the
// outbox row).
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: Base after the first failure, doubled
// after each further one, never more than Max.
type Policy struct {
	Base, Max time.Duration
}

// Ceiling is the un-jittered wait after failures consecutive failures
// (1 for the first): Base·2^(failures-1), capped at Max. It never
// overflows, however many failures there were.
func (p Policy) Ceiling(failures int) time.Duration {
	d := max(p.Base, time.Millisecond)
	for i := 1; i < failures && d < p.Max; i++ {
		d *= 2
	}
	return min(d, max(p.Max, p.Base))
}

// Delay is the wait after failures consecutive failures: Ceiling with
// "equal jitter", a random point in its upper half, so a retry never comes
// much earlier than the schedule says yet retries of many rooms spread out.
func (p Policy) Delay(failures int) time.Duration {
	c := p.Ceiling(failures)
	half := c / 2
	return c - half + rand.N(half+1)
}
