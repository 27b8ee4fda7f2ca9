// Package console is the business console: web pages, served by bizbots
// on their own listener, where a bot's staff sign in with their Matrix
// account, see the bot's conversations, take one over from the bot, answer
// the customer as the bot, hand it back and close it.
//
// It reads the framework's inbox and outbox through store's console
// queries and writes only its own tables plus outbox rows (replies go out
// through the sender like any handler's, exactly once). It does not know
// any service's tables. Pages are html/template with embedded assets and
// work without JavaScript; a small script refreshes them live from a
// server-sent event stream.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Authenticator checks a staff member's Matrix password and returns who
// they are. MatrixLogin asks the homeserver.
type Authenticator interface {
	Login(ctx context.Context, user, password string) (id.UserID, error)
}

// ErrBadCredentials means the homeserver refused the user or password.
var ErrBadCredentials = errors.New("wrong user name or password")

// Options are what a console needs.
type Options struct {
	DB     *store.DB
	Config *config.Config
	Auth   Authenticator
	// OpenID verifies OpenID-token sign-ins; nil turns them off.
	OpenID OpenIDVerifier
	// OnOutbox wakes the sender after a reply is queued. May be nil.
	OnOutbox func()
	// OnInbox wakes the dispatcher after an event is made due. May be nil.
	OnInbox func()
	Log     zerolog.Logger
	// LivePoll is how often live pages look for changes (default 1s).
	LivePoll time.Duration
	// Handler returns a bot's running handler (nil when unknown): the
	// console uses its optional handlers.Desk and handlers.Historian.
	Handler func(bot id.UserID) handlers.Handler
	// Bots are the running bots, for the orders board and settings. May
	// be nil: those pages then say the bot has none.
	Bots Runtime
}

// bot is a configured bot as the console knows it.
type bot struct {
	Localpart string
	UserID    id.UserID
	Name      string
	Conf      config.BotConsole
	Loc       *time.Location
	Service   string
}

// Server serves the console.
type Server struct {
	opts   Options
	bots   map[string]*bot // by localpart
	order  []*bot
	tmpl   *template.Template
	origin string // scheme://host of the public URL
	secure bool
	ttl    time.Duration
	mux    *http.ServeMux

	// done ends live streams at shutdown (http.Server.Shutdown waits for
	// them otherwise).
	done     chan struct{}
	doneOnce sync.Once
	// broadcastWake wakes the broadcast loop after a confirmation.
	broadcastWake chan struct{}
}

// New builds a console server from the config.
func New(opts Options) (*Server, error) {
	if opts.LivePoll <= 0 {
		opts.LivePoll = time.Second
	}
	u, err := url.Parse(opts.Config.Console.PublicURL)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts, bots: map[string]*bot{}, origin: u.Scheme + "://" + u.Host,
		secure: u.Scheme == "https", ttl: opts.Config.Console.SessionTTL.D(), done: make(chan struct{}),
		broadcastWake: make(chan struct{}, 1),
	}
	for _, b := range opts.Config.Bots {
		name := b.DisplayName
		if name == "" {
			name = b.Localpart
		}
		cb := &bot{Localpart: b.Localpart, UserID: opts.Config.UserID(b.Localpart), Name: name, Conf: b.Console, Loc: b.Console.Location(), Service: b.Service}
		s.bots[b.Localpart] = cb
		s.order = append(s.order, cb)
	}
	s.tmpl, err = template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// ServeHTTP serves the console's pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Serve serves the console on ln until ctx is cancelled, then ends live
// streams and waits (bounded) for requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		s.Close()
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.broadcastLoop(ctx) }()
	defer wg.Wait()
	s.opts.Log.Info().Str("listen", ln.Addr().String()).Str("public_url", s.opts.Config.Console.PublicURL).Msg("business console is running")
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return err
}

// Close ends the live streams.
func (s *Server) Close() { s.doneOnce.Do(func() { close(s.done) }) }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /assets/", http.FileServerFS(assetFiles))
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /{$}", s.home)
	m.HandleFunc("GET /b/{bot}/{$}", s.inbox)
	m.HandleFunc("GET /b/{bot}/live", s.live)
	m.HandleFunc("GET /b/{bot}/c/{room}", s.conversation)
	m.HandleFunc("POST /b/{bot}/c/{room}/take", s.act(store.ConvAgent))
	m.HandleFunc("POST /b/{bot}/c/{room}/handback", s.act(store.ConvBot))
	m.HandleFunc("POST /b/{bot}/c/{room}/close", s.act(store.ConvClosed))
	m.HandleFunc("POST /b/{bot}/c/{room}/reply", s.reply)
	m.HandleFunc("POST /login/openid", s.loginOpenID)
	m.HandleFunc("GET /b/{bot}/saved", s.savedPage)
	m.HandleFunc("POST /b/{bot}/saved", s.saveSaved)
	m.HandleFunc("POST /b/{bot}/saved/{id}", s.saveSaved)
	m.HandleFunc("POST /b/{bot}/saved/{id}/delete", s.deleteSaved)
	m.HandleFunc("GET /b/{bot}/webhook", s.webhookPage)
	m.HandleFunc("POST /b/{bot}/webhook/{action}", s.webhookAction)
	m.HandleFunc("GET /b/{bot}/orders", s.orders)
	m.HandleFunc("POST /b/{bot}/orders/move", s.moveOrder)
	m.HandleFunc("GET /b/{bot}/settings", s.settings)
	m.HandleFunc("POST /b/{bot}/settings", s.saveSettings)
	m.HandleFunc("GET /b/{bot}/broadcast", s.broadcast)
	m.HandleFunc("POST /b/{bot}/broadcast/preview", s.previewBroadcast)
	m.HandleFunc("POST /b/{bot}/broadcast/send", s.sendBroadcast)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no such page.")
	})
	s.mux = m
}
