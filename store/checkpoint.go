package store

import (
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
)

// checkpointEvery is how often the checkpointer copies the WAL into the
// SQLite database file.
const checkpointEvery = time.Second

// SQLite in WAL mode copies the log back into the database file (a
// checkpoint) when the log passes 1 000 pages, in the commit that passes
// it: that commit, and with the write gate every writer behind it, waits
// for pages written all over the file and its flush. In a database of a
// million messages that made intake's p99 about ten times worse. So the
// connections do not checkpoint (wal_autocheckpoint=0) and a checkpointer
// does it every second on a connection of its own, outside the write gate:
// a PASSIVE checkpoint copies what no reader needs any more while writers
// go on appending to the log. Durability is the log's, flushed at every
// commit, so it does not change.
type checkpointer struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startCheckpointer opens its connection and starts the loop.
func startCheckpointer(drv *sqlite3.SQLiteDriver, dsn string) (*checkpointer, error) {
	conn, err := drv.Open(dsn)
	if err != nil {
		return nil, err
	}
	c := &checkpointer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer conn.Close()
		sc := conn.(*sqlite3.SQLiteConn)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			// Busy (another checkpoint, or a reader on an old snapshot)
			// only means the next tick copies the rest.
			_, _ = sc.Exec("PRAGMA wal_checkpoint(PASSIVE)", nil)
		}
	}()
	return c, nil
}

// close stops the loop and waits for it.
func (c *checkpointer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
