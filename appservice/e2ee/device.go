package e2ee

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/store"
)

// device is one bot's encryption device.
type device struct {
	bot    id.UserID
	client *mautrix.Client // as the device (its own access token)
	store  *cryptoStore
	mach   *crypto.OlmMachine
}

// tokenKey is where a bot device's access token is kept (bb_meta), so every
// process uses the one device: logging in again with the same device id
// revokes the earlier token on Dendrite.
func tokenKey(bot id.UserID) string { return "e2ee.device_token." + bot.String() }

// HasDevice says whether a bot's device was created (by a serve with
// encryption on) in this database.
func HasDevice(ctx context.Context, db *store.DB, bot id.UserID) (bool, error) {
	tok, err := db.Meta(ctx, tokenKey(bot))
	return tok != "", err
}

// deviceIDFor is the device id bizbots chooses for bot: stable for an
// installation, so a restart or a lost token reuses the same device.
func (c *Crypto) deviceIDFor(bot id.UserID) id.DeviceID {
	sum := sha256.Sum256([]byte(c.db.InstallID + "\x00" + bot.String()))
	return id.DeviceID("BIZBOTS" + strings.ToUpper(hex.EncodeToString(sum[:5])))
}

// openDevice logs the bot's device in (or reuses its stored token), loads
// its Olm account from the crypto store, uploads its identity, one-time
// and fallback keys, and loads its cross-signing keys.
func (c *Crypto) openDevice(ctx context.Context, bot id.UserID) (*device, error) {
	log := quiet(zerolog.Ctx(ctx).With().Str("component", "crypto").Logger())
	cs := newCryptoStore(crypto.NewSQLCryptoStore(c.dbu, c.dbu.Log, bot.String(), "", c.opts.PickleKey))
	deviceID, err := cs.FindDeviceID(ctx)
	if err != nil {
		return nil, fmt.Errorf("find device id: %w", err)
	}
	if deviceID == "" {
		deviceID = c.deviceIDFor(bot)
	}
	cli, err := mautrix.NewClient(c.opts.HomeserverURL, bot, "")
	if err != nil {
		return nil, fmt.Errorf("homeserver url: %w", err)
	}
	cli.Client = &http.Client{Transport: c.transport(), Timeout: 90 * time.Second}
	cli.DefaultHTTPRetries = 0
	cli.UserAgent = "bizbots"
	cli.Log = zerolog.Nop() // mautrix logs request bodies on failure
	if err := c.authenticate(ctx, cli, deviceID); err != nil {
		return nil, err
	}
	cs.DeviceID = cli.DeviceID
	mach, err := c.loadMachine(ctx, cli, cs, &log)
	if err != nil {
		return nil, err
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		return nil, fmt.Errorf("upload device keys: %w", err)
	}
	dev := &device{bot: bot, client: cli, store: cs, mach: mach}
	mach.AllowKeyShare = c.allowKeyShare(dev)
	if err := c.ensureFallbackKey(ctx, dev); err != nil {
		// The one-time keys still work; the next start tries again.
		log.Warn().Err(err).Msg("the device has no fallback key on the homeserver")
	}
	if c.crossSigningMode() != CrossSignOff {
		if err := c.loadCrossSigningKeys(ctx, dev); err != nil {
			return nil, err
		}
	}
	return dev, nil
}

// loadMachine makes the Olm machine of cli's device over store cs and
// loads (or creates) its account.
func (c *Crypto) loadMachine(ctx context.Context, cli *mautrix.Client, cs *cryptoStore, log *zerolog.Logger) (*crypto.OlmMachine, error) {
	mach := crypto.NewOlmMachine(cli, log, cs, c.state)
	mach.SessionReceived = c.roomKeyArrived
	// New devices of a member get the keys of the next message: the
	// outbound session is replaced when a member's device list changes.
	mach.DisableDeviceChangeKeyRotation = false
	// Ratchet tracking serves key deletion, which bizbots does not use;
	// without it a decryption writes nothing but its message index.
	mach.DisableRatchetTracking = true
	// bizbots answers whichever device of the customer writes and never
	// acts on a decrypted event's trust level, so decrypting does not
	// resolve it: no key query to the homeserver for each new sender
	// device, no device lookup per message (cryptoStore.FindDeviceByKey).
	mach.DisableDecryptKeyFetching = true
	if err := mach.Load(ctx); err != nil {
		return nil, fmt.Errorf("load olm account: %w", err)
	}
	// The account fills in its own identity keys on first use, without
	// a lock; the sender's workers encrypt in parallel, so fill them in
	// now, before the machine is shared.
	mach.OwnIdentity()
	return mach, nil
}

