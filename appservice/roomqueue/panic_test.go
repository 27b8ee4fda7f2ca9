package roomqueue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A panic in Work (service code the dispatcher or sender runs for a room)
// or in Pending must not take the process down: the worker lives on,
// other rooms keep flowing, and Run still stops when asked.
func TestPanicInWorkKeepsOtherRoomsFlowing(t *testing.T) {
	var panics, panicsInPending atomic.Int64
	var mu sync.Mutex
	left := 10
	done := make(chan struct{})
	q := &Queue{
		Name: "test", Workers: 1, Poll: 20 * time.Millisecond, Log: zerolog.Nop(),
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			if panicsInPending.Add(1) == 1 {
				panic("pending exploded")
			}
			mu.Lock()
			defer mu.Unlock()
			if left > 0 {
				return []string{"!poison", "!fine"}, nil
			}
			return []string{"!poison"}, nil
		},
		Work: func(ctx context.Context, room string) Outcome {
			if room == "!poison" {
				panics.Add(1)
				panic("handler exploded")
			}
			mu.Lock()
			defer mu.Unlock()
			if left--; left == 0 {
				close(done)
			}
			return Again
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); q.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the other room stopped flowing after a panic")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after panics")
	}
	if panics.Load() == 0 {
		t.Fatal("the poison room was never worked: the test proved nothing")
	}
}

// Once Run is asked to stop, the rooms in hand keep a live ctx for the
// grace period (Stopping tells them to take nothing new), and Run waits
// for them.
func TestGraceLetsRoomsInHandFinish(t *testing.T) {
	started, finished := make(chan struct{}), make(chan error, 1)
	release := make(chan struct{})
	var once sync.Once
	q := &Queue{
		Name: "test", Workers: 1, Poll: 10 * time.Millisecond, Log: zerolog.Nop(), Grace: time.Minute,
		Pending: func(ctx context.Context, limit int) ([]string, error) { return []string{"!busy"}, nil },
		Work: func(ctx context.Context, room string) Outcome {
			first := false
			once.Do(func() { first = true })
			if !first {
				return Emptied
			}
			if Stopping(ctx) {
				finished <- context.Canceled
				return Emptied
			}
			close(started)
			<-release
			if !Stopping(ctx) {
				finished <- nil
				return Emptied
			}
			finished <- ctx.Err() // nil: still alive within the grace
			return Emptied
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); q.Run(ctx) }()
	<-started
	cancel()
	close(release)
	if err := <-finished; err != nil {
		t.Fatalf("the room in hand lost its ctx at shutdown (%v), or was not told it is stopping", err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the room in hand finished")
	}
}

// A room that does not finish within the grace has its ctx cancelled, and
// Run returns.
func TestGraceEnds(t *testing.T) {
	started := make(chan struct{})
	q := &Queue{
		Name: "test", Workers: 1, Poll: 10 * time.Millisecond, Log: zerolog.Nop(), Grace: 50 * time.Millisecond,
		Pending: func(ctx context.Context, limit int) ([]string, error) { return []string{"!stuck"}, nil },
		Work: func(ctx context.Context, room string) Outcome {
			select {
			case <-started:
			default:
				close(started)
			}
			<-ctx.Done()
			return Stuck
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); q.Run(ctx) }()
	<-started
	cancel()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Run waited past the grace for a stuck room")
	}
}
