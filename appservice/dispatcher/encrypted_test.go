package dispatcher_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// fakeCrypto stands in for appservice/e2ee: an "encrypted" event's
// ciphertext is its plain content as JSON, readable once its session's key
// has been given.
type fakeCrypto struct {
	db *store.DB

	mu        sync.Mutex
	keys      map[string]bool // session ids whose key arrived
	requested []string        // sessions a key request was made for
	forgotten []string        // customers whose crypto material was erased
	enabled   []string        // rooms encryption was turned on in
}

func newFakeCrypto(db *store.DB) *fakeCrypto { return &fakeCrypto{db: db, keys: map[string]bool{}} }

// giveKey is a room key arriving for session in room: as e2ee does, the
// room's waiting events become due.
func (c *fakeCrypto) giveKey(t *testing.T, room, session string) {
	t.Helper()
	c.mu.Lock()
	c.keys[session] = true
	c.mu.Unlock()
	if _, err := c.db.WakeEncrypted(context.Background(), room); err != nil {
		t.Fatal(err)
	}
}

func (c *fakeCrypto) Decrypt(_ context.Context, evt *event.Event) (*event.Event, func(context.Context, store.Tx) error, bool, error) {
	enc := evt.Content.AsEncrypted()
	c.mu.Lock()
	ok := c.keys[enc.SessionID.String()]
	c.mu.Unlock()
	if !ok {
		return nil, nil, true, errNoKey
	}
	clear, err := base64.RawStdEncoding.DecodeString(strings.Trim(string(enc.MegolmCiphertext), `"`))
	if err != nil {
		return nil, nil, false, errGarbage
	}
	plain := &event.Event{ID: evt.ID, RoomID: evt.RoomID, Sender: evt.Sender, Timestamp: evt.Timestamp, Type: event.EventMessage}
	if err := json.Unmarshal(clear, &plain.Content); err != nil {
		return nil, nil, false, err
	}
	if err := plain.Content.ParseRaw(plain.Type); err != nil {
		return nil, nil, false, err
	}
	plain.Mautrix.WasEncrypted = true
	return plain, nil, false, nil
}

func (c *fakeCrypto) RequestKey(_ context.Context, evt *event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requested = append(c.requested, evt.Content.AsEncrypted().SessionID.String())
}

func (c *fakeCrypto) Encrypted(_ context.Context, _ id.UserID, room id.RoomID) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.enabled, room.String()), nil
}

func (c *fakeCrypto) EnableEncryption(_ context.Context, _ id.UserID, room id.RoomID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enabled = append(c.enabled, room.String())
	return nil
}

func (c *fakeCrypto) MemberChanged(context.Context, *event.Event) {}
func (c *fakeCrypto) EncryptionChanged(*event.Event)              {}

func (c *fakeCrypto) ForgetCustomer(_ context.Context, _ *sql.Tx, _, customer id.UserID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgotten = append(c.forgotten, customer.String())
	return nil
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const (
	errNoKey   = fakeErr("no session with given ID found")
	errGarbage = fakeErr("bad ciphertext")
)

// sealedMessage builds an m.room.encrypted event carrying an m.text body under
// session.
func sealedMessage(room, sender, session, body string) map[string]any {
	ev := fakehs.Message(room, sender, body)
	plain, _ := json.Marshal(ev["content"])
	ev["type"] = "m.room.encrypted"
	ev["content"] = map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": base64.RawStdEncoding.EncodeToString(plain),
		"session_id": session, "sender_key": "senderkey", "device_id": "ALICEDEVICE"}
	return ev
}

func withCrypto(c *fakeCrypto, keyWait time.Duration, require bool) flowOption {
	return withOptions(func(o *dispatcher.Options) {
		o.Encryption = dispatcher.Encryption{Crypto: c, KeyWait: keyWait, Require: require}
	})
}

// With encryption.default the bot turns encryption on in a direct chat
// opened without it, and then welcomes (the sender encrypts the welcome);
// with require as well, nobody is refused.
func TestEncryptionDefaultTurnsItOn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newFakeCrypto(db)
		f := startFlow(t, db, withOptions(func(o *dispatcher.Options) {
			o.Encryption = dispatcher.Encryption{Crypto: c, KeyWait: time.Hour, Require: true, Default: true}
		}))
		f.dm(t, "!dm:example.org", alice, "Alice", botID)
		if got := bodies(f.waitSends(t, "!dm:example.org", 1)); got[0] != "Welcome to Pizza!" {
			t.Fatalf("first message %q, want the welcome", got[0])
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.enabled) != 1 || c.enabled[0] != "!dm:example.org" {
			t.Fatalf("encryption turned on in %q, want the DM", c.enabled)
		}
	})
}

// encryptedFlow starts a flow with the fake crypto and opens a DM in room
// with alice.
func encryptedFlow(t *testing.T, db *store.DB, room string, keyWait time.Duration, require bool) (*fakeCrypto, *flow) {
	t.Helper()
	c := newFakeCrypto(db)
	f := startFlow(t, db, withCrypto(c, keyWait, require))
	f.dm(t, room, alice, "Alice", botID)
	return c, f
}

