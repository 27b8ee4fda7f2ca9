package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// restart is another process (or this one after a crash) on db: a new
// Crypto whose device finds only what was committed.
func restart(t *testing.T, db *store.DB) *Crypto {
	t.Helper()
	c, err := New(db, nil, []id.UserID{encBenchBot}, Options{HomeserverURL: "http://127.0.0.1:1", ASToken: encBenchAS, PickleKey: PickleKey("bench")}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c.state.set(encRoom(0), &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1, RotationPeriodMessages: 10000})
	c.keyedDevice(t)
	return c
}

// encrypt seals a reply in room 0 and returns its Megolm message index.
func encrypt(t *testing.T, c *Crypto, body string) (uint, func(context.Context, store.Tx) error) {
	t.Helper()
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": body})
	sealed, persist, err := c.Encrypt(context.Background(), encBenchBot, encRoom(0), "m.room.message", content)
	if err != nil {
		t.Fatal(err)
	}
	var enc event.EncryptedEventContent
	if err := json.Unmarshal(sealed, &enc); err != nil {
		t.Fatal(err)
	}
	idx, err := crypto.ParseMegolmMessageIndex(enc.MegolmCiphertext)
	if err != nil {
		t.Fatal(err)
	}
	return idx, persist
}

func commit(db *store.DB, fn func(context.Context, store.Tx) error) error {
	return db.Tx(context.Background(), func(tx store.Tx) error { return fn(context.Background(), tx) })
}

// A reply's ciphertext and the ratchet that made it are kept in one
// transaction: once a reply is kept for sending, no later reply, in this
// process, after a restart or in another process, gets its message index;
// a ciphertext whose session moved on before it was kept cannot be kept.
func TestEncryptedRepliesNeverShareAnIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, _ := keyedCrypto(t, db, nil, 1)
		first, persist := encrypt(t, c, "one")
		if err := commit(db, persist); err != nil {
			t.Fatal(err)
		}
		second, persist := encrypt(t, c, "two")
		if second <= first {
			t.Fatalf("second reply has index %d after %d", second, first)
		}
		if err := commit(db, persist); err != nil {
			t.Fatal(err)
		}

		// After a restart the next reply goes on from the kept ones.
		c = restart(t, db)
		third, persist := encrypt(t, c, "three")
		if third <= second {
			t.Fatalf("after a restart a reply has index %d, already used by a kept reply (%d)", third, second)
		}

		// Meanwhile another process encrypts in the room from the same
		// state and keeps its reply first: ours must not be kept.
		other := restart(t, db)
		theirs, theirPersist := encrypt(t, other, "elsewhere")
		if theirs != third {
			t.Fatalf("the other process's index %d, want %d (the same state)", theirs, third)
		}
		if err := commit(db, theirPersist); err != nil {
			t.Fatal(err)
		}
		if err := commit(db, persist); !errors.Is(err, errRatchetMoved) {
			t.Fatalf("a reply whose index another kept reply has was kept too: %v", err)
		}

		// A reply that was not kept (its transaction rolled back) leaves
		// the next one free to be kept, with an index after every kept one.
		_, persist = encrypt(t, c, "four")
		_ = db.Tx(context.Background(), func(tx store.Tx) error {
			if err := persist(context.Background(), tx); err != nil {
				return err
			}
			return errors.New("sealing failed")
		})
		fifth, persist := encrypt(t, c, "five")
		if fifth <= theirs {
			t.Fatalf("index %d reused after %d was kept", fifth, theirs)
		}
		if err := commit(db, persist); err != nil {
			t.Fatal(err)
		}

		// The other process keeps more replies (the room's sender moved
		// there): what this process knew of the session is stale, and
		// what it encrypts from it is not kept; the next reply is.
		var last uint
		for range 3 {
			idx, persist := encrypt(t, other, "elsewhere")
			err := commit(db, persist)
			if errors.Is(err, errRatchetMoved) {
				// The other process's memory was stale too (this one
				// kept replies since): encrypted again, as the sender does.
				idx, persist = encrypt(t, other, "elsewhere")
				err = commit(db, persist)
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx <= fifth {
				t.Fatalf("index %d reused after %d was kept", idx, fifth)
			}
			last = idx
		}
		stale, persist := encrypt(t, c, "six")
		if err := commit(db, persist); !errors.Is(err, errRatchetMoved) {
			t.Fatalf("a reply encrypted at index %d from a stale state was kept (%d kept elsewhere): %v", stale, last, err)
		}
		seventh, persist := encrypt(t, c, "seven")
		if seventh <= last {
			t.Fatalf("index %d reused after %d was kept", seventh, last)
		}
		if err := commit(db, persist); err != nil {
			t.Fatal(err)
		}
	})
}

// customerEvent is the customer's message in room 0 under their session
// ogs, as the homeserver delivers it with event id eventID.
func customerEvent(t *testing.T, ogs *crypto.OutboundGroupSession, eventID, body string) *event.Event {
	t.Helper()
	plain, _ := json.Marshal(map[string]any{"room_id": encRoom(0), "type": "m.room.message",
		"content": map[string]string{"msgtype": "m.text", "body": body}})
	ct, err := ogs.Internal.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	return sealedAs(t, ogs, ct, eventID)
}

