package config

import (
	"fmt"
	"time"
)

// Encryption configures end-to-end encrypted rooms, like the mautrix
// bridges' block of the same name (docs/encryption.md).
type Encryption struct {
	// Allow: every bot gets a device and takes part in encrypted rooms.
	Allow bool `yaml:"allow"`
	// Default: bots turn encryption on in direct chats opened without it
	// (when the room's power levels let them).
	Default bool `yaml:"default"`
	// Require: plaintext direct chats are refused politely.
	Require bool `yaml:"require"`
	// PickleKey encrypts the Olm/Megolm state at rest; default derived
	// from the as_token. Set it before changing the as_token.
	PickleKey string `yaml:"pickle_key"`
	// KeyWait bounds how long an encrypted message waits for its room key
	// before the customer is asked to send it again.
	KeyWait Duration `yaml:"key_wait"`
	// DeviceName is the bots' device name users see.
	DeviceName string `yaml:"device_name"`
	// Appservice: the homeserver sends to-device messages, device list
	// changes and one-time key counts in transactions (MSC2409/MSC3202,
	// Synapse with experimental_features msc2409_to_device_messages_enabled
	// and msc3202_transaction_extensions); else each bot's device syncs.
	Appservice bool `yaml:"appservice"`
	// CrossSigning says how each bot's device gets cross-signed, so that
	// clients sending only to cross-signed devices (MSC4153) reach it:
	// auto, msc4190, password or off (docs/encryption.md).
	CrossSigning string `yaml:"cross_signing"`
	// HomeserverAdminToken is a homeserver admin's access token. On
	// Dendrite, bizbots uses it once per bot to give the bot a random
	// password (kept encrypted in the database), which Dendrite demands
	// before it takes cross-signing keys.
	HomeserverAdminToken string `yaml:"homeserver_admin_token"`
}

func (e *Encryption) applyDefaults() {
	if e.KeyWait == 0 {
		e.KeyWait = Duration(10 * time.Minute)
	}
	if e.DeviceName == "" {
		e.DeviceName = "bizbots"
	}
	if e.CrossSigning == "" {
		e.CrossSigning = "auto"
	}
}

func (e *Encryption) validate(add func(format string, args ...any)) {
	if (e.Default || e.Require) && !e.Allow {
		add("encryption.default and encryption.require need encryption.allow: true")
	}
	if e.KeyWait < 0 {
		add("encryption.key_wait must not be negative")
	}
	if e.PickleKey != "" && len(e.PickleKey) < 16 {
		add("encryption.pickle_key is too short (%d characters; use at least 16, e.g. from `openssl rand -hex 32`)", len(e.PickleKey))
	}
	switch e.CrossSigning {
	case "auto", "msc4190", "off":
	case "password":
		if e.HomeserverAdminToken == "" {
			add("encryption.cross_signing: password needs encryption.homeserver_admin_token (a Dendrite admin's access token)")
		}
	default:
		add("encryption.cross_signing is %q; want auto, msc4190, password or off", e.CrossSigning)
	}
}

// PickleSecret is what the crypto state's pickle key is derived from.
func (c *Config) PickleSecret() string {
	if c.Encryption.PickleKey != "" {
		return c.Encryption.PickleKey
	}
	return fmt.Sprintf("as_token:%s", c.AppService.ASToken)
}
