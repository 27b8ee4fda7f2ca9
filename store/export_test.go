package store

import "testing"

// Checkpoint runs one round of SQLite's checkpointer now, as its loop
// does every second, and returns once it is done.
func (db *DB) Checkpoint() { db.checkpointer.now() }

// SetRestartFrames sets the log length past which the checkpointer
// restarts the log, for the test's duration.
func SetRestartFrames(t testing.TB, n int64) {
	old := restartFrames
	restartFrames = n
	t.Cleanup(func() { restartFrames = old })
}
