// Package roomqueue runs per-room work with a bounded pool of workers: a
// room is handed to at most one worker of this process at a time (the
// database lease keeps other processes out), rooms run in parallel, and an
// idle pool sleeps until woken or until the next poll. The dispatcher and
// the sender both run on it; it knows nothing of what the work is.
package roomqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/store"
)

// Queue hands rooms with pending work to workers.
type Queue struct {
	Name    string
	Workers int
	Poll    time.Duration
	// Pending lists rooms that have work due, oldest first.
	Pending func(ctx context.Context, limit int) ([]string, error)
	// Work processes one room until it has nothing due (or a batch limit).
	// It returns false when the room cannot move now (another process
	// holds its lease, its work waits for a retry, the database failed):
	// the room is then not handed out again before the next poll or the
	// next Wake, instead of being claimed and given back in a busy loop.
	Work func(ctx context.Context, room string) bool
	Log  zerolog.Logger
	// Grace is how long, once Run's ctx is cancelled, the rooms in hand
	// may take to finish what they hold: the ctx Work gets stays alive
	// that long after Run's (Stopping tells Work to take nothing new).
	// Zero: Work's ctx ends with Run's.
	Grace time.Duration

	wake chan struct{}
	// fresh is set by Wake: new work was stored, so rooms that could not
	// move are worth another try (their holder may be done with them).
	fresh atomic.Bool
	once  sync.Once
}

func (q *Queue) init() {
	q.once.Do(func() { q.wake = make(chan struct{}, 1) })
}

// Wake makes an idle queue look for work now, rooms that could not move
// included. It never blocks.
func (q *Queue) Wake() {
	q.fresh.Store(true)
	q.signal()
}

// signal makes the queue look for work, skipping rooms that could not move.
func (q *Queue) signal() {
	q.init()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx is cancelled, then waits for the rooms in hand
// (for at most Grace before their ctx is cancelled too). A panic in Work
// is logged and the room left alone until the next poll; the worker and
// the process go on.
func (q *Queue) Run(ctx context.Context) {
	q.init()
	workCtx, cancelWork := graceContext(ctx, q.Grace)
	defer cancelWork()
	work := make(chan string)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		busy = map[string]bool{}
		// blocked holds rooms whose last Work returned false; cleared at
		// each poll.
		blocked = map[string]bool{}
	)
	for i := 0; i < q.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for room := range work {
				ok := q.safeWork(workCtx, room)
				mu.Lock()
				delete(busy, room)
				if !ok {
					blocked[room] = true
				}
				mu.Unlock()
				q.signal()
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	ticker := time.NewTicker(q.Poll)
	defer ticker.Stop()
	for {
		rooms, err := q.safePending(ctx, q.Workers*4)
		if err != nil && ctx.Err() == nil {
			q.Log.Error().Err(err).Str("queue", q.Name).Msg("cannot list pending work; will retry")
		}
	hand:
		for _, room := range rooms {
			// Mark the room busy before handing it over: a worker that
			// finishes before this loop runs again must find the mark
			// to clear, or the room would stay "busy" for good.
			mu.Lock()
			taken := busy[room] || blocked[room]
			if !taken {
				busy[room] = true
			}
			mu.Unlock()
			if taken {
				continue
			}
			select {
			case work <- room:
			default:
				mu.Lock()
				delete(busy, room)
				mu.Unlock()
				break hand // every worker is busy; the next to finish wakes us
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
			if q.fresh.Swap(false) {
				mu.Lock()
				clear(blocked)
				mu.Unlock()
			}
		case <-ticker.C:
			mu.Lock()
			clear(blocked)
			mu.Unlock()
		}
	}
}

// stoppingKey marks a Work ctx with the Done channel of the Run that
// handed it out.
type stoppingKey struct{}

// graceContext returns the ctx Work runs in: not cancelled with ctx but
// grace later, and carrying ctx's Done for Stopping.
func graceContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	if grace <= 0 {
		return context.WithValue(ctx, stoppingKey{}, ctx.Done()), func() {}
	}
	wctx, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, ctx.Done()))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	return wctx, func() { stop(); cancel() }
}

// Stopping reports whether the Run that gave Work this ctx was asked to
// stop: Work should finish what it holds and take nothing new. Outside
// Run (Drain) it is ctx's own cancellation.
func Stopping(ctx context.Context) bool {
	if done, ok := ctx.Value(stoppingKey{}).(<-chan struct{}); ok {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	return ctx.Err() != nil
}

// safeWork runs Work, turning a panic into "the room cannot move now".
func (q *Queue) safeWork(ctx context.Context, room string) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			q.Log.Error().Str("queue", q.Name).Str("room_id", room).Interface("panic", p).
				Bytes("stack", debug.Stack()).Msg("room worker panicked; the room waits for the next poll")
			ok = false
		}
	}()
	return q.Work(ctx, room)
}

// safePending runs Pending, turning a panic into an error.
func (q *Queue) safePending(ctx context.Context, limit int) (rooms []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("listing pending rooms panicked: %v", p)
		}
	}()
	return q.Pending(ctx, limit)
}

// OwnerID names this process in leases: host, pid and a random part so
// a restarted process never mistakes an old lease for its own.
func OwnerID(role string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := fmt.Sprintf("%s/%s/%d/%s", role, host, os.Getpid(), hex.EncodeToString(b))
	ours.Store(id, true)
	return id
}

// ours holds the owner ids this process made.
var ours sync.Map

// Drain works in the caller's goroutine until no room has work due (the
// playground and handler tests run the flow step by step with it).
func (q *Queue) Drain(ctx context.Context) error {
	for round := 0; round < 10_000; round++ {
		rooms, err := q.Pending(ctx, 100)
		if err != nil {
			return err
		}
		if len(rooms) == 0 {
			return nil
		}
		moved := false
		for _, room := range rooms {
			if q.safeWork(ctx, room) {
				moved = true
			}
		}
		if !moved {
			return nil // what is left waits for a retry or another process
		}
	}
	return errors.New(q.Name + ": still has work after 10000 rounds")
}

// StaleOwner reports whether a lease owner (as made by OwnerID) was a
// process on this host that is gone: its pid no longer runs, or it is our
// own pid (a container restarted with the same pid). Owners on other hosts
// are never stale here; their leases expire.
func StaleOwner(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) != 4 {
		return false
	}
	host, _ := os.Hostname()
	if parts[1] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		_, mine := ours.Load(owner)
		return !mine // an earlier incarnation with our pid, not us
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Leased runs work while holding queue's database lease on room: it takes
// the lease (false when another process has it, or on a database error),
// runs work, and gives the lease back even when ctx is already cancelled.
// It returns what work returned.
func Leased(ctx context.Context, db *store.DB, queue, room, owner string, ttl time.Duration, log zerolog.Logger, work func() bool) bool {
	ok, err := db.AcquireLease(ctx, queue, room, owner, ttl.Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			log.Error().Err(err).Str("room_id", room).Str("queue", queue).Msg("cannot claim room")
		}
		return false
	}
	if !ok {
		return false // another process has it
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := db.ReleaseLease(rctx, queue, room, owner); err != nil {
			log.Warn().Err(err).Str("room_id", room).Str("queue", queue).Msg("cannot release room lease; it will expire")
		}
	}()
	return work()
}
