// Package crashtest holds the crash test of the real bizbots binary: it
// kills `bizbots serve` with SIGKILL at random moments while a fake
// homeserver streams transactions at it, restarts it on the same config
// and database, and then checks that every event was handled exactly once
// and every reply sent exactly once. It runs on SQLite and on Postgres.
// The package has no code of its own; see crash_test.go.
package crashtest