// sealedAs is ciphertext ct delivered as event eventID.
func sealedAs(t *testing.T, ogs *crypto.OutboundGroupSession, ct []byte, eventID string) *event.Event {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"type": "m.room.encrypted", "room_id": encRoom(0), "sender": encCustomer(0),
		"event_id": eventID, "origin_server_ts": 1700000000000,
		"content": map[string]any{"algorithm": id.AlgorithmMegolmV1, "ciphertext": string(ct), "session_id": ogs.ID(),
			"sender_key": "customercurve25519keyAAAAAAAAAAAAAAAAAAAAAA", "device_id": "CUSTOMER"}})
	evt := &event.Event{}
	if err := json.Unmarshal(raw, evt); err != nil {
		t.Fatal(err)
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		t.Fatal(err)
	}
	return evt
}

// A customer's ciphertext is read once: the same event delivered again
// is read again, but the same ciphertext under another event id is
// refused, after a restart too, and when both were read before either
// was committed, only the first to commit is kept.
func TestReplayedCiphertextIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, customers := keyedCrypto(t, db, nil, 1)
		if err := store.SetBotMembership(ctx, db, encBenchBot.String(), encRoom(0).String(), "join", true, encCustomer(0)); err != nil {
			t.Fatal(err)
		}
		ogs := customers[0]
		evt := customerEvent(t, ogs, "$first", "one pizza")
		plain, record, _, err := c.Decrypt(ctx, evt)
		if err != nil || plain.Content.AsMessage().Body != "one pizza" {
			t.Fatalf("decrypt: %v", err)
		}
		if err := commit(db, record); err != nil {
			t.Fatal(err)
		}
		if _, record, _, err := c.Decrypt(ctx, evt); err != nil {
			t.Fatalf("the same event delivered again: %v", err)
		} else if err := commit(db, record); err != nil {
			t.Fatalf("the same event delivered again: %v", err)
		}

		ct := evt.Content.AsEncrypted().MegolmCiphertext
		replay := sealedAs(t, ogs, ct, "$replayed")
		for _, c := range []*Crypto{c, restart(t, db)} {
			_, _, wait, err := c.Decrypt(ctx, replay)
			if !errors.Is(err, crypto.ErrDuplicateMessageIndex) || wait {
				t.Fatalf("replayed ciphertext: wait %v, err %v; want refused", wait, err)
			}
		}

		// Read twice before either commits (as two processes might).
		next := customerEvent(t, ogs, "$second", "two pizzas")
		_, recordA, _, errA := c.Decrypt(ctx, next)
		_, recordB, _, errB := c.Decrypt(ctx, sealedAs(t, ogs, next.Content.AsEncrypted().MegolmCiphertext, "$second-replayed"))
		if errA != nil || errB != nil {
			t.Fatalf("decrypt: %v, %v", errA, errB)
		}
		if err := commit(db, recordA); err != nil {
			t.Fatal(err)
		}
		if err := commit(db, recordB); !errors.Is(err, ErrReplayed) {
			t.Fatalf("the replay committed too: %v", err)
		}
	})
}

// Through the whole flow (intake, dispatcher, sender): a customer's
// encrypted message is handled once, and the same ciphertext delivered
// again under another event id is not handled as a message: the customer
// is told it could not be read.
func TestReplayedMessageIsNotHandledAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := startEncFlow(t, db, true)
		ev := f.message(t, 0, "one pizza")
		replay := map[string]any{}
		for k, v := range ev {
			replay[k] = v
		}
		replay["event_id"] = "$replayed"
		for i, evs := range [][]map[string]any{{ev}, {replay}} {
			if status, err := fakehs.Push(ctx, f.asURL, encBenchHS, fmt.Sprintf("t%d", i), evs); err != nil || status != 200 {
				t.Fatalf("push: %d %v", status, err)
			}
			want := encBenchRooms + i + 1
			if !f.hs.WaitFor(time.Minute, func() bool { return len(f.hs.Sends()) >= want }) {
				t.Fatalf("%d replies, want %d", len(f.hs.Sends()), want)
			}
		}
		note := func(eventID any) string {
			var s sql.NullString
			if err := db.QueryRowContext(ctx, `SELECT last_error FROM inbox WHERE event_id = $1 AND status = 'done'`, eventID).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s.String
		}
		if n := note(ev["event_id"]); strings.HasPrefix(n, "undecryptable") {
			t.Fatalf("the message was not read: %s", n)
		}
		if n := note("$replayed"); !strings.HasPrefix(n, "undecryptable") || !strings.Contains(n, "duplicate megolm message index") {
			t.Fatalf("the replay was handled: note %q", n)
		}
	})
}

// Replies in different rooms are encrypted at the same time by the
// sender's workers, from a device just loaded from the database (after a
// restart): the device's own keys are read, never filled in, by them.
func TestConcurrentEncryptAfterRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		keyedCrypto(t, db, nil, 2)
		c := restart(t, db)
		c.state.set(encRoom(1), &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1, RotationPeriodMessages: 10000})
		errs := make(chan error, 2)
		for r := range 2 {
			go func() {
				content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "hi"})
				_, _, err := c.Encrypt(context.Background(), encBenchBot, encRoom(r), "m.room.message", content)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}
