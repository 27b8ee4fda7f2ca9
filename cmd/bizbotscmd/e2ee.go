package bizbotscmd

import (
	"context"
	"fmt"
	"io"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/e2ee"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

// upgradeCrypto migrates the crypto store's tables when encryption is on
// (`bizbots migrate` and serve's start).
func upgradeCrypto(ctx context.Context, cfg *config.Config, db *store.DB, stdout io.Writer, log zerolog.Logger) error {
	if !cfg.Encryption.Allow {
		return nil
	}
	if err := e2ee.Upgrade(ctx, db, log); err != nil {
		return err
	}
	if stdout != nil {
		fmt.Fprintf(stdout, "Crypto store is up to date (Olm: %s).\n", e2ee.Driver())
	}
	return nil
}

// encryption builds the bots' encryption devices and the options the
// dispatcher and sender need; crypt is nil when encryption is off.
func encryption(ctx context.Context, cfg *config.Config, db *store.DB, hs *hsclient.Client, bots []*dispatcher.Bot, log zerolog.Logger) (crypt *e2ee.Crypto, opts dispatcher.Encryption, err error) {
	if !cfg.Encryption.Allow {
		return nil, dispatcher.Encryption{}, nil
	}
	err = whileReachable(ctx, cfg.Database.URI, "migrate the crypto store", log, func() error {
		return upgradeCrypto(ctx, cfg, db, nil, log)
	})
	if err != nil {
		return nil, opts, err
	}
	ids := make([]id.UserID, len(bots))
	for i, b := range bots {
		ids[i] = b.UserID
	}
	crypt, err = e2ee.New(db, hs, ids, e2ee.Options{
		HomeserverURL:            cfg.Homeserver.URL,
		ASToken:                  cfg.AppService.ASToken,
		PickleKey:                e2ee.PickleKey(cfg.PickleSecret()),
		DeviceName:               cfg.Encryption.DeviceName,
		ToDeviceFromTransactions: cfg.Encryption.Appservice,
		Workers:                  cfg.Sender.Workers,
		CrossSigning:             cfg.Encryption.CrossSigning,
		HomeserverAdminToken:     cfg.Encryption.HomeserverAdminToken,
	}, log.With().Str("part", "e2ee").Logger())
	if err != nil {
		return nil, opts, err
	}
	return crypt, dispatcher.Encryption{Crypto: crypt, KeyWait: cfg.Encryption.KeyWait.D(), Require: cfg.Encryption.Require, Default: cfg.Encryption.Default}, nil
}