// An encrypted message whose room key has not come waits, without counting
// as a failure and without holding up other rooms; the handler gets the
// plain message as soon as the key comes, and the room's later messages
// follow in order.
func TestEncryptedMessageWaitsForItsKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, f := encryptedFlow(t, db, "!enc:example.org", time.Hour, false)
		f.dm(t, "!plain:example.org", bob, "Bob", botID)

		first := sealedMessage("!enc:example.org", alice, "s1", "one")
		second := sealedMessage("!enc:example.org", alice, "s1", "two")
		f.deliver(t, first, second)
		plain := fakehs.Message("!plain:example.org", bob, "hello")
		f.deliver(t, plain)
		f.waitReply(t, "!plain:example.org", "echo: hello")

		f.hs.WaitFor(waitLimit, func() bool { return f.inbox(t, evID(first)).lastError != "" })
		st := f.inbox(t, evID(first))
		if st.status != "pending" || st.attempts != 0 {
			t.Fatalf("message without its key: %+v, want pending with no failed attempt", st)
		}
		if got := bodies(f.hs.SendsTo("!enc:example.org")); len(got) != 1 {
			t.Fatalf("room without its key got %q, want only the welcome", got)
		}

		c.giveKey(t, "!enc:example.org", "s1")
		sends := f.waitReply(t, "!enc:example.org", "echo: two")
		want := []string{"Welcome to Pizza!", "echo: one", "echo: two"}
		if got := bodies(sends); len(got) != 3 || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("sends %q, want %q", got, want)
		}
	})
}

// A message whose key never comes is answered after KeyWait with a polite
// request to send it again, and a key request is made; the room goes on.
func TestEncryptedMessageKeyNeverComes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, f := encryptedFlow(t, db, "!enc:example.org", 300*time.Millisecond, false)

		lost := sealedMessage("!enc:example.org", alice, "lost", "one")
		f.deliver(t, lost)
		f.waitSends(t, "!enc:example.org", 2)
		got := bodies(f.hs.SendsTo("!enc:example.org"))[1]
		if got != "Sorry, I could not read your last message: its encryption keys never reached me. Please send it again." {
			t.Fatalf("after the key wait the customer got %q", got)
		}
		c.mu.Lock()
		requested := append([]string(nil), c.requested...)
		c.mu.Unlock()
		if len(requested) != 1 || requested[0] != "lost" {
			t.Fatalf("key requests %q, want one for session lost", requested)
		}

		c.giveKey(t, "!enc:example.org", "s2")
		f.deliver(t, sealedMessage("!enc:example.org", alice, "s2", "again"))
		f.waitReply(t, "!enc:example.org", "echo: again")
	})
}

// An event that can never be decrypted gets a polite answer at once.
func TestEncryptedMessageUnreadable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, f := encryptedFlow(t, db, "!enc:example.org", time.Hour, false)
		c.giveKey(t, "!enc:example.org", "s1")
		bad := sealedMessage("!enc:example.org", alice, "s1", "x")
		bad["content"].(map[string]any)["ciphertext"] = "garbage!"
		f.deliver(t, bad)
		f.waitReply(t, "!enc:example.org", "Sorry, I could not read your last message (it was encrypted in a way I cannot open). Please send it again.")
	})
}

// With encryption required, a plaintext direct chat is refused politely
// and the handler never runs; an encrypted message in it is answered.
func TestEncryptionRequiredRefusesPlaintext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, f := encryptedFlow(t, db, "!dm:example.org", time.Hour, true)
		refusal := "For your privacy I only chat in end-to-end encrypted chats. Please start a new chat with me with encryption turned on."
		if got := bodies(f.waitSends(t, "!dm:example.org", 1)); got[0] != refusal {
			t.Fatalf("a plaintext DM was greeted with %q, want the refusal", got[0])
		}
		f.deliver(t, fakehs.Message("!dm:example.org", alice, "hello"))
		sends := f.waitSends(t, "!dm:example.org", 2)
		if got := bodies(sends)[1]; got != refusal {
			t.Fatalf("a plaintext message got %q, want the refusal", got)
		}
		c.giveKey(t, "!dm:example.org", "s1")
		f.deliver(t, sealedMessage("!dm:example.org", alice, "s1", "secret hello"))
		f.waitReply(t, "!dm:example.org", "echo: secret hello")
	})
}

// Forget me in an encrypted chat also erases the customer's crypto
// material, in the same commit.
func TestForgetMeErasesCryptoMaterial(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c, f := encryptedFlow(t, db, "!enc:example.org", time.Hour, false)
		c.giveKey(t, "!enc:example.org", "s1")
		ask := sealedMessage("!enc:example.org", alice, "s1", "forget me")
		f.deliver(t, ask)
		f.waitHandled(t, evID(ask))
		yes := sealedMessage("!enc:example.org", alice, "s1", "1")
		f.deliver(t, yes)
		f.waitHandled(t, evID(yes))
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.forgotten) != 1 || c.forgotten[0] != alice {
			t.Fatalf("crypto material erased for %q, want %s", c.forgotten, alice)
		}
	})
}
