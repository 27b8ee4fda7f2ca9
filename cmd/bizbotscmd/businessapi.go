package bizbotscmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/provision"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
)

// businessSide runs what businesses' own servers talk to: the run-time
// bots (synced from the database) and, when send_api.listen is set, the
// Send API and the admin API. It runs until ctx ends; start returns once
// the listener is open, so a bad address fails serve at once.
type businessSide struct {
	srv    *http.Server
	ln     net.Listener
	syncer *runtimebots.Syncer
	api    *sendapi.Server
}

func startBusinessSide(cfg *config.Config, db *store.DB, disp *dispatcher.Dispatcher, prov *provision.Provisioner, m handlers.Media, hs *hsclient.Client, med *media.Resolver, wake func(), log zerolog.Logger) (*businessSide, error) {
	b := &businessSide{syncer: &runtimebots.Syncer{DB: db, Config: cfg, Dispatcher: disp, Provisioner: prov,
		SendAPIURL: sendAPIURL(cfg), Media: m, Resolver: med, Log: log.With().Str("part", "runtimebots").Logger()}}
	// An invite to a bot added moments ago waits until it is served here.
	disp.Upcoming = b.syncer.Upcoming
	if cfg.SendAPI.Listen == "" {
		return b, nil
	}
	b.api = &sendapi.Server{DB: db, OnOutbox: wake, Rate: rate.Limit(cfg.SendAPI.Rate), Burst: cfg.SendAPI.Burst,
		IsBot: func(u id.UserID) bool { _, ok := disp.Bot(u); return ok },
		Rooms: hs, Media: med, EncryptDMs: cfg.Encryption.Allow && (cfg.Encryption.Default || cfg.Encryption.Require),
		Log: log.With().Str("part", "sendapi").Logger()}
	if cfg.SendAPI.AdminToken != "" {
		admin := &runtimebots.Admin{DB: db, Config: cfg, Token: cfg.SendAPI.AdminToken, Sync: b.syncer.Sync,
			Log: log.With().Str("part", "admin").Logger()}
		b.api.Extra = admin.Mount
	}
	ln, err := net.Listen("tcp", cfg.SendAPI.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on send_api.listen %s: %w", cfg.SendAPI.Listen, err)
	}
	b.ln = ln
	b.srv = &http.Server{Handler: b.api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	log.Info().Str("listen", ln.Addr().String()).Bool("admin", cfg.SendAPI.AdminToken != "").Msg("send API listening")
	return b, nil
}

// sendAPIURL is the Send API's public URL, "" when it is off.
func sendAPIURL(cfg *config.Config) string {
	if cfg.SendAPI.Listen == "" {
		return ""
	}
	return cfg.SendAPI.PublicURL
}

// run serves until ctx ends, then shuts the listener down gracefully.
func (b *businessSide) run(ctx context.Context, log zerolog.Logger) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.syncer.Run(ctx) }()
	if b.srv != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := b.srv.Serve(b.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("send API stopped")
			}
		}()
		go func() {
			defer wg.Done()
			b.pruneKeys(ctx, log)
		}()
		<-ctx.Done()
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.srv.Shutdown(shutCtx)
	}
	wg.Wait()
}

// pruneKeys forgets old idempotency keys hourly.
func (b *businessSide) pruneKeys(ctx context.Context, log zerolog.Logger) {
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		if n, err := b.api.Prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("cannot prune old idempotency keys; will retry in an hour")
		} else if n > 0 {
			log.Info().Int64("keys", n).Msg("pruned old idempotency keys")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
