package e2ee

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// The modes of Options.CrossSigning (config encryption.cross_signing).
const (
	// CrossSignAuto uploads the keys as the appservice without a password
	// where the homeserver allows it (Synapse), else with the bot's
	// password where one is known or an admin token can set it (Dendrite).
	CrossSignAuto = "auto"
	// CrossSignMSC4190 uploads only as the appservice, without a password.
	CrossSignMSC4190 = "msc4190"
	// CrossSignPassword passes the homeserver's password check with a
	// random password bizbots gives the bot through Dendrite's admin API.
	CrossSignPassword = "password"
	// CrossSignOff leaves the bots' devices uncross-signed.
	CrossSignOff = "off"
)

// crossSigningMetaKey is where a bot's cross-signing private keys are kept
// (bb_meta), sealed with the pickle key.
func crossSigningMetaKey(bot id.UserID) string { return "e2ee.cross_signing." + bot.String() }

// passwordMetaKey is where the password bizbots gave a bot is kept
// (bb_meta), sealed with the pickle key.
func passwordMetaKey(bot id.UserID) string { return "e2ee.password." + bot.String() }

// errCrossSigningSetup means the homeserver wants something for the
// cross-signing keys that the configuration does not give; the text says
// what to configure. It is not retried.
var errCrossSigningSetup = errors.New("cannot cross-sign the bots' devices")

// loadCrossSigningKeys gives dev's machine the bot's cross-signing keys,
// made once and kept in the database: every process and every restart
// uses the same keys (processes starting at once agree on the first ones
// written).
func (c *Crypto) loadCrossSigningKeys(ctx context.Context, dev *device) error {
	key := crossSigningMetaKey(dev.bot)
	sealed, err := c.db.Meta(ctx, key)
	if err != nil {
		return err
	}
	if sealed == "" {
		keys, err := dev.mach.GenerateCrossSigningKeys()
		if err != nil {
			return fmt.Errorf("make cross-signing keys: %w", err)
		}
		plain, err := json.Marshal(keys.Seeds())
		if err != nil {
			return err
		}
		fresh, err := c.seal(key, plain)
		if err != nil {
			return err
		}
		if sealed, err = c.db.MetaOrSet(ctx, key, fresh); err != nil {
			return err
		}
	}
	plain, err := c.unseal(key, sealed)
	if err != nil {
		return fmt.Errorf("cross-signing keys of %s: %w", dev.bot, err)
	}
	var seeds crypto.CrossSigningSeeds
	if err := json.Unmarshal(plain, &seeds); err != nil {
		return fmt.Errorf("cross-signing keys of %s: %w", dev.bot, err)
	}
	return dev.mach.ImportCrossSigningKeys(seeds)
}

// crossSignAtStart cross-signs dev once, within crossSignFirstTry; when
// that failed for a passing reason (the homeserver away), a goroutine that
// wg waits for keeps trying in the background.
func (c *Crypto) crossSignAtStart(ctx context.Context, dev *device, wg *sync.WaitGroup) {
	if c.crossSigningMode() == CrossSignOff {
		return
	}
	first, cancel := context.WithTimeout(ctx, crossSignFirstTry)
	err := c.crossSign(first, dev)
	cancel()
	if err == nil || c.crossSignFailed(ctx, err) {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.retryCrossSign(ctx, dev)
	}()
}

// crossSignFirstTry bounds how long a device waits for its cross-signing
// before it is used.
const crossSignFirstTry = 30 * time.Second

// crossSignAttempts bounds the retries of a cross-signing that failed for
// a reason other than the configuration (the homeserver was away).
const crossSignAttempts = 8

func (c *Crypto) retryCrossSign(ctx context.Context, dev *device) {
	for attempt := 1; attempt < crossSignAttempts; attempt++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryPolicy.Delay(attempt)):
		}
		err := c.crossSign(ctx, dev)
		if err == nil || c.crossSignFailed(ctx, err) {
			return
		}
	}
	zerolog.Ctx(ctx).Warn().Msg("gave up cross-signing the bot's device until the next start; it works, but clients that send only to cross-signed devices will not reach it")
}

