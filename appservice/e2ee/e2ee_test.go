package e2ee

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The crypto store's tables are created in bizbots' own database by their
// own versioned upgrades, and upgrading again is a no-op.
func TestUpgradeIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for range 2 {
			if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
				t.Fatal(err)
			}
		}
		var v int
		if err := db.QueryRowContext(ctx, `SELECT version FROM crypto_version`).Scan(&v); err != nil || v < 20 {
			t.Fatalf("crypto_version %d (%v), want the crypto store's latest", v, err)
		}
	})
}

// A bot's Olm account (its identity keys) survives closing and reopening
// the store — what a restart or a move to a new host does — and cannot be
// read with another pickle key.
func TestAccountSurvivesReopen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		dbu, err := wrap(db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		key := PickleKey("as_token:secret")
		cs := crypto.NewSQLCryptoStore(dbu, dbu.Log, "@pizza:example.org", "BIZBOTSDEV", key)
		acct := crypto.NewOlmAccount()
		if err := cs.PutAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}

		dbu2, _ := wrap(db, zerolog.Nop())
		again := crypto.NewSQLCryptoStore(dbu2, dbu2.Log, "@pizza:example.org", "", key)
		dev, err := again.FindDeviceID(ctx)
		if err != nil || dev != "BIZBOTSDEV" {
			t.Fatalf("device id %q (%v), want BIZBOTSDEV", dev, err)
		}
		got, err := again.GetAccount(ctx)
		if err != nil || got == nil {
			t.Fatalf("account after reopen: %v", err)
		}
		if got.IdentityKey() != acct.IdentityKey() || got.SigningKey() != acct.SigningKey() {
			t.Fatal("identity keys changed across reopen")
		}

		wrong := crypto.NewSQLCryptoStore(dbu2, dbu2.Log, "@pizza:example.org", "", PickleKey("another"))
		if _, err := wrong.GetAccount(ctx); err == nil {
			t.Fatal("account unpickled with the wrong pickle key")
		}
	})
}

// Forget me erases the customer's inbound Megolm sessions for that bot and
// their device list; other customers' and other bots' material stays.
func TestForgetCustomerErasesCryptoMaterial(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		const alice, bob = "@alice:example.org", "@bob:example.org"
		aliceKey, bobKey := "A000000000000000000000000000000000000000000", "B000000000000000000000000000000000000000000"
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []struct{ user, key string }{{alice, aliceKey}, {bob, bobKey}} {
			exec(`INSERT INTO crypto_device (user_id, device_id, identity_key, signing_key, trust, deleted, name)
				VALUES ($1, 'DEV', $2, $2, 0, false, '')`, d.user, d.key)
			exec(`INSERT INTO crypto_tracked_user (user_id) VALUES ($1)`, d.user)
		}
		for i, s := range []struct{ account, key string }{
			{"@pizza:example.org", aliceKey}, {"@pizza:example.org", bobKey}, {"@taxi:example.org", aliceKey},
		} {
			exec(`INSERT INTO crypto_megolm_inbound_session (account_id, session_id, sender_key, room_id)
				VALUES ($1, $2, $3, '!r:example.org')`, s.account, string(rune('a'+i))+"00000000000000000000000000000000000000000", s.key)
		}
		c := &Crypto{}
		err := db.Tx(ctx, func(tx store.Tx) error {
			return c.ForgetCustomer(ctx, tx, id.UserID("@pizza:example.org"), id.UserID(alice))
		})
		if err != nil {
			t.Fatal(err)
		}
		count := func(q string, args ...any) int {
			var n int
			if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(`SELECT count(*) FROM crypto_megolm_inbound_session WHERE account_id = '@pizza:example.org' AND sender_key = $1`, aliceKey); n != 0 {
			t.Errorf("%d of alice's sessions with pizza left", n)
		}
		if n := count(`SELECT count(*) FROM crypto_megolm_inbound_session WHERE sender_key = $1`, bobKey); n != 1 {
			t.Errorf("bob's session erased too")
		}
		if n := count(`SELECT count(*) FROM crypto_megolm_inbound_session WHERE account_id = '@taxi:example.org'`); n != 1 {
			t.Errorf("another bot's session erased: forget me is per business")
		}
		if n := count(`SELECT count(*) FROM crypto_device WHERE user_id = $1`, alice); n != 0 {
			t.Errorf("alice's device list kept")
		}
		if n := count(`SELECT count(*) FROM crypto_device WHERE user_id = $1`, bob); n != 1 {
			t.Errorf("bob's device list erased")
		}
	})
}

// The device id bizbots chooses is stable for an installation and bot.
func TestDeviceIDIsStable(t *testing.T) {
	c := &Crypto{db: &store.DB{InstallID: "abc"}}
	a, b := c.deviceIDFor("@pizza:example.org"), c.deviceIDFor("@pizza:example.org")
	if a != b || a == c.deviceIDFor("@taxi:example.org") || len(a) < 10 {
		t.Fatalf("device ids %q %q", a, b)
	}
}
