package bizbotscmd

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/hscheck"
	"github.com/bizbots/bizbots/store"
)

var homeserverUp = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "bizbots_homeserver_up",
	Help: "1 when the homeserver answered its last check (GET /_matrix/client/versions, every 15 s), else 0.",
})

// readiness says whether this process can do its work: the database
// answers, its schema is the one this binary runs, and the homeserver
// answered recently. /health only says the process is alive.
type readiness struct {
	db    *store.DB
	check *hscheck.Checker
	every time.Duration
	// stale is how long a homeserver answer counts as recent.
	stale time.Duration

	mu     sync.Mutex
	hsOK   time.Time // last good answer
	hsLast string    // last finding, for /ready's body
}

// How often the homeserver is checked, and how long an answer counts as
// recent (tests shorten them).
var readyEvery, readyStale = 15 * time.Second, time.Minute

func newReadiness(db *store.DB, check *hscheck.Checker) *readiness {
	return &readiness{db: db, check: check, every: readyEvery, stale: readyStale}
}

// watch checks the homeserver every r.every until ctx ends.
func (r *readiness) watch(ctx context.Context, log zerolog.Logger) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	wasUp := true
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		f := r.check.Homeserver(cctx)
		cancel()
		up := f.Level == hscheck.OK
		r.mu.Lock()
		if up {
			r.hsOK = time.Now()
		}
		r.hsLast = f.Detail
		r.mu.Unlock()
		if up {
			homeserverUp.Set(1)
		} else {
			homeserverUp.Set(0)
		}
		if up != wasUp && ctx.Err() == nil {
			if up {
				log.Info().Msg("homeserver answers again")
			} else {
				log.Warn().Str("reason", f.Detail).Msg("homeserver does not answer; replies wait in the outbox")
			}
		}
		wasUp = up
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveReady answers /ready: 200 when ready, 503 with the reasons.
func (r *readiness) serveReady(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
	defer cancel()
	var problems []string
	// Check, not PingContext: a database that went silent must not hold
	// the answer past the deadline.
	if err := r.db.Check(ctx); err != nil {
		problems = append(problems, "database unreachable")
	} else if v, err := r.db.Version(ctx); err != nil || v != store.LatestVersion() {
		problems = append(problems, "database schema is not the one this bizbots runs")
	}
	r.mu.Lock()
	if time.Since(r.hsOK) > r.stale {
		reason := r.hsLast
		if reason == "" {
			reason = "not checked yet"
		}
		problems = append(problems, "homeserver has not answered recently: "+reason)
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "not ready", "problems": problems})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
}

// registerDBStats exports the connection pool's figures (open, in use,
// idle, waits) as go_sql_* metrics with db_name="bizbots", until the
// returned func is called.
func registerDBStats(db *store.DB) (unregister func()) {
	c := collectors.NewDBStatsCollector(db.DB, "bizbots")
	if err := prometheus.Register(c); err != nil {
		return func() {}
	}
	return func() { prometheus.Unregister(c) }
}
