package e2ee

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"
)

// A fallback key is what a homeserver hands out for a device once its
// one-time keys are used up, so a customer's first message still opens
// an Olm session instead of failing until the next top-up. mautrix v0.32's
// OlmMachine uploads one-time keys only; bizbots adds the fallback key with
// the goolm account, which keeps it (and the previous one, for messages
// already on their way) in the pickled account. A libolm build has no
// fallback keys here.

// goolmAccount is dev's Olm account as goolm's type, false in a libolm
// build.
func goolmAccount(dev *device) (*account.Account, bool) {
	acc, ok := dev.mach.GetAccount().Internal.(*account.Account)
	return acc, ok
}

// ensureFallbackKey uploads the device's fallback key unless the homeserver
// has it: a new one the first time, the same one again when an earlier
// upload did not finish.
func (c *Crypto) ensureFallbackKey(ctx context.Context, dev *device) error {
	acc, ok := goolmAccount(dev)
	if !ok || (acc.NumFallbackKeys > 0 && acc.CurrentFallbackKey.Published) {
		return nil
	}
	if acc.NumFallbackKeys == 0 {
		if err := acc.GenFallbackKey(); err != nil {
			return fmt.Errorf("make fallback key: %w", err)
		}
	}
	return c.uploadFallbackKey(ctx, dev, acc)
}

// fallbackKeysReported handles the unused fallback key types a homeserver
// reports for the device (sync's device_unused_fallback_key_types, or
// MSC3202's in transactions): when signed_curve25519 is missing, its
// fallback key was handed out, and a new one replaces it. The previous key
// is kept for messages made with it that have not arrived yet.
func (c *Crypto) fallbackKeysReported(ctx context.Context, dev *device, unused []id.KeyAlgorithm) {
	if slices.Contains(unused, id.KeyAlgorithmSignedCurve25519) {
		return
	}
	acc, ok := goolmAccount(dev)
	if !ok {
		return
	}
	err := acc.GenFallbackKey()
	if err == nil {
		err = c.uploadFallbackKey(ctx, dev, acc)
	}
	if err != nil {
		// Kept unpublished in the account: the next start uploads it.
		zerolog.Ctx(ctx).Warn().Err(err).Msg("cannot replace the device's used fallback key")
	}
}

// uploadFallbackKey signs and uploads the account's current fallback key
// (POST /keys/upload, fallback_keys), kept in the crypto store first so a
// crash after the upload cannot lose its private part.
func (c *Crypto) uploadFallbackKey(ctx context.Context, dev *device, acc *account.Account) error {
	olmAcc := dev.mach.GetAccount()
	if err := dev.store.PutAccount(ctx, olmAcc); err != nil {
		return fmt.Errorf("keep fallback key: %w", err)
	}
	keys := map[id.KeyID]mautrix.OneTimeKey{}
	for keyID, pub := range acc.FallbackKey() {
		k := mautrix.OneTimeKey{Key: pub, Fallback: true, IsSigned: true}
		sig, err := olmAcc.SignJSON(&k)
		if err != nil {
			return fmt.Errorf("sign fallback key: %w", err)
		}
		k.Signatures = signatures.NewSingleSignature(dev.bot, id.KeyAlgorithmEd25519, dev.client.DeviceID.String(), sig)
		keys[id.NewKeyID(id.KeyAlgorithmSignedCurve25519, keyID)] = k
	}
	req := struct {
		FallbackKeys map[id.KeyID]mautrix.OneTimeKey `json:"fallback_keys"`
	}{keys}
	if _, err := dev.client.MakeRequest(ctx, http.MethodPost, dev.client.BuildClientURL("v3", "keys", "upload"), &req, nil); err != nil {
		return fmt.Errorf("upload fallback key: %w", err)
	}
	acc.CurrentFallbackKey.Published = true
	if err := dev.store.PutAccount(ctx, olmAcc); err != nil {
		return fmt.Errorf("keep fallback key: %w", err)
	}
	zerolog.Ctx(ctx).Debug().Msg("fallback key uploaded")
	return nil
}
