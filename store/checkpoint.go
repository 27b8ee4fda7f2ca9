package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// checkpointEvery is how often the checkpointer copies the WAL into the
// SQLite database file. Each checkpoint ends with a flush of the file,
// and the commits flushing the log meanwhile wait behind it on the disk:
// once a second, at 800 messages/s, that flush carried tens of MB and the
// reply p99 was 27–34 ms (p50 6–8 ms); every 200 ms it carries a fifth of
// that and the p99 was 13–22 ms, with replies/s at full load unchanged
// (docs/PERFORMANCE.md, eighth pass).
const checkpointEvery = 200 * time.Millisecond

// restartFrames is the log length in pages (about 64 MB, walSizeLimit)
// past which a checkpoint also starts the log again from the beginning.
// The writers wait while that copies the last pages and flushes the file,
// so it is not done at every checkpoint: restarting past 1 000 pages
// (SQLite's own checkpoint length) doubled the reply p99 of some sweep
// steps (800 messages/s: 15–29 ms, against 13–16 ms past 16 000). A
// variable only so tests can lower it.
var restartFrames int64 = 16000

// restartWait bounds how long the checkpointer holds the writers at the
// gate waiting for readers of the old log before it leaves the restart to
// its next turn.
const restartWait = 100 * time.Millisecond

// walSizeLimit is what a restarted log's file is cut back to (bytes), so
// one burst does not keep its disk space for ever.
const walSizeLimit = 64 << 20

// SQLite in WAL mode copies the log back into the database file (a
// checkpoint) when the log passes 1 000 pages, in the commit that passes
// it: that commit, and with the write gate every writer behind it, waits
// for pages written all over the file and its flush. In a database of a
// million messages that made intake's p99 about ten times worse. So the
// connections do not checkpoint (wal_autocheckpoint=0) and a checkpointer
// does it every checkpointEvery on a connection of its own, outside the
// write gate: a PASSIVE checkpoint copies what no reader needs any more
// while writers go on appending to the log. Durability is the log's,
// flushed at every commit, so it does not change.
//
// A log is only started again from the beginning once it was copied to its
// very end, and under sustained writes a checkpoint beside them never gets
// there: commits arrive while it copies. The log then grew by every page
// ever written (660 MB after 15 s of the benchmark), and every read that
// missed the page cache searched all of it. So once the log is longer than
// restartFrames, the checkpointer copies the few pages committed meanwhile
// with the writers held at the gate and waits (at most restartWait) for
// the readers of the old log to finish: the next commit starts it anew.
type checkpointer struct {
	gate *writeGate
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// asks are checkpoints asked for out of turn (tests); each is
	// answered by closing its channel.
	asks chan chan struct{}
}

// startCheckpointer opens its connection and starts the loop.
func startCheckpointer(drv *sqlite3.SQLiteDriver, dsn string, gate *writeGate) (*checkpointer, error) {
	conn, err := drv.Open(dsn)
	if err != nil {
		return nil, err
	}
	sc := conn.(*sqlite3.SQLiteConn)
	// The busy handler of this connection only ever waits in a restart,
	// for readers, with the writers held.
	if _, err := sc.Exec("PRAGMA busy_timeout="+strconv.FormatInt(restartWait.Milliseconds(), 10), nil); err != nil {
		sc.Close()
		return nil, err
	}
	c := &checkpointer{gate: gate, stop: make(chan struct{}), done: make(chan struct{}), asks: make(chan chan struct{})}
	go func() {
		defer close(c.done)
		defer sc.Close()
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			var ask chan struct{}
			select {
			case <-c.stop:
				return
			case <-t.C:
			case ask = <-c.asks:
			}
			c.checkpoint(sc)
			if ask != nil {
				close(ask)
			}
		}
	}()
	return c, nil
}

// checkpoint copies the log into the file beside the writers, and when the
// log has grown long, copies its rest with them held so it restarts.
// Busy (another checkpoint, a reader on an old snapshot) only means the
// next turn does the rest.
func (c *checkpointer) checkpoint(sc *sqlite3.SQLiteConn) {
	frames, err := walCheckpoint(sc, "PASSIVE")
	if err != nil || frames <= restartFrames {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartWait)
	defer cancel()
	if c.gate.enter(ctx) != nil {
		return
	}
	defer c.gate.leave()
	_, _ = walCheckpoint(sc, "RESTART")
}

// walCheckpoint runs PRAGMA wal_checkpoint(mode) and returns the log's
// length in pages before it.
func walCheckpoint(sc *sqlite3.SQLiteConn, mode string) (frames int64, err error) {
	rows, err := sc.Query("PRAGMA wal_checkpoint("+mode+")", nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]driver.Value, 3) // busy, log pages, pages copied
	if err := rows.Next(vals); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, err
	}
	frames, _ = vals[1].(int64)
	return frames, nil
}

// now runs a checkpoint out of turn and waits for it.
func (c *checkpointer) now() {
	done := make(chan struct{})
	select {
	case c.asks <- done:
		<-done
	case <-c.done:
	}
}

// close stops the loop and waits for it.
func (c *checkpointer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
