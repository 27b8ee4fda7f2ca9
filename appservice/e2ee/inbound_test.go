package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Inbound sessions kept in memory between decryptions (inbound.go) never
// decrypt less than the database would, and never for long what the
// database no longer has.

// inboundSession is the customer's session ogs as the bot's device gets
// it now: knowing ogs's messages from its next one on.
func inboundSession(t *testing.T, ogs *crypto.OutboundGroupSession) *crypto.InboundGroupSession {
	t.Helper()
	igs, err := crypto.NewInboundGroupSession("customercurve25519keyAAAAAAAAAAAAAAAAAAAAAA", "customered25519keyAAAAAAAAAAAAAAAAAAAAAAAAA",
		encRoom(0), ogs.Internal.Key(), time.Hour, 10000, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return igs
}

// decryptBody decrypts evt with c and commits its record; "" and the
// error when it cannot be read.
func decryptBody(t *testing.T, c *Crypto, db *store.DB, evt *event.Event) (string, bool, error) {
	t.Helper()
	plain, record, wait, err := c.Decrypt(context.Background(), evt)
	if err != nil {
		return "", wait, err
	}
	if err := commit(db, record); err != nil {
		t.Fatal(err)
	}
	return plain.Content.AsMessage().Body, false, nil
}

// keyedRoom0 is the bot's device, in room 0 with the customer, and the
// customer's session there.
func keyedRoom0(t *testing.T, db *store.DB) (*Crypto, *crypto.OutboundGroupSession) {
	t.Helper()
	c, customers := keyedCrypto(t, db, nil, 1)
	if err := store.SetBotMembership(context.Background(), db, encBenchBot.String(), encRoom(0).String(), "join", true, encCustomer(0)); err != nil {
		t.Fatal(err)
	}
	return c, customers[0]
}

// A process decrypting from its kept copy of a session that another
// process has since replaced with a better one (knowing earlier
// messages, as a re-shared key does) reads the earlier messages too.
func TestKeptSessionGivesWayToABetterOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, ogs := keyedRoom0(t, db)
		full := inboundSession(t, ogs) // from message 0
		early := customerEvent(t, ogs, "$early", "one margherita")
		customerEvent(t, ogs, "$early2", "and a cola")
		partial := inboundSession(t, ogs) // from message 2
		late := customerEvent(t, ogs, "$late", "to the office")

		dev, _ := c.device(encBenchBot)
		if err := dev.store.PutGroupSession(ctx, partial); err != nil {
			t.Fatal(err)
		}
		if body, _, err := decryptBody(t, c, db, late); err != nil || body != "to the office" {
			t.Fatalf("decrypt with the partial session: %q %v", body, err)
		}
		if _, wait, err := decryptBody(t, c, db, early); !wait || !errors.Is(err, olm.ErrUnknownMessageIndex) {
			t.Fatalf("a message before the session's first index: wait %v, err %v; want waiting for a better key", wait, err)
		}

		other := restart(t, db)
		odev, _ := other.device(encBenchBot)
		if err := odev.store.PutGroupSession(ctx, full); err != nil {
			t.Fatal(err)
		}
		if body, _, err := decryptBody(t, c, db, early); err != nil || body != "one margherita" {
			t.Fatalf("after another process stored the better session: %q %v", body, err)
		}
	})
}

// "Forget me" erases the customer's sessions from the database and from
// the memory of the process that runs it: their next message is not
// read with a key bizbots was asked to forget.
func TestForgottenSessionLeavesMemory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, ogs := keyedRoom0(t, db)
		if body, _, err := decryptBody(t, c, db, customerEvent(t, ogs, "$1", "hello")); err != nil || body != "hello" {
			t.Fatalf("decrypt: %q %v", body, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO crypto_device (user_id, device_id, identity_key, signing_key, trust, deleted, name)
			VALUES ($1, 'CUSTOMER', 'customercurve25519keyAAAAAAAAAAAAAAAAAAAAAA', 'customered25519keyAAAAAAAAAAAAAAAAAAAAAAAAA', 0, false, '')`,
			encCustomer(0)); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, func(tx store.Tx) error {
			return c.ForgetCustomer(ctx, tx, encBenchBot, id.UserID(encCustomer(0)))
		})
		if err != nil {
			t.Fatal(err)
		}
		if body, wait, err := decryptBody(t, c, db, customerEvent(t, ogs, "$2", "forget me")); !wait || !errors.Is(err, crypto.ErrNoSessionFound) {
			t.Fatalf("after forget me: read %q (wait %v, err %v); want no session", body, wait, err)
		}
	})
}

// A session erased by another process is read from memory for at most
// inboundTTL.
func TestKeptSessionExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, ogs := keyedRoom0(t, db)
		dev, _ := c.device(encBenchBot)
		var mu sync.Mutex
		now := time.Now()
		dev.store.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		if _, _, err := decryptBody(t, c, db, customerEvent(t, ogs, "$1", "hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM crypto_megolm_inbound_session`); err != nil {
			t.Fatal(err)
		}
		if body, _, err := decryptBody(t, c, db, customerEvent(t, ogs, "$2", "still kept")); err != nil || body != "still kept" {
			t.Fatalf("within the kept copy's time: %q %v; want read from memory", body, err)
		}
		mu.Lock()
		now = now.Add(inboundTTL)
		mu.Unlock()
		if body, wait, err := decryptBody(t, c, db, customerEvent(t, ogs, "$3", "too late")); !wait || !errors.Is(err, crypto.ErrNoSessionFound) {
			t.Fatalf("after the kept copy's time: read %q (wait %v, err %v); want no session", body, wait, err)
		}
	})
}

// A kept copy leaves memory once it is inboundTTL old, even if its
// conversation never writes again: key material is not kept for longer
// than that (the next decryption of any session sweeps the old ones).
func TestOldKeptSessionsLeaveMemory(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, customers := keyedCrypto(t, db, nil, 2)
		for r := 0; r < 2; r++ {
			if err := store.SetBotMembership(ctx, db, encBenchBot.String(), encRoom(r).String(), "join", true, encCustomer(r)); err != nil {
				t.Fatal(err)
			}
		}
		dev, _ := c.device(encBenchBot)
		var mu sync.Mutex
		now := time.Now()
		dev.store.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		if _, _, err := decryptBody(t, c, db, customerEvent(t, customers[0], "$1", "hello")); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(inboundTTL)
		mu.Unlock()
		plain, _ := json.Marshal(map[string]any{"room_id": encRoom(1), "type": "m.room.message",
			"content": map[string]string{"msgtype": "m.text", "body": "hi"}})
		ct, err := customers[1].Internal.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		second := sealedAs(t, customers[1], ct, "$2")
		second.RoomID = encRoom(1)
		if _, _, err := decryptBody(t, c, db, second); err != nil {
			t.Fatal(err)
		}
		dev.store.mu.Lock()
		defer dev.store.mu.Unlock()
		if _, ok := dev.store.inbound[inboundKey{encRoom(0), customers[0].ID()}]; ok {
			t.Fatal("a copy older than inboundTTL is still in memory")
		}
		if len(dev.store.inbound) != 1 {
			t.Fatalf("%d sessions in memory, want the one just read", len(dev.store.inbound))
		}
	})
}