// crossSignFailed logs a failed cross-signing and reports whether trying
// again is pointless: the homeserver needs configuration bizbots lacks,
// said once per process, at warning level, with what to set.
func (c *Crypto) crossSignFailed(ctx context.Context, err error) bool {
	log := zerolog.Ctx(ctx)
	if errors.Is(err, errCrossSigningSetup) {
		warned := false
		c.setupWarn.Do(func() {
			warned = true
			log.Warn().Err(err).Msg("the bots' devices stay uncross-signed: encryption works, but clients that send only to cross-signed devices (Element's \"exclude insecure devices\") will not reach the bots; see docs/encryption.md")
		})
		if !warned {
			log.Debug().Err(err).Msg("the bot's device stays uncross-signed")
		}
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	log.Warn().Err(err).Msg("cannot cross-sign the bot's device yet; retrying")
	return false
}

// crossSign makes sure the homeserver has the bot's cross-signing keys
// (the ones kept in the database) and the device's signature by them. It
// uploads only what the homeserver lacks: nothing on a restart, the keys
// again when the homeserver lost them or holds others.
func (c *Crypto) crossSign(ctx context.Context, dev *device) error {
	keys := dev.mach.CrossSigningKeys
	if keys == nil {
		return fmt.Errorf("no cross-signing keys loaded")
	}
	log := zerolog.Ctx(ctx)
	own, err := dev.client.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{dev.bot: {}}})
	if err != nil {
		return fmt.Errorf("query the bot's own keys: %w", err)
	}
	master, selfSigning := keys.MasterKey.PublicKey(), keys.SelfSigningKey.PublicKey()
	uploaded := false
	if !hasKey(own.MasterKeys[dev.bot], master) || !hasKey(own.SelfSigningKeys[dev.bot], selfSigning) {
		if err := c.uploadCrossSigningKeys(ctx, dev, keys); err != nil {
			return err
		}
		uploaded = true
	}
	if !signedBy(own.DeviceKeys[dev.bot][dev.client.DeviceID], dev.bot, selfSigning) {
		if err := dev.mach.SignOwnDevice(ctx, dev.mach.OwnIdentity()); err != nil {
			return fmt.Errorf("sign the bot's device: %w", err)
		}
	} else if !uploaded {
		log.Debug().Str("master_key", master.String()).Msg("the bot's device is cross-signed")
		return nil
	}
	log.Info().Str("master_key", master.String()).Bool("keys_uploaded", uploaded).Msg("the bot's device is cross-signed")
	return nil
}

func hasKey(k mautrix.CrossSigningKeys, want id.Ed25519) bool {
	for _, v := range k.Keys {
		if v == want {
			return true
		}
	}
	return false
}

// signedBy reports whether device keys carry a signature of user's key.
func signedBy(dk mautrix.DeviceKeys, user id.UserID, key id.Ed25519) bool {
	_, ok := dk.Signatures[user][id.NewKeyID(id.KeyAlgorithmEd25519, key.String())]
	return ok
}

