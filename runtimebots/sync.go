package runtimebots

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

// Dispatcher is the part of the dispatcher a Syncer grows and shrinks.
type Dispatcher interface {
	AddBot(b *dispatcher.Bot)
	RemoveBot(uid id.UserID)
}

// Provisioner makes a bot's Matrix user exist with its profile.
type Provisioner interface {
	AddBot(ctx context.Context, b config.Bot) error
	RemoveBot(uid id.UserID)
}

// Syncer serves the run-time bots of the database in one process: it
// builds, provisions and adds new or changed bots, and removes deleted
// ones, at start and every Interval. Several processes each run one.
type Syncer struct {
	DB          *store.DB
	Config      *config.Config
	Dispatcher  Dispatcher
	Provisioner Provisioner
	SendAPIURL  string
	// Media uploads the bots' files (services.Env.Media); Resolver
	// resolves images and files given by URL in webhook answers (may be
	// nil).
	Media    handlers.Media
	Resolver wire.Resolver
	Interval time.Duration
	Log      zerolog.Logger

	// kick asks Run for a Sync before the next tick (Upcoming).
	kickOnce sync.Once
	kick     chan struct{}

	// mu serialises Sync (the loop and the admin API both call it).
	mu sync.Mutex
	// served maps each bot served to the version (updated_at) built.
	served map[id.UserID]int64
}

// Sync makes the served bots match the table now. A bot that cannot be
// built or provisioned yet is logged and tried again on the next Sync.
func (s *Syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bots, err := List(ctx, s.DB, s.Config)
	if err != nil {
		return err
	}
	if s.served == nil {
		s.served = map[id.UserID]int64{}
	}
	seen := make(map[id.UserID]bool, len(bots))
	for _, b := range bots {
		seen[b.UserID] = true
		if v, ok := s.served[b.UserID]; ok && v == b.Updated {
			continue
		}
		log := s.Log.With().Str("bot", b.UserID.String()).Logger()
		cb, err := b.ConfigBot()
		if err == nil {
			handler, berr := services.Build(services.Env{Bot: cb, UserID: b.UserID, ConfigFile: "runtime_bots", DB: s.DB, Log: log, SendAPIURL: s.SendAPIURL, Media: s.Media, Resolver: s.Resolver})
			if berr != nil {
				err = berr
			} else if perr := s.Provisioner.AddBot(ctx, cb); perr != nil {
				err = perr
			} else {
				s.Dispatcher.AddBot(&dispatcher.Bot{UserID: b.UserID, Config: cb, Handler: handler})
			}
		}
		if err != nil {
			log.Warn().Err(err).Msg("cannot serve a run-time bot yet; will retry")
			continue
		}
		_, again := s.served[b.UserID]
		s.served[b.UserID] = b.Updated
		log.Info().Bool("changed", again).Str("business", b.Business).Msg("serving a bot added at run time")
	}
	for uid := range s.served {
		if !seen[uid] {
			s.Dispatcher.RemoveBot(uid)
			s.Provisioner.RemoveBot(uid)
			delete(s.served, uid)
			s.Log.Info().Str("bot", uid.String()).Msg("stopped serving a removed run-time bot")
		}
	}
	return nil
}

// Run syncs at start, every Interval and when Upcoming found a bot not
// served yet, until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = 5 * time.Second
	}
	ticker := time.NewTicker(s.Interval)
	defer ticker.Stop()
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn().Err(err).Msg("cannot read run-time bots; will retry")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.kicks():
		}
	}
}

func (s *Syncer) kicks() chan struct{} {
	s.kickOnce.Do(func() { s.kick = make(chan struct{}, 1) })
	return s.kick
}

// Upcoming reports whether uid is a run-time bot in the database that this
// process does not serve yet (added moments ago by another process or by
// `bizbots bots add`): the dispatcher then keeps the bot's invites waiting
// instead of taking the bot for a customer. It also asks Run to sync now,
// so the wait is short.
func (s *Syncer) Upcoming(ctx context.Context, uid id.UserID) (bool, error) {
	localpart, server, err := uid.Parse()
	if err != nil || server != s.Config.Homeserver.Domain {
		return false, nil
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM runtime_bots WHERE localpart = $1`, localpart).Scan(&n); err != nil {
		return false, fmt.Errorf("look up run-time bot: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	select {
	case s.kicks() <- struct{}{}:
	default: // a sync is asked for already
	}
	return true, nil
}
