package bizbotscmd

import (
	"context"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/e2ee"
	"github.com/bizbots/bizbots/appservice/hscheck"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

const docEncryption = "docs/encryption.md"

// encryption checks what encrypted rooms need, when they are on: a
// maintained Olm, a pickle key that survives a token change, appservice
// login on the homeserver, and (once serve ran) a device per bot.
func (d *doctor) encryption(cfg *config.Config, timeout time.Duration) {
	if !cfg.Encryption.Allow {
		return
	}
	drv := hscheck.Finding{Check: "Olm implementation", Detail: e2ee.Driver() + " (pure Go)"}
	if e2ee.Driver() != "goolm" {
		drv.Level = hscheck.Warn
		drv.Detail = e2ee.Driver() + ": deprecated, with timing side channels that will not be fixed"
		drv.Fix = "build with -tags goolm (make build does)"
	}
	d.report(drv, docEncryption)
	if cfg.Encryption.PickleKey == "" {
		d.report(hscheck.Finding{Check: "encryption.pickle_key", Level: hscheck.Warn,
			Detail: "not set: the crypto state is sealed with a key derived from appservice.as_token",
			Fix:    "set encryption.pickle_key (e.g. `openssl rand -hex 32`) before the as_token ever changes; changing the key later makes the stored crypto state unreadable"}, docEncryption)
	} else {
		d.report(hscheck.Finding{Check: "encryption.pickle_key", Detail: "set"}, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := &hscheck.Checker{URL: cfg.Homeserver.URL, Domain: cfg.Homeserver.Domain, ASToken: cfg.AppService.ASToken}
	d.report(c.AppserviceLogin(ctx), docEncryption)

	db, err := store.Open(ctx, cfg.Database.URI, 1)
	if err != nil {
		return // the database check above already said why
	}
	defer db.Close()
	missing := 0
	for _, b := range cfg.Bots {
		uid := cfg.UserID(b.Localpart)
		if ok, err := e2ee.HasDevice(ctx, db, uid); err != nil || !ok {
			missing++
		}
	}
	f := hscheck.Finding{Check: "bot devices", Detail: "every bot has its device"}
	if missing > 0 {
		f.Level = hscheck.Warn
		f.Detail = "some bots have no device yet"
		f.Fix = "`bizbots serve` creates them at start"
	}
	d.report(f, docEncryption)
	if missing == 0 && cfg.Encryption.CrossSigning != "off" {
		d.report(crossSigningFinding(ctx, cfg, db), docEncryption+"#cross-signing")
	}
}

// crossSigningFinding says whether the homeserver shows the bots' devices
// as cross-signed, which clients that exclude insecure devices need.
func crossSigningFinding(ctx context.Context, cfg *config.Config, db *store.DB) hscheck.Finding {
	f := hscheck.Finding{Check: "cross-signing", Detail: "every bot's device is cross-signed"}
	bots := make([]id.UserID, len(cfg.Bots))
	for i, b := range cfg.Bots {
		bots[i] = id.UserID(cfg.UserID(b.Localpart))
	}
	not, err := e2ee.NotCrossSigned(ctx, db, cfg.Homeserver.URL, cfg.AppService.ASToken, bots)
	switch {
	case err != nil:
		f.Level, f.Detail = hscheck.Warn, err.Error()
	case len(not) > 0:
		f.Level = hscheck.Warn
		f.Detail = fmt.Sprintf("%d bot device(s) not cross-signed (e.g. %s): clients that exclude insecure devices cannot reach them", len(not), not[0])
		f.Fix = "on Dendrite set encryption.homeserver_admin_token and restart serve; the serve log says what the homeserver wants"
	}
	return f
}