// uploadCrossSigningKeys publishes keys as the appservice (the as_token
// masquerading as the bot): Synapse takes them without user-interactive
// auth from an appservice (MSC4190; the first upload of a user needs none
// anyway, MSC3967). Dendrite asks for the bot's password, which bizbots
// knows when it gave the bot one.
func (c *Crypto) uploadCrossSigningKeys(ctx context.Context, dev *device, keys *crypto.CrossSigningKeysCache) error {
	mode := c.crossSigningMode()
	asCli, err := mautrix.NewClient(c.opts.HomeserverURL, dev.bot, c.opts.ASToken)
	if err != nil {
		return err
	}
	asCli.Client = dev.client.Client
	asCli.DefaultHTTPRetries = 0
	asCli.UserAgent = dev.client.UserAgent
	asCli.Log = zerolog.Nop()
	asCli.SetAppServiceUserID = true
	asCli.DeviceID = dev.client.DeviceID // names the device key that signs the master key
	// A machine and store of their own over the same tables, so the
	// device's machine and store, which may be in use, are not touched.
	log := zerolog.Nop()
	cs := crypto.NewSQLCryptoStore(c.dbu, c.dbu.Log, dev.bot.String(), dev.client.DeviceID, c.opts.PickleKey)
	mach := crypto.NewOlmMachine(asCli, &log, cs, c.state)
	defer mach.Destroy()
	if err := mach.Load(ctx); err != nil {
		return fmt.Errorf("load olm account: %w", err)
	}

	var uia *mautrix.RespUserInteractive
	if mode != CrossSignPassword {
		err = mach.PublishCrossSigningKeys(ctx, keys, func(r *mautrix.RespUserInteractive) any {
			uia = r
			return nil
		})
		if err == nil {
			return nil
		}
		if uia == nil {
			return fmt.Errorf("upload cross-signing keys: %w", err)
		}
		if mode == CrossSignMSC4190 {
			return fmt.Errorf("%w: the homeserver asks for user-interactive auth (%s) to take the keys from the appservice; Synapse 1.141 or later does not; on Dendrite set encryption.cross_signing: password and encryption.homeserver_admin_token", errCrossSigningSetup, flowNames(uia))
		}
		if !uia.HasSingleStageFlow(mautrix.AuthTypePassword) {
			return fmt.Errorf("%w: the homeserver asks for user-interactive auth (%s), which bizbots cannot pass", errCrossSigningSetup, flowNames(uia))
		}
	}
	password, err := c.botPassword(ctx, dev.bot)
	if err != nil {
		return err
	}
	session := ""
	if uia != nil {
		session = uia.Session
	}
	err = mach.PublishCrossSigningKeys(ctx, keys, func(r *mautrix.RespUserInteractive) any {
		if r.Session != "" {
			session = r.Session
		}
		return passwordAuth{
			Type:       mautrix.AuthTypePassword,
			Session:    session,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: dev.bot.String()},
			Password:   password,
		}
	})
	if err != nil {
		if errors.Is(err, mautrix.MForbidden) && c.opts.HomeserverAdminToken == "" {
			return fmt.Errorf("%w: the homeserver refused the bot's password (changed since bizbots set it?); set encryption.homeserver_admin_token so bizbots can set it again", errCrossSigningSetup)
		}
		return fmt.Errorf("upload cross-signing keys with the bot's password: %w", err)
	}
	return nil
}

// passwordAuth is the m.login.password stage of user-interactive auth.
type passwordAuth struct {
	Type       mautrix.AuthType       `json:"type"`
	Session    string                 `json:"session,omitempty"`
	Identifier mautrix.UserIdentifier `json:"identifier"`
	Password   string                 `json:"password"`
}

func flowNames(r *mautrix.RespUserInteractive) string {
	var out []byte
	for i, f := range r.Flows {
		if i > 0 {
			out = append(out, " or "...)
		}
		for j, s := range f.Stages {
			if j > 0 {
				out = append(out, '+')
			}
			out = append(out, s...)
		}
	}
	return string(out)
}

func (c *Crypto) crossSigningMode() string {
	if c.opts.CrossSigning == "" {
		return CrossSignAuto
	}
	return c.opts.CrossSigning
}

