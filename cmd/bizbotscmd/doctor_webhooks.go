package bizbotscmd

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/hscheck"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
)

const docWebhooks = "docs/webhooks.md"

// webhooks sends each webhook bot's endpoint a signed test event (as
// `bizbots webhook test` does: nothing is stored or retried) and reports
// whether the business's server answers.
func (d *doctor) webhooks(cfg *config.Config, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
	defer cancel()
	var names []string
	for _, b := range cfg.Bots {
		if b.Service == "webhook" {
			names = append(names, b.Localpart)
		}
	}
	db, err := store.Open(ctx, cfg.Database.URI, 1)
	if err == nil {
		defer db.Close()
		if added, err := runtimebots.List(ctx, db, cfg); err == nil {
			for _, b := range added {
				names = append(names, b.Localpart)
			}
		}
	}
	for _, name := range names {
		uid := cfg.UserID(name)
		f := hscheck.Finding{Check: "webhook of " + uid.String()}
		bot, err := findWebhookBot(ctx, cfg, db, name)
		var wcfg webhook.Config
		if err == nil {
			wcfg, err = webhook.ConfigOf(services.Env{Bot: bot, UserID: uid, ConfigFile: cfg.Path, Log: zerolog.Nop()})
		}
		if err != nil {
			f.Level, f.Detail = hscheck.Fail, err.Error()
			f.Fix = "correct the bot's config block (url, secret)"
			d.report(f, docWebhooks)
			continue
		}
		r := webhook.Test(ctx, wcfg, uid)
		switch {
		case r.Status == 0:
			f.Level = hscheck.Fail
			f.Detail = fmt.Sprintf("%s does not answer: %v", wcfg.URL, r.Err)
			f.Fix = "start the business's server or correct the url; events wait and are retried meanwhile (bizbots webhook test " + name + " to try again)"
		case r.Err != nil:
			f.Level = hscheck.Warn
			f.Detail = fmt.Sprintf("%s answered HTTP %d: %v", wcfg.URL, r.Status, r.Err)
			f.Fix = "the business's server should answer 2xx to a signed event it verified (docs/webhooks.md shows how)"
		case r.AnswerErr != nil:
			f.Level = hscheck.Warn
			f.Detail = fmt.Sprintf("%s took the event but its answer is unusable: %v", wcfg.URL, r.AnswerErr)
		default:
			f.Detail = fmt.Sprintf("%s answered HTTP %d in %s", wcfg.URL, r.Status, r.Took.Round(time.Millisecond))
		}
		d.report(f, docWebhooks)
	}
}
