package bizbotscmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
)

func cmdWebhook(args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("webhook", args, map[string]string{
		"test":   "send a signed test event to a bot's URL and show the answer",
		"enable": "turn a webhook back on after the business server answered 410 Gone",
		"secret": "print a new webhook secret (for a config-file bot)",
	}, stdout)
	if err != nil {
		return err
	}
	if sub == "secret" {
		fs, _ := newFlags("webhook secret", "", stdout)
		if err := parse(fs, args); err != nil {
			return err
		}
		s, err := webhook.NewSecret()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, s)
		return nil
	}
	fs, cfgPath := newFlags("webhook "+sub, "BOT", stdout)
	name, err := parseOne(fs, args, "bot (its localpart)")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, db, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	bot, err := findWebhookBot(ctx, cfg, db, name)
	if err != nil {
		return err
	}
	uid := cfg.UserID(bot.Localpart)
	if sub == "enable" {
		res, err := db.ExecContext(ctx, `DELETE FROM webhook_disabled WHERE bot_user_id = $1`, uid.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			fmt.Fprintf(stdout, "The webhook of %s was not disabled.\n", uid)
			return nil
		}
		fmt.Fprintf(stdout, "The webhook of %s is on again; events kept meanwhile are delivered at their next retry.\n", uid)
		return nil
	}
	wcfg, err := webhook.ConfigOf(services.Env{Bot: bot, UserID: uid, ConfigFile: cfg.Path, Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "POST %s (signed test event as %s)\n", wcfg.URL, uid)
	r := webhook.Test(ctx, wcfg, uid)
	switch {
	case r.Status == 0:
		return fmt.Errorf("%v (after %s)", r.Err, r.Took.Round(time.Millisecond))
	case r.Err != nil:
		return fmt.Errorf("HTTP %d in %s: %v", r.Status, r.Took.Round(time.Millisecond), r.Err)
	}
	fmt.Fprintf(stdout, "HTTP %d in %s\n", r.Status, r.Took.Round(time.Millisecond))
	if r.AnswerErr != nil {
		return fmt.Errorf("the server took the event but its answer is unusable: %v", r.AnswerErr)
	}
	if len(r.Answer.Replies) == 0 {
		fmt.Fprintln(stdout, "Answer: no replies (fine: the business can answer later through the Send API).")
	}
	for i, rep := range r.Answer.Replies {
		fmt.Fprintf(stdout, "Reply %d: %q", i+1, rep.Text)
		for _, c := range rep.Choices {
			fmt.Fprintf(stdout, " [%s: %s]", c.Key, c.Label)
		}
		if rep.Image != nil {
			fmt.Fprintf(stdout, " image %s", rep.Image.URL)
		}
		if rep.File != nil {
			fmt.Fprintf(stdout, " file %s", rep.File.URL)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// findWebhookBot finds a bot of service webhook in the config or among
// the run-time bots.
func findWebhookBot(ctx context.Context, cfg *config.Config, db *store.DB, name string) (config.Bot, error) {
	if b, ok := cfg.BotByUserID(cfg.UserID(name)); ok {
		if b.Service != "webhook" {
			return config.Bot{}, fmt.Errorf("%s runs service %s, not webhook", cfg.UserID(name), b.Service)
		}
		return *b, nil
	}
	rt, err := runtimebots.List(ctx, db, cfg)
	if err != nil {
		return config.Bot{}, err
	}
	for _, b := range rt {
		if b.Localpart == name {
			return b.ConfigBot()
		}
	}
	return config.Bot{}, fmt.Errorf("no bot %q in %s or among the bots added at run time (see `bizbots bots list`)", name, cfg.Path)
}
