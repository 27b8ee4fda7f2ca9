package bizbotscmd

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/handlers"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/console"
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
		OnOutbox: wake, OnInbox: disp.Wake, Log: log.With().Str("part", "console").Logger(),
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
