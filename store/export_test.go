package store

// Checkpoint runs one round of SQLite's checkpointer now, as its loop
// does every second, and returns once it is done.
func (db *DB) Checkpoint() { db.checkpointer.now() }
