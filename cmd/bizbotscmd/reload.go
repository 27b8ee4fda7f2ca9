package bizbotscmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/provision"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/store"
)

// hangups delivers SIGHUP to serve (tests replace it with a channel they
// send on).
var hangups = func() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// reloader applies the config file again on SIGHUP. What it can change
// while running: the bots — added, removed, or changed (service, its
// config block, welcome, language, name and avatar). Everything else
// (homeserver, appservice, database, workers, encryption, the Send API,
// the console) needs a restart: a file that changes any of it is refused
// with the reason, and the running config stays, as it does for a file
// that does not load.
type reloader struct {
	cfg  *config.Config // as loaded at start; never modified
	bots []config.Bot   // the bots served now
	db   *store.DB
	// media uploads the bots' files; med resolves media given by URL.
	media handlers.Media
	med   wire.Resolver
	disp  *dispatcher.Dispatcher
	prov  *provision.Provisioner
	log   zerolog.Logger
}

func (r *reloader) run(ctx context.Context) {
	hup, stop := hangups()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := r.reload(ctx); err != nil {
				r.log.Error().Msg("config reload refused, still running the previous config: " + err.Error())
			}
		}
	}
}

func (r *reloader) reload(ctx context.Context) error {
	next, err := config.Load(r.cfg.Path)
	if err != nil {
		return err
	}
	if why := needsRestart(r.cfg, r.bots, next); len(why) > 0 {
		return fmt.Errorf("%s changed; that needs a restart", strings.Join(why, ", "))
	}
	reg, err := registration.Load(next.AppService.Registration)
	if err != nil {
		return err
	}
	if err := registration.Check(reg, next); err != nil {
		return err
	}
	old := map[string]config.Bot{}
	for _, b := range r.bots {
		old[b.Localpart] = b
	}
	// Build every new or changed bot first: one that fails refuses the
	// whole reload, so nothing is half applied.
	var changed []*dispatcher.Bot
	for _, b := range next.Bots {
		if o, ok := old[b.Localpart]; ok && sameBot(o, b) {
			// Settings changed in a console served by another process.
			uid := next.UserID(b.Localpart)
			if h, ok := r.disp.Handler(uid); ok {
				if err := applyConsoleSettings(r.db, uid, h, r.log); err != nil {
					r.log.Warn().Err(err).Str("bot", uid.String()).Msg("config reload: the console's settings were not applied again")
				}
			}
			continue
		}
		built, err := buildBot(next, b, r.db, r.media, r.med, r.log)
		if err != nil {
			return err
		}
		changed = append(changed, built)
	}
	for _, b := range changed {
		if err := r.prov.AddBot(ctx, b.Config); err != nil {
			return fmt.Errorf("provision %s: %w", b.UserID, err)
		}
	}
	for _, b := range changed {
		_, existed := old[b.Config.Localpart]
		r.disp.AddBot(b)
		r.log.Info().Str("bot", b.UserID.String()).Bool("changed", existed).Msg("config reload: serving the bot as configured now")
	}
	kept := map[string]bool{}
	for _, b := range next.Bots {
		kept[b.Localpart] = true
	}
	for _, b := range r.bots {
		if !kept[b.Localpart] {
			uid := r.cfg.UserID(b.Localpart)
			r.disp.RemoveBot(uid)
			r.prov.RemoveBot(uid)
			r.log.Info().Str("bot", uid.String()).Msg("config reload: the bot is no longer served")
		}
	}
	r.bots = next.Bots
	r.log.Info().Int("bots", len(next.Bots)).Msg("config reloaded")
	return nil
}

// needsRestart names what differs between the running config and next
// that a reload cannot apply.
func needsRestart(running *config.Config, bots []config.Bot, next *config.Config) []string {
	var why []string
	a, b := reflect.ValueOf(*running), reflect.ValueOf(*next)
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "bots" || name == "-" || name == "" {
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			why = append(why, name)
		}
	}
	old := map[string]config.Bot{}
	for _, ob := range bots {
		old[ob.Localpart] = ob
	}
	for _, nb := range next.Bots {
		ob, ok := old[nb.Localpart]
		switch {
		case !ok && next.Encryption.Allow:
			why = append(why, "bot "+nb.Localpart+" added while encryption is on (its device is made at start)")
		case ok && !reflect.DeepEqual(ob.Console, nb.Console):
			why = append(why, "bots["+nb.Localpart+"].console")
		}
	}
	return why
}

// sameBot says whether two entries of a bot configure it alike (the YAML
// of its config block compared, not where it stands in the file).
func sameBot(a, b config.Bot) bool {
	ya, err1 := yaml.Marshal(a)
	yb, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ya, yb)
}