func (c *Crypto) transport() http.RoundTripper {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rt == nil {
		c.rt = hsclient.NewTransport(max(c.opts.Workers, 4))
	}
	return c.rt
}

// authenticate gives cli the device's access token: the stored one if the
// homeserver still takes it, else a new appservice login for deviceID.
func (c *Crypto) authenticate(ctx context.Context, cli *mautrix.Client, deviceID id.DeviceID) error {
	if tok, err := c.db.Meta(ctx, tokenKey(cli.UserID)); err != nil {
		return err
	} else if tok != "" {
		cli.AccessToken = tok
		who, err := cli.Whoami(ctx)
		switch {
		case err == nil && who.DeviceID == deviceID:
			cli.DeviceID = deviceID
			return nil
		case err == nil, errors.Is(err, mautrix.MUnknownToken):
			// A token for another device, or revoked: log in again.
		default:
			return fmt.Errorf("check device token: %w", err)
		}
	}
	cli.AccessToken = c.opts.ASToken
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypeAppservice,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: cli.UserID.String()},
		DeviceID:                 deviceID,
		InitialDeviceDisplayName: c.opts.DeviceName,
	})
	if err != nil {
		return fmt.Errorf("appservice login for device %s: %w", deviceID, err)
	}
	cli.AccessToken, cli.DeviceID = resp.AccessToken, resp.DeviceID
	return c.db.SetMeta(ctx, tokenKey(cli.UserID), resp.AccessToken)
}

// relogin replaces a device token the homeserver no longer takes. Another
// process may have done so already: its stored token is tried first.
func (c *Crypto) relogin(ctx context.Context, dev *device) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	return c.authenticate(ctx, dev.client, dev.client.DeviceID)
}

// allowKeyShare answers room key requests for the bot's own messages:
// the customer of a direct chat gets them for any of their devices (a
// device that had no keys yet when the bot wrote, or a new one asking for
// the conversation so far). In group rooms only the devices a key was
// sent to get it again, as mautrix does by default.
func (c *Crypto) allowKeyShare(dev *device) func(context.Context, *id.Device, event.RequestedKeyInfo) *crypto.KeyShareRejection {
	return func(ctx context.Context, requester *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
		switch {
		case requester.Trust == id.TrustStateBlacklisted:
			return &crypto.KeyShareRejectBlacklisted
		case requester.UserID == dev.bot:
			return &crypto.KeyShareRejectNoResponse
		}
		if shared, err := dev.store.IsOutboundGroupSessionShared(ctx, requester.UserID, requester.IdentityKey, info.SessionID); err == nil && shared {
			return nil
		}
		igs, err := dev.store.GetGroupSession(ctx, info.RoomID, info.SessionID)
		if err != nil || igs == nil || igs.SenderKey != dev.mach.OwnIdentity().IdentityKey {
			return &crypto.KeyShareRejectNoResponse // not a key of ours
		}
		customers, err := c.db.JoinedMemberCount(ctx, info.RoomID.String())
		if err != nil {
			return &crypto.KeyShareRejectNoResponse
		}
		members, err := c.db.RoomRecipients(ctx, info.RoomID.String())
		if err != nil {
			return &crypto.KeyShareRejectNoResponse
		}
		if customers == 1 && slices.Contains(members, requester.UserID.String()) {
			return nil
		}
		return &crypto.KeyShareRejection{Code: event.RoomKeyWithheldUnauthorized, Reason: "only the customer of a direct chat gets earlier keys"}
	}
}
