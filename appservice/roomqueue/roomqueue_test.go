package roomqueue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A room whose work cannot move (its lease is held by a process that died,
// its head waits for a retry) must be retried at the poll interval, not
// claimed and given back in a busy loop; rooms that move keep flowing.
func TestBlockedRoomWaitsForThePoll(t *testing.T) {
	var blockedCalls, movingCalls atomic.Int64
	var mu sync.Mutex
	left := 20 // the moving room's work, one item per call
	q := &Queue{
		Name: "test", Workers: 2, Poll: 100 * time.Millisecond, Log: zerolog.Nop(),
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			if left > 0 {
				return []string{"!blocked", "!moving"}, nil
			}
			return []string{"!blocked"}, nil
		},
		Work: func(ctx context.Context, room string) Outcome {
			if room == "!blocked" {
				blockedCalls.Add(1)
				return Stuck
			}
			movingCalls.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if left--; left > 0 {
				return Again
			}
			return Emptied
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 550*time.Millisecond)
	defer cancel()
	q.Run(ctx)
	if n := movingCalls.Load(); n != 20 {
		t.Errorf("moving room worked %d times, want 20 (once per item, without waiting for polls)", n)
	}
	// One try at the start and one per poll: about 6 in 550 ms.
	if n := blockedCalls.Load(); n < 2 || n > 10 {
		t.Errorf("blocked room tried %d times in 550 ms with a 100 ms poll; want one try per poll", n)
	}
}

// Wake (new work stored, possibly by or for the process that held a room)
// gives rooms that could not move another try before the next poll, once
// per Wake: a room another live process just released is not left waiting
// for the poll.
func TestWakeRetriesBlockedRoomOnce(t *testing.T) {
	var calls atomic.Int64
	q := &Queue{
		Name: "test", Workers: 2, Poll: time.Hour, Log: zerolog.Nop(),
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			return []string{"!blocked"}, nil
		},
		Work: func(ctx context.Context, room string) Outcome {
			calls.Add(1)
			return Stuck
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); q.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	waitCalls := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for calls.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // room for a busy loop to show
		if n := calls.Load(); n != want {
			t.Fatalf("blocked room tried %d times, want %d", n, want)
		}
	}
	// Get the room tried and blocked (a hand-off can miss workers that
	// are still starting; waking again covers it).
	for deadline := time.Now().Add(10 * time.Second); calls.Load() == 0 && time.Now().Before(deadline); {
		q.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	base := calls.Load()
	if base == 0 {
		t.Fatal("the room was never worked")
	}
	waitCalls(base) // no busy loop
	for i := int64(1); i <= 4; i++ {
		q.Wake()
		waitCalls(base + i)
	}
}
