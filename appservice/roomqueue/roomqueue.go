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
)

// Outcome is what one Work call left behind in its room.
type Outcome int

const (
	// Emptied: the room has nothing due now.
	Emptied Outcome = iota
	// Again: the room has more due work (Work stopped at its batch limit
	// to let other rooms in); it is handed out again soon.
	Again
	// Stuck: the room cannot move now (another process holds its lease,
	// its work waits for a retry, the database failed). It is not handed
	// out again before the next poll or the next Wake, instead of being
	// claimed and given back in a busy loop.
	Stuck
)

// Queue hands rooms with pending work to workers.
//
// Rooms reach it in memory, from whoever stored their work (WakeRooms:
// intake, the dispatcher's commits), and from the database, which is
// listed at start, at every poll and on a bare Wake: the database is what
// survives a crash and what other processes write, memory is only the
// fast path.
type Queue struct {
	Name    string
	Workers int
	Poll    time.Duration
	// Pending lists rooms that have work due, oldest first.
	Pending func(ctx context.Context, limit int) ([]string, error)
	// Work processes one room until it has nothing due or hits a batch
	// limit, and says which (see Outcome).
	Work func(ctx context.Context, room string) Outcome
	Log  zerolog.Logger
	// Grace is how long, once Run's ctx is cancelled, the rooms in hand
	// may take to finish what they hold: the ctx Work gets stays alive
	// that long after Run's (Stopping tells Work to take nothing new).
	// Zero: Work's ctx ends with Run's.
	Grace time.Duration

	wake chan struct{}
	// list is set by Wake: new work was stored somewhere, so the database
	// is listed and rooms that could not move are worth another try
	// (their holder may be done with them).
	list atomic.Bool
	// hinted holds rooms WakeRooms named since the loop last looked.
	hintMu sync.Mutex
	hinted []string
	once   sync.Once
}

func (q *Queue) init() {
	q.once.Do(func() { q.wake = make(chan struct{}, 1) })
}

// Wake makes the queue list the database for work now, rooms that could
// not move included. It never blocks.
func (q *Queue) Wake() {
	q.list.Store(true)
	q.signal()
}

// WakeRooms tells the queue these rooms have new work, without a look at
// the database. It never blocks.
func (q *Queue) WakeRooms(rooms ...string) {
	if len(rooms) == 0 {
		return
	}
	q.hintMu.Lock()
	q.hinted = append(q.hinted, rooms...)
	q.hintMu.Unlock()
	q.signal()
}

func (q *Queue) takeHints() []string {
	q.hintMu.Lock()
	defer q.hintMu.Unlock()
	h := q.hinted
	q.hinted = nil
	return h
}

// signal makes the queue look at what it knows, without listing.
func (q *Queue) signal() {
	q.init()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// rooms is the loop's bookkeeping: which rooms are in a worker's hands,
// which could not move, and which wait for a worker, in order.
type rooms struct {
	mu    sync.Mutex
	busy  map[string]bool
	again map[string]bool // woken while busy: hand out again when done
	// blocked holds rooms whose last Work was Stuck; cleared at each poll
	// and by Wake.
	blocked map[string]bool
	ready   []string
	queued  map[string]bool
	// finished counts Work calls done since the last listing.
	finished int
}

// add queues room unless it is queued already. A room named by new work
// (hint) gets a try even if it was Stuck, and when busy goes again once
// its worker is done; a listed busy room is left to its worker.
func (r *rooms) add(room string, hint bool) {
	if hint {
		delete(r.blocked, room)
	}
	switch {
	case r.busy[room]:
		if hint {
			r.again[room] = true
		}
	case r.queued[room], r.blocked[room]:
	default:
		r.queued[room] = true
		r.ready = append(r.ready, room)
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
	var wg sync.WaitGroup
	r := &rooms{busy: map[string]bool{}, again: map[string]bool{}, blocked: map[string]bool{}, queued: map[string]bool{}}
	for i := 0; i < q.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for room := range work {
				out := q.safeWork(workCtx, room)
				r.mu.Lock()
				delete(r.busy, room)
				again := r.again[room]
				delete(r.again, room)
				switch {
				case out == Stuck && !again:
					r.blocked[room] = true
				case out == Again || again:
					r.add(room, again)
				}
				r.finished++
				r.mu.Unlock()
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
	limit := q.Workers * 4
	list := true      // list the database before handing out
	listFull := false // the last listing hit its limit: more rooms may wait
	for {
		if list {
			list = false
			listed, err := q.safePending(ctx, limit)
			if err != nil && ctx.Err() == nil {
				q.Log.Error().Err(err).Str("queue", q.Name).Msg("cannot list pending work; will retry")
			}
			listFull = len(listed) >= limit
			r.mu.Lock()
			r.finished = 0
			for _, room := range listed {
				r.add(room, false)
			}
			r.mu.Unlock()
		}
		r.mu.Lock()
		for _, room := range q.takeHints() {
			r.add(room, true)
		}
		idle := true // a worker was free for the last room offered
		handed := 0
		for len(r.ready) > 0 {
			room := r.ready[0]
			if r.busy[room] || r.blocked[room] {
				r.ready = r.ready[1:]
				delete(r.queued, room)
				if r.busy[room] {
					r.again[room] = true
				}
				continue
			}
			// Mark the room busy before handing it over: a worker that
			// finishes first must find the mark to clear.
			r.busy[room] = true
			select {
			case work <- room:
				r.ready = r.ready[1:]
				delete(r.queued, room)
				handed++
				continue
			default:
				delete(r.busy, room)
				idle = false
			}
			break // every worker is busy; the next to finish signals
		}
		// Rooms beyond the last listing's limit: list again once workers
		// are free for them and something moved since (else the listing
		// would return the same busy rooms in a loop).
		relist := listFull && len(r.ready) == 0 && idle && (handed > 0 || r.finished > 0)
		r.mu.Unlock()
		if relist {
			list = true
			listFull = false
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
			if q.list.Swap(false) {
				r.mu.Lock()
				clear(r.blocked)
				r.mu.Unlock()
				list = true
			}
		case <-ticker.C:
			r.mu.Lock()
			clear(r.blocked)
			r.mu.Unlock()
			list = true
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

// safeWork runs Work, turning a panic into Stuck.
func (q *Queue) safeWork(ctx context.Context, room string) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			q.Log.Error().Str("queue", q.Name).Str("room_id", room).Interface("panic", p).
				Bytes("stack", debug.Stack()).Msg("room worker panicked; the room waits for the next poll")
			out = Stuck
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
			if q.safeWork(ctx, room) != Stuck {
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
