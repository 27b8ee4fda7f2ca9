package roomqueue_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/roomqueue"
)

// A room whose work finishes at once is handed out again and again: a
// worker done before the queue recorded the hand-off must not leave the
// room marked busy for good (it would never be worked again, whatever the
// polling).
func TestQuickWorkIsHandedOutAgain(t *testing.T) {
	const rounds = 20000
	var n atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	q := &roomqueue.Queue{
		Name: "test", Workers: 4, Poll: 5 * time.Millisecond, Log: zerolog.Nop(),
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			if n.Load() >= rounds {
				return nil, nil
			}
			return []string{"!a:x", "!b:x"}, nil
		},
		Work: func(ctx context.Context, room string) roomqueue.Outcome {
			if n.Add(1) >= rounds {
				once.Do(func() { close(done) })
			}
			return roomqueue.Again
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); q.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("rooms stopped being worked after %d rounds", n.Load())
	}
}
