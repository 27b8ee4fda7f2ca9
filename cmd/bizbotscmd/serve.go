package bizbotscmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hscheck"
	"github.com/bizbots/bizbots/appservice/hsclient"
	medialib "github.com/bizbots/bizbots/appservice/media"
	"github.com/bizbots/bizbots/appservice/provision"
	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/internal/backoff"
	"github.com/bizbots/bizbots/internal/queuemetrics"
	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("serve", "[--config FILE]", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Logging, stderr)
	warnReadable(cfg.Path, log)
	gc := setGCPercent(os.Getenv)
	log.Debug().Int("gc_percent", gc).Msg("garbage collector target (GOGC)")
	ctx, stop := serveContext()
	defer stop()
	return serve(ctx, cfg, log)
}

// warnReadable warns when the config file, which holds the tokens, can be
// read by users other than its owner.
func warnReadable(path string, log zerolog.Logger) {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn().Str("file", path).Str("mode", fmt.Sprintf("%#o", st.Mode().Perm())).
		Msg("the config file is readable by other users and holds the appservice tokens; fix with: chmod 600 " + path)
}

// serveContext is what stops `serve`: SIGINT or SIGTERM. Tests replace it
// with a context they cancel.
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// newLogger builds the process logger: pretty on a terminal, JSON
// otherwise (or as configured).
func newLogger(lc config.Logging, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(lc.Level) // validated at load
	pretty := lc.Format == "pretty"
	if lc.Format == "auto" {
		pretty = isTerminal(w)
	}
	if pretty {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// serve runs the appservice until ctx is cancelled.
func serve(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
	reg, err := registration.Load(cfg.AppService.Registration)
	if err != nil {
		return fmt.Errorf("%w (write it with `bizbots generate-registration`)", err)
	}
	if err := registration.Check(reg, cfg); err != nil {
		return err
	}
	release, err := store.LockWriter(cfg.Database.URI)
	if err != nil {
		return err
	}
	defer release()
	db, err := openDatabase(ctx, cfg.Database, log)
	if err != nil {
		return err
	}
	defer db.Close()
	defer startPprof(log)()
	var from, to int
	err = whileReachable(ctx, cfg.Database.URI, "migrate", log, func() (err error) {
		from, to, err = db.Upgrade(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if from != to {
		log.Info().Int("from", from).Int("to", to).Msg("database schema upgraded")
	}
	if off, err := db.AutovacuumOff(ctx); err == nil && off {
		f := autovacuumFinding(true)
		log.Warn().Str("fix", f.Fix).Msg("Postgres autovacuum is " + f.Detail)
	}
	// A process that died on this host (crash, kill -9) left its rooms
	// leased; take them back now instead of waiting for the leases to
	// expire.
	if n, err := db.ReleaseStaleLeases(ctx, roomqueue.StaleOwner); err != nil {
		log.Warn().Err(err).Msg("cannot release leases of dead processes; they will expire")
	} else if n > 0 {
		log.Info().Int("leases", n).Msg("released room leases of a process that is gone")
	}

	// Queue depths for /metrics, read from the database at each scrape.
	gauges := &queuemetrics.Collector{DB: db, Log: log}
	if err := prometheus.Register(gauges); err != nil {
		log.Warn().Err(err).Msg("queue gauges not registered")
	} else {
		defer prometheus.Unregister(gauges)
	}

	// The sender's and the dispatcher's workers share one pooled client.
	hs, err := hsclient.New(cfg.Homeserver.URL, cfg.AppService.ASToken, cfg.Sender.Workers+cfg.Dispatcher.Workers, log)
	if err != nil {
		return err
	}
	lib := medialib.New(db, hs)
	// The media resolver (images and files given by URL) uploads as the
	// bots through hs.
	med := newMedia(cfg, db)
	med.HS = hs
	bots, err := buildBots(cfg, db, lib, med, log)
	if err != nil {
		return err
	}

	for _, d := range cfg.Deprecations() {
		log.Warn().Msg(d)
	}
	prov := provision.New(cfg, hs, db, log.With().Str("part", "provision").Logger())
	crypt, encOpts, err := encryption(ctx, cfg, db, hs, bots, log)
	if err != nil {
		return err
	}
	disp := dispatcher.New(db, bots, cfg.SenderID(), hs, dispatcher.Options{
		Workers:      cfg.Dispatcher.Workers,
		MaxAttempts:  cfg.Dispatcher.MaxAttempts,
		MaxDeaths:    cfg.Dispatcher.MaxDeaths,
		LeaseTimeout: cfg.Dispatcher.LeaseTimeout.D(),
		PollInterval: cfg.Dispatcher.PollInterval.D(),
		Encryption:   encOpts,

		ShutdownGrace: cfg.Dispatcher.ShutdownGrace.D(),
	}, log.With().Str("part", "dispatcher").Logger())
	sendOpts := sender.Options{
		Workers:        cfg.Sender.Workers,
		MaxBackoff:     cfg.Sender.MaxBackoff.D(),
		RequestTimeout: cfg.Sender.RequestTimeout.D(),
		LeaseTimeout:   cfg.Dispatcher.LeaseTimeout.D(),
		PollInterval:   cfg.Dispatcher.PollInterval.D(),
	}
	if crypt != nil {
		sendOpts.Encrypter = crypt
		crypt.OnRoomKey = disp.Wake
	}
	send := sender.New(db, hs, sendOpts, log.With().Str("part", "sender").Logger())
	disp.OnOutbox = send.WakeRooms
	disp.Users = prov // a bot's events wait for it to be registered

	check := &hscheck.Checker{URL: cfg.Homeserver.URL, Domain: cfg.Homeserver.Domain, ASToken: cfg.AppService.ASToken}
	ready := newReadiness(db, check)
	defer registerDBStats(db)()
	srv := &appservice.Server{
		DB: db, HSToken: cfg.AppService.HSToken, MaxBodyBytes: cfg.AppService.MaxBodyBytes,
		Users: prov, Stored: disp.WakeRooms, Log: log.With().Str("part", "intake").Logger(),
		Extra: extraRoutes(db, ready),
	}
	if crypt != nil && cfg.Encryption.Appservice {
		srv.Keys = crypt
	}
	ln, err := net.Listen("tcp", cfg.AppService.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.AppService.Listen, err)
	}
	business, err := startBusinessSide(cfg, db, disp, prov, lib, hs, med, send.Wake, log)
	if err != nil {
		ln.Close()
		return err
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	runConsole, err := listenConsole(cfg, db, disp, send.Wake, log)
	if err != nil {
		_ = ln.Close()
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Add(6)
	go func() {
		defer wg.Done()
		// Rooms other processes on the same Postgres took transactions
		// for (the lease of a busy room stays with whoever works in it).
		db.Listen(runCtx, store.ChannelInbox, func(rooms []string) { disp.WakeRooms(rooms...) }, log.With().Str("part", "dispatcher").Logger())
	}()
	go func() {
		defer wg.Done()
		followConsoleSettings(runCtx, db, disp, log.With().Str("part", "console").Logger())
	}()
	go func() {
		defer wg.Done()
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errs <- fmt.Errorf("http server: %w", err):
			default:
			}
		}
	}()
	go func() { defer wg.Done(); _ = disp.Run(runCtx) }()
	go func() { defer wg.Done(); _ = send.Run(runCtx) }()
	go func() { defer wg.Done(); provisionLoop(runCtx, prov, check, log) }()
	wg.Add(1)
	go func() { defer wg.Done(); ready.watch(runCtx, log) }()
	if crypt != nil {
		wg.Add(1)
		go func() { defer wg.Done(); crypt.Run(runCtx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); pruneLoop(runCtx, db, cfg.Dispatcher.Retention.D(), log) }()
	wg.Add(1)
	rl := &reloader{cfg: cfg, bots: cfg.Bots, db: db, media: lib, med: med, disp: disp, prov: prov, log: log.With().Str("part", "reload").Logger()}
	go func() { defer wg.Done(); rl.run(runCtx) }()
	go func() { defer wg.Done(); business.run(runCtx, log) }()
	if runConsole != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runConsole(runCtx); err != nil {
				select {
				case errs <- fmt.Errorf("business console: %w", err):
				default:
				}
			}
		}()
	}
	log.Info().Str("listen", ln.Addr().String()).Str("homeserver", cfg.Homeserver.URL).
		Int("bots", len(bots)).Str("database", string(db.Dialect)).Msg("bizbots is running")

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err = <-errs:
		log.Error().Err(err).Msg("stopping after a fatal error")
	}
	// Stop taking transactions first (in-flight ones finish and commit),
	// then let the workers finish and commit their current event, within
	// dispatcher.shutdown_grace.
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer shutCancel()
	_ = httpSrv.Shutdown(shutCtx)
	log.Info().Dur("grace", cfg.Dispatcher.ShutdownGrace.D()).Msg("intake stopped; finishing the events in hand")
	cancel()
	wg.Wait()
	log.Info().Msg("stopped")
	return err
}

// buildBots builds every configured bot's handler from its service.
// m uploads their files (nil: no homeserver, as in `bizbots chat`); med
// resolves images and files given by URL (nil: mxc:// only).
func buildBots(cfg *config.Config, db *store.DB, m handlers.Media, med wire.Resolver, log zerolog.Logger) ([]*dispatcher.Bot, error) {
	bots := make([]*dispatcher.Bot, 0, len(cfg.Bots))
	for _, b := range cfg.Bots {
		bot, err := buildBot(cfg, b, db, m, med, log)
		if err != nil {
			return nil, err
		}
		bots = append(bots, bot)
	}
	return bots, nil
}

// buildBot builds one bot of cfg from its service.
func buildBot(cfg *config.Config, b config.Bot, db *store.DB, m handlers.Media, med wire.Resolver, log zerolog.Logger) (*dispatcher.Bot, error) {
	uid := cfg.UserID(b.Localpart)
	h, err := services.Build(services.Env{
		Bot: b, UserID: uid, ConfigFile: cfg.Path, DB: db, Media: m, Resolver: med,
		Log: log.With().Str("bot", uid.String()).Logger(), SendAPIURL: sendAPIURL(cfg),
	})
	if err != nil {
		return nil, err
	}
	if err := applyConsoleSettings(db, uid, h, log); err != nil {
		return nil, err
	}
	return &dispatcher.Bot{UserID: uid, Config: b, Handler: h}, nil
}

// provisionLoop registers the bots and sets their profiles, retrying with
// backoff while the homeserver is unreachable (it may start after us),
// then asks the homeserver to ping us.
func provisionLoop(ctx context.Context, prov *provision.Provisioner, check *hscheck.Checker, log zerolog.Logger) {
	retry := backoff.Policy{Base: time.Second, Max: time.Minute}
	misconfigured := backoff.Policy{Base: 5 * time.Second, Max: 5 * time.Minute}
	for attempt := 1; ; attempt++ {
		// Ask the homeserver whether the config fits it first: a wrong
		// domain or a stale token would otherwise show up as an unrelated
		// error on some later call (or not at all).
		err := check.Preflight(ctx)
		if errors.Is(err, hscheck.ErrMisconfigured) {
			wait := misconfigured.Delay(attempt)
			log.Error().Dur("retry_in", wait).Msg("cannot start the bots: " + err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		if err == nil {
			err = prov.All(ctx)
		}
		if err == nil {
			log.Info().Msg("bot users registered and profiles set")
			prov.Ping(ctx)
			return
		}
		wait := retry.Delay(attempt)
		log.Warn().Err(err).Dur("retry_in", wait).Msg("cannot provision bot users yet")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// pruneLoop deletes bookkeeping older than retention, at start and then
// hourly. Several processes may prune at once: the deletes are idempotent.
func pruneLoop(ctx context.Context, db *store.DB, retention time.Duration, log zerolog.Logger) {
	ticker := time.NewTicker(time.Hour)
	defer ticker.Stop()
	for {
		p, err := db.Prune(ctx, time.Now().Add(-retention).UnixMilli())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn().Err(err).Msg("cannot prune old events; will retry in an hour")
		case p.Inbox+p.Outbox+p.Transactions > 0:
			log.Info().Int64("transactions", p.Transactions).Int64("events", p.Inbox).Int64("replies", p.Outbox).
				Dur("older_than", retention).Msg("pruned old bookkeeping")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// extraRoutes serves the unauthenticated operational endpoints.
func extraRoutes(db *store.DB, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", ready.serveReady)
	mux.HandleFunc("GET /health", serveHealth(db))
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}` + "\n"))
	})
	return mux
}

// newMedia is the media resolver of businesses' images and files; its
// uploader (the homeserver client) is set once made.
func newMedia(cfg *config.Config, db *store.DB) *media.Resolver {
	return &media.Resolver{DB: db, MaxBytes: cfg.SendAPI.MediaMaxBytes, Timeout: cfg.SendAPI.MediaTimeout.D(),
		AllowPrivate: cfg.SendAPI.MediaAllowPrivate}
}
