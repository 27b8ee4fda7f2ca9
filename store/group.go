package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// maxGroup bounds how many callers' work one group transaction holds.
const maxGroup = 64

// group is the state of GroupTx: work waiting for the next transaction,
// and how many committers run.
type group struct {
	mu      sync.Mutex
	queue   []*groupReq
	running int
}

// committers is how many group transactions may be open at once: one on
// SQLite, which has one writer anyway; two on Postgres, or what
// Options.Committers says. A group's statements are multi-row (later.go),
// so a few large groups cost the server far less than many small ones: on
// 2 cores, 1 and 2 committers did alike, 4 did worse and the former
// default of 12 half as well (docs/PERFORMANCE.md); the second keeps work
// flowing while one group waits on a slow statement.
func (db *DB) committers() int {
	if db.maxCommitters > 0 {
		return db.maxCommitters
	}
	if db.Dialect == Postgres {
		return 2
	}
	return 1
}

type groupReq struct {
	fn   func(ctx context.Context, tx Tx) error
	err  error
	done chan struct{}
}

// GroupTx runs fn in a transaction that commits it, like Tx, but shares
// that transaction, and its commit (the fsync that makes it durable), with
// the work other callers hand in meanwhile: while one group commits, the
// next gathers (group commit). The answer is fn's own: GroupTx returns nil
// only once fn's writes are committed, and fn's error (with its writes
// rolled back) otherwise, never another caller's.
//
// fn may run more than once (when a group fails, each member is run again
// alone to learn its own outcome), so it must act only through tx and the
// ctx it is given, and keep no other state between runs. A panic in fn is
// returned as an error. Writes fn hands in through the *Later functions
// (later.go) are made with the other members' at the group's end.
func (db *DB) GroupTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &groupReq{fn: fn, done: make(chan struct{})}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.running < db.committers() {
		g.running++
		// The committer serves every caller's work, so it carries none of
		// this caller's context.
		go db.commitGroups(context.Background())
	}
	g.mu.Unlock()
	// The committer answers every request; statements are bounded by the
	// database timeouts, so this wait is too.
	<-req.done
	return req.err
}

// commitGroups commits groups until no work is waiting, then ends (the
// next GroupTx starts another).
func (db *DB) commitGroups(ctx context.Context) {
	g := &db.group
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		batch := make([]*groupReq, n)
		copy(batch, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		db.commitGroup(ctx, batch)
	}
}

// commitGroup runs batch in one transaction. When a member fails, the
// transaction is rolled back, that member is run alone for its own
// outcome and the rest are tried again together; when the commit itself
// fails, every member is run alone.
func (db *DB) commitGroup(ctx context.Context, batch []*groupReq) {
	for len(batch) > 0 {
		if len(batch) == 1 {
			db.runAlone(ctx, batch[0])
			return
		}
		failed, err := db.runGroup(ctx, batch)
		switch {
		case err == nil:
			for _, r := range batch {
				close(r.done)
			}
			return
		case failed >= 0:
			db.runAlone(ctx, batch[failed])
			batch = append(batch[:failed:failed], batch[failed+1:]...)
		default:
			for _, r := range batch {
				db.runAlone(ctx, r)
			}
			return
		}
	}
}

// runAlone runs one request in its own transaction and answers it.
func (db *DB) runAlone(ctx context.Context, r *groupReq) {
	_, r.err = db.runGroup(ctx, []*groupReq{r})
	close(r.done)
}

// runGroup runs batch's members in one transaction, then the writes they
// deferred (later.go), and commits. On failure, failed is the index of the
// member whose own error it was, -1 when it was the group's (a deferred
// write or the commit itself).
func (db *DB) runGroup(ctx context.Context, batch []*groupReq) (failed int, err error) {
	failed = -1
	err = db.Tx(ctx, func(tx Tx) error {
		l := &later{dialect: db.Dialect}
		mctx := withLater(ctx, l)
		for i, r := range batch {
			l.member = i
			if err := safeRun(mctx, tx, r.fn); err != nil {
				failed = i
				return err
			}
		}
		err := l.flush(ctx, tx)
		var own *memberError
		if errors.As(err, &own) {
			failed = own.member
		}
		return err
	})
	return failed, err
}

// safeRun calls fn, turning a panic into an error.
func safeRun(ctx context.Context, tx Tx, fn func(ctx context.Context, tx Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("transaction panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(ctx, tx)
}