// botPassword returns the password bizbots gave bot, making one and
// setting it on the homeserver (Dendrite's admin API, with the admin
// token) when there is an admin token: setting it again each time keeps
// it right even if a process stopped between keeping and setting it.
// Without an admin token only a password kept earlier can be used.
func (c *Crypto) botPassword(ctx context.Context, bot id.UserID) (string, error) {
	key := passwordMetaKey(bot)
	sealed, err := c.db.Meta(ctx, key)
	if err != nil {
		return "", err
	}
	if sealed == "" {
		if c.opts.HomeserverAdminToken == "" {
			return "", fmt.Errorf("%w: the homeserver asks for the bot's password before it takes cross-signing keys: on Dendrite set encryption.homeserver_admin_token to an admin's access token so bizbots can give each bot a password (Synapse asks only when it holds other keys for the bot and is older than 1.141)", errCrossSigningSetup)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		fresh, err := c.seal(key, []byte(base64.RawURLEncoding.EncodeToString(raw)))
		if err != nil {
			return "", err
		}
		if sealed, err = c.db.MetaOrSet(ctx, key, fresh); err != nil {
			return "", err
		}
	}
	plain, err := c.unseal(key, sealed)
	if err != nil {
		return "", fmt.Errorf("password of %s: %w", bot, err)
	}
	if c.opts.HomeserverAdminToken != "" {
		if err := c.setPassword(ctx, bot, string(plain)); err != nil {
			return "", err
		}
	}
	return string(plain), nil
}

// setPassword sets bot's password with Dendrite's admin API, keeping its
// devices logged in.
func (c *Crypto) setPassword(ctx context.Context, bot id.UserID, password string) error {
	cli, err := mautrix.NewClient(c.opts.HomeserverURL, "", c.opts.HomeserverAdminToken)
	if err != nil {
		return err
	}
	cli.Client = &http.Client{Transport: c.transport(), Timeout: 30 * time.Second}
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	u := cli.BuildURL(mautrix.BaseURLPath{"_dendrite", "admin", "resetPassword", bot.String()})
	_, err = cli.MakeFullRequest(ctx, mautrix.FullRequest{
		Method:           http.MethodPost,
		URL:              u,
		RequestJSON:      map[string]any{"password": password, "logout_devices": false},
		SensitiveContent: true,
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mautrix.MUnrecognized), isStatus(err, http.StatusNotFound):
		return fmt.Errorf("%w: the homeserver has no Dendrite admin API to set the bot's password (%s); unset encryption.homeserver_admin_token, or use encryption.cross_signing: msc4190 on Synapse", errCrossSigningSetup, redactURL(u))
	case errors.Is(err, mautrix.MForbidden), errors.Is(err, mautrix.MUnknownToken), isStatus(err, http.StatusUnauthorized):
		return fmt.Errorf("%w: the homeserver refused encryption.homeserver_admin_token for its admin API: it must be the access token of a homeserver admin (Dendrite: create-account -admin)", errCrossSigningSetup)
	default:
		return fmt.Errorf("set the bot's password: %w", err)
	}
}

func isStatus(err error, status int) bool {
	var h mautrix.HTTPError
	return errors.As(err, &h) && h.IsStatus(status)
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "admin API"
	}
	return p.Path
}

// NotCrossSigned lists the bots whose device (the one kept in db) the
// homeserver does not show as cross-signed: no cross-signing keys, or the
// device without the self-signing key's signature. bizbots doctor asks
// it, as the appservice; bots without a device yet are left out.
func NotCrossSigned(ctx context.Context, db *store.DB, hsURL, asToken string, bots []id.UserID) ([]id.UserID, error) {
	dbu, err := wrap(db, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	devices := map[id.UserID]id.DeviceID{}
	req := mautrix.DeviceKeysRequest{}
	for _, bot := range bots {
		dev, err := crypto.NewSQLCryptoStore(dbu, dbu.Log, bot.String(), "", nil).FindDeviceID(ctx)
		if err != nil {
			return nil, fmt.Errorf("device of %s: %w", bot, err)
		}
		if dev != "" {
			devices[bot], req[bot] = dev, mautrix.DeviceIDList{dev}
		}
	}
	if len(devices) == 0 {
		return nil, nil
	}
	cli, err := mautrix.NewClient(hsURL, bots[0], asToken)
	if err != nil {
		return nil, err
	}
	cli.Client = &http.Client{Timeout: 30 * time.Second}
	cli.DefaultHTTPRetries = 0
	cli.Log = zerolog.Nop()
	cli.SetAppServiceUserID = true
	resp, err := cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: req})
	if err != nil {
		return nil, fmt.Errorf("query the bots' keys: %w", err)
	}
	var out []id.UserID
	for _, bot := range bots {
		dev, ok := devices[bot]
		if !ok {
			continue
		}
		sskKeys := resp.SelfSigningKeys[bot]
		ssk := sskKeys.FirstKey()
		if len(resp.MasterKeys[bot].Keys) == 0 || ssk == "" || !signedBy(resp.DeviceKeys[bot][dev], bot, ssk) {
			out = append(out, bot)
		}
	}
	return out, nil
}
