package bizbotscmd

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/store"
)

// listenConsole opens the business console's listener when the config
// enables it and returns what serves it until ctx ends (nil when off).
// Listening happens now so a taken port stops `serve` at once.
func listenConsole(cfg *config.Config, db *store.DB, disp *dispatcher.Dispatcher, wake func(), log zerolog.Logger) (func(ctx context.Context) error, error) {
	if !cfg.Console.Enabled() {
		return nil, nil
	}
	srv, err := console.New(console.Options{
		DB: db, Config: cfg, Auth: console.MatrixLogin{HomeserverURL: cfg.Homeserver.URL},
		OpenID:   console.MatrixOpenID{HomeserverURL: cfg.Homeserver.URL, Domain: cfg.Homeserver.Domain},
		OnOutbox: wake, OnInbox: disp.Wake, Bots: disp, Log: log.With().Str("part", "console").Logger(),
		Handler: func(bot id.UserID) handlers.Handler {
			if b, ok := disp.Bot(bot); ok {
				return b.Handler
			}
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("business console: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Console.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on console.listen %s: %w", cfg.Console.Listen, err)
	}
	return func(ctx context.Context) error { return srv.Serve(ctx, ln) }, nil
}

// servedBots is the part of the dispatcher followConsoleSettings reads.
type servedBots interface {
	Handler(bot id.UserID) (handlers.Handler, bool)
	BotIDs() []id.UserID
}

// followConsoleSettings applies in this process the console settings that
// other processes on the same Postgres database save: each notification
// names the bots to apply again; after the listener reconnected
// (notifications sent meanwhile are lost) every served bot is applied
// again. Returns when ctx ends (at once on SQLite, which has one process).
func followConsoleSettings(ctx context.Context, db *store.DB, bots servedBots, log zerolog.Logger) {
	db.Listen(ctx, store.ChannelSettings, func(names []string) {
		uids := bots.BotIDs()
		if names != nil {
			uids = uids[:0]
			for _, n := range names {
				uids = append(uids, id.UserID(n))
			}
		}
		for _, uid := range uids {
			h, ok := bots.Handler(uid)
			if !ok {
				continue
			}
			if err := applyConsoleSettings(db, uid, h, log); err != nil {
				log.Warn().Err(err).Str("bot", uid.String()).Msg("cannot apply settings changed in the console of another process; a config reload applies them")
			}
		}
	}, log)
}

// applyConsoleSettings gives a freshly built bot the settings its owners
// changed in the business console (they override the config). Values the
// service no longer accepts (the config changed under them) are logged
// and left out, one by one, rather than stopping the bot.
func applyConsoleSettings(db *store.DB, bot id.UserID, h handlers.Handler, log zerolog.Logger) error {
	ed, ok := h.(backoffice.Settings)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	over, err := store.BotSettings(ctx, db, bot.String())
	if err != nil {
		return fmt.Errorf("bot %s: read the console's settings: %w", bot, err)
	}
	for len(over) > 0 {
		err := ed.ApplySettings(over)
		fe := backoffice.AsFieldErrors(err)
		if err == nil || fe == nil {
			return err
		}
		dropped := 0
		for _, f := range fe {
			if _, ok := over[f.Key]; ok {
				log.Warn().Str("bot", bot.String()).Str("setting", f.Key).Str("reason", f.Msg).
					Msg("a setting changed in the console does not fit the config any more; using the config's value")
				delete(over, f.Key)
				dropped++
			}
		}
		if dropped == 0 {
			return fmt.Errorf("bot %s: the console's settings: %w", bot, err)
		}
	}
	return nil
}
