package roomqueue

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/store"
)

// Leases keeps this process's database leases on rooms of one queue
// between visits: a busy room is leased once, renewed together with every
// other room held (one statement each TTL/4) and given back when it has
// been idle for a while, instead of a lease taken and given back around
// every visit. A lease is only used while, by this process's own clock,
// more than half its time is left; a visit is bounded well below that
// (requests and commits have their own shorter deadlines), so another
// process can never take over a room while this one works in it. Commits
// still check the lease as their fence (store.CheckLease; the commits of
// a failed or deferred event renew it, store.RenewLease).
type Leases struct {
	DB    *store.DB
	Queue string
	Owner string
	TTL   time.Duration
	// Idle is how long a room may go without a visit before its lease is
	// given back (so another process may take it); default TTL/4.
	Idle time.Duration
	Log  zerolog.Logger
	// TookOver, when set, is told of each room Hold took over from
	// another owner whose lease had expired (see store.TakeLease).
	TookOver func(room string)

	mu   sync.Mutex
	held map[string]*lease
}

type lease struct {
	expires time.Time // by our clock, from the moment we asked
	used    time.Time
	busy    bool // a visit is in the room (from Hold to Done)
}

func (l *Leases) idle() time.Duration {
	if l.Idle > 0 {
		return l.Idle
	}
	return l.TTL / 4
}

// Hold makes sure this process holds room's lease with at least half its
// time left, taking or renewing it in the database only when needed. It
// returns false when another process holds the room (or the database
// failed, which it logs). A room held counts as in use until Done: its
// lease is renewed, never given back as idle, however long the visit.
func (l *Leases) Hold(ctx context.Context, room string) bool {
	now := time.Now()
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*lease{}
	}
	h := l.held[room]
	if h != nil && h.expires.Sub(now) > l.TTL/2 {
		h.used, h.busy = now, true
		l.mu.Unlock()
		return true
	}
	l.mu.Unlock()
	ok, tookOver, err := l.DB.TakeLease(ctx, l.Queue, room, l.Owner, l.TTL.Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			l.Log.Error().Err(err).Str("room_id", room).Str("queue", l.Queue).Msg("cannot claim room")
		}
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		delete(l.held, room)
		return false
	}
	l.held[room] = &lease{expires: now.Add(l.TTL), used: now, busy: true}
	if tookOver && l.TookOver != nil {
		l.TookOver(room)
	}
	return true
}

// Done ends a visit to room begun by Hold: the room's idle time counts
// from now.
func (l *Leases) Done(room string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.held[room]; h != nil {
		h.used, h.busy = time.Now(), false
	}
}

// Lost forgets a room whose lease turned out to be another process's.
func (l *Leases) Lost(room string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, room)
}

// Run renews the held leases every TTL/4 and gives back the idle ones,
// until ctx is cancelled. It does not release the rest: call ReleaseAll
// once the rooms' workers are done.
func (l *Leases) Run(ctx context.Context) {
	ticker := time.NewTicker(max(l.TTL/4, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		l.Tend(ctx)
	}
}

// Tend gives back the leases of rooms idle longer than Idle (no visit in
// them) and renews the others.
func (l *Leases) Tend(ctx context.Context) {
	now := time.Now()
	var idle []string
	l.mu.Lock()
	for room, h := range l.held {
		if !h.busy && now.Sub(h.used) > l.idle() {
			idle = append(idle, room)
			delete(l.held, room)
		}
	}
	n := len(l.held)
	l.mu.Unlock()
	if len(idle) > 0 {
		if err := l.DB.ReleaseLeases(ctx, l.Queue, l.Owner, idle); err != nil && ctx.Err() == nil {
			l.Log.Warn().Err(err).Str("queue", l.Queue).Msg("cannot give back idle room leases; they will expire")
		}
	}
	if n == 0 {
		return
	}
	kept, err := l.DB.RenewLeases(ctx, l.Queue, l.Owner, l.TTL.Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			l.Log.Warn().Err(err).Str("queue", l.Queue).Msg("cannot renew room leases; rooms are taken again as they are visited")
		}
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for room, h := range l.held {
		renewed, held := kept[room]
		switch {
		case renewed:
			h.expires = now.Add(l.TTL)
		case held:
			// In a commit right now (which renews it): renewed here
			// next time.
		case !h.expires.After(now.Add(l.TTL)):
			// Not renewed, and not taken again by Hold since: another
			// process has it, or an admin released it.
			delete(l.held, room)
		}
	}
}

// ReleaseAll gives back every lease this process holds (at shutdown, and
// at the end of a Drain).
func (l *Leases) ReleaseAll(ctx context.Context) {
	l.mu.Lock()
	rooms := make([]string, 0, len(l.held))
	for room := range l.held {
		rooms = append(rooms, room)
	}
	clear(l.held)
	l.mu.Unlock()
	if len(rooms) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.DB.ReleaseLeases(rctx, l.Queue, l.Owner, rooms); err != nil {
		l.Log.Warn().Err(err).Str("queue", l.Queue).Msg("cannot give back room leases; they will expire")
	}
}
