package bizbotscmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/backoff"
	"github.com/bizbots/bizbots/store"
)

// openDatabase connects to the configured database. A Postgres that
// cannot be reached yet (it starts after bizbots, or is down for a while)
// is waited for, with backoff and a log line per attempt naming it,
// instead of ending `serve`; ctx ends the wait. SQLite is a local file:
// an error opening it is final.
func openDatabase(ctx context.Context, dbc config.Database, log zerolog.Logger) (*store.DB, error) {
	opts := store.Options{MaxOpenConns: dbc.MaxOpenConns, Timeout: dbc.Timeout.D(), Committers: dbc.Committers}
	var db *store.DB
	waits, err := waitForPostgres(ctx, dbc.URI, log, "database not reachable; waiting for it",
		func(error) bool { return true },
		func() (err error) {
			db, err = store.OpenWith(ctx, dbc.URI, opts)
			return err
		})
	if err != nil {
		return nil, err
	}
	if waits > 0 {
		log.Info().Str("database", store.RedactURI(dbc.URI)).Msg("database reachable")
	}
	return db, nil
}

// whileReachable runs step (what names it in the log), and runs it again,
// with backoff, for as long as it fails because a Postgres database went
// away (a restart or a network cut in the middle of the start): the
// database coming back must not end `serve`. Any other error, or ctx
// ending, is returned. Steps must be safe to run again (migrations are:
// each runs in a transaction of its own).
func whileReachable(ctx context.Context, uri, what string, log zerolog.Logger, step func() error) error {
	_, err := waitForPostgres(ctx, uri, log.With().Str("step", what).Logger(),
		"database went away during start; waiting for it", store.IsUnreachable, step)
	return err
}

// waitForPostgres runs step, and runs it again with backoff (logging msg)
// for as long as it fails on a Postgres database with an error that
// retryable accepts; SQLite's errors, other errors and ctx ending are
// returned. waits is how many times it waited.
func waitForPostgres(ctx context.Context, uri string, log zerolog.Logger, msg string, retryable func(error) bool, step func() error) (waits int, err error) {
	retry := backoff.Policy{Base: time.Second, Max: 30 * time.Second}
	for attempt := 0; ; attempt++ {
		err := step()
		if err == nil || !store.IsPostgresURI(uri) || !retryable(err) || ctx.Err() != nil {
			return attempt, err
		}
		wait := retry.Delay(attempt + 1)
		log.Warn().Err(err).Str("database", store.RedactURI(uri)).Dur("retry_in", wait).Msg(msg)
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("gave up waiting for the database: %w", err)
		case <-time.After(wait):
		}
	}
}

// healthTimeout is how long /health waits for the database.
const healthTimeout = 3 * time.Second

// serveHealth answers 200 {"status":"ok"} when the database answers within
// healthTimeout (or database.timeout, if shorter), else 503
// {"status":"unhealthy","reason":…}: a database that went silent is
// reported in seconds, not when it comes back.
func serveHealth(db *store.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		body, code := map[string]string{"status": "ok"}, http.StatusOK
		if err := db.Check(ctx); err != nil {
			reason := "database error: " + err.Error()
			var netErr net.Error
			if ctx.Err() != nil || (errors.As(err, &netErr) && netErr.Timeout()) {
				reason = "database did not answer in time"
			}
			body, code = map[string]string{"status": "unhealthy", "reason": reason}, http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
}
