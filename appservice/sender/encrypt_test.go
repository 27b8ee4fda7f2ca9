package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const encRoom = "!secret:example.org"

// fakeEncrypter stands in for appservice/e2ee: encRoom is encrypted, and
// every Encrypt call gives a different ciphertext (as Megolm's ratchet
// does), so a row encrypted twice would show.
type fakeEncrypter struct {
	mu    sync.Mutex
	calls int
	plain map[string]json.RawMessage // ciphertext → what was sealed
	fail  bool
	// persist, when set, is what must commit with ciphertext ct.
	persist func(ct string) func(context.Context, store.Tx) error
}

func (e *fakeEncrypter) Encrypted(_ context.Context, _ id.UserID, room id.RoomID) (bool, error) {
	return room == encRoom, nil
}

func (e *fakeEncrypter) Encrypt(_ context.Context, _ id.UserID, _ id.RoomID, eventType string, content json.RawMessage) (json.RawMessage, func(context.Context, store.Tx) error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return nil, nil, fmt.Errorf("no device keys yet")
	}
	e.calls++
	ct := fmt.Sprintf("CT%d", e.calls)
	if e.plain == nil {
		e.plain = map[string]json.RawMessage{}
	}
	e.plain[ct] = content
	sealed, err := json.Marshal(map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": ct,
		"session_id": "S", "sender_key": "K", "device_id": "D", "org.example.sealed_type": eventType})
	var persist func(context.Context, store.Tx) error
	if e.persist != nil {
		persist = e.persist(ct)
	}
	return sealed, persist, err
}

// What an encryption must keep (its ratchet) commits with the sealed row:
// when it cannot (another process moved the room's session on), that
// ciphertext is never sent, and the reply is encrypted again at once and
// sent on its first attempt.
func TestCiphertextIsSentOnlyWithItsRatchetKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enc := &fakeEncrypter{persist: func(ct string) func(context.Context, store.Tx) error {
			return func(ctx context.Context, tx store.Tx) error {
				if ct == "CT1" {
					return fmt.Errorf("the session moved on")
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ('test.ratchet', $1)`, ct)
				return err
			}
		}}
		hs, ids := encryptingSender(t, db, enc, nil, text(encRoom, "secret"))
		waitDone(t, db, hs, ids...)
		sends := hs.SendsTo(encRoom)
		if len(sends) != 1 || sends[0].Content["ciphertext"] != "CT2" {
			t.Fatalf("sent %+v, want only the second ciphertext", sends)
		}
		if kept, err := db.Meta(context.Background(), "test.ratchet"); err != nil || kept != "CT2" {
			t.Fatalf("ratchet kept for %q (%v), want CT2's", kept, err)
		}
		if st := row(t, db, ids[0]); st.attempts != 1 || st.lastError != "" {
			t.Fatalf("row %+v, want sent on its first attempt, no retry waited for", st)
		}
	})
}

// encryptingSender runs a sender with enc on db against a new fake
// homeserver, after queueing evs.
func encryptingSender(t *testing.T, db *store.DB, enc *fakeEncrypter, setup func(hs *fakehs.HS, ids []int64), evs ...store.OutgoingEvent) (*fakehs.HS, []int64) {
	t.Helper()
	hs := newHS(t)
	opts := fastOptions()
	opts.Encrypter = enc
	ids := queue(t, db, evs...)
	if setup != nil {
		setup(hs, ids)
	}
	run(t, db, hs, opts)
	return hs, ids
}

// A reply bound for an encrypted room goes out as m.room.encrypted, sealed
// once and kept in the outbox row; a plaintext room's reply stays as it
// was.
func TestEncryptedRoomGetsCiphertextOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enc := &fakeEncrypter{}
		hs, ids := encryptingSender(t, db, enc, nil, text(encRoom, "secret"), text(room, "public"))
		waitDone(t, db, hs, ids...)
		sends := hs.SendsTo(encRoom)
		if len(sends) != 1 || sends[0].Type != "m.room.encrypted" {
			t.Fatalf("encrypted room got %+v, want one m.room.encrypted", sends)
		}
		if _, leaked := sends[0].Content["body"]; leaked {
			t.Fatalf("plaintext body in an encrypted room's event: %v", sends[0].Content)
		}
		if got := sends[0].Content[hsclient.TxnMarkerKey]; got != db.MatrixTxnID(ids[0]) {
			t.Fatalf("txn marker %v, want %s outside the ciphertext", got, db.MatrixTxnID(ids[0]))
		}
		var plain map[string]any
		_ = json.Unmarshal(enc.plain[sends[0].Content["ciphertext"].(string)], &plain)
		if plain["body"] != "secret" {
			t.Fatalf("sealed %v, want the reply", plain)
		}
		var typ, content string
		if err := db.QueryRowContext(context.Background(), `SELECT event_type, content FROM outbox WHERE id = $1`, ids[0]).Scan(&typ, &content); err != nil {
			t.Fatal(err)
		}
		if typ != "m.room.encrypted" || json.Valid([]byte(content)) && containsBody(content) {
			t.Fatalf("outbox row keeps %s %s, want the ciphertext", typ, content)
		}
		if pub := hs.SendsTo(room); len(pub) != 1 || pub[0].Type != "m.room.message" || pub[0].Content["body"] != "public" {
			t.Fatalf("plaintext room got %+v", pub)
		}
	})
}

func containsBody(content string) bool {
	var m map[string]any
	_ = json.Unmarshal([]byte(content), &m)
	_, ok := m["body"]
	return ok
}

// A resend after a failed attempt sends the very same encrypted event: it
// is encrypted once only.
func TestEncryptedReplyIsSealedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enc := &fakeEncrypter{}
		hs, ids := encryptingSender(t, db, enc, func(hs *fakehs.HS, ids []int64) {
			hs.SetOnSend(failTxns(db, fakehs.Failure{Status: 502}, 2, ids[0]))
		}, text(encRoom, "once"))
		waitDone(t, db, hs, ids...)
		enc.mu.Lock()
		calls := enc.calls
		enc.mu.Unlock()
		if calls != 1 {
			t.Fatalf("encrypted %d times, want once", calls)
		}
		if st := row(t, db, ids[0]); st.status != "sent" || st.attempts != 2 {
			t.Fatalf("row %+v, want sent on the third attempt (two failed)", st)
		}
	})
}

// The lost-response case: the homeserver stored the encrypted event but the
// answer never came and it forgot the txn id (as Dendrite does). The sender
// finds the event by its txn marker, which stays readable outside the
// ciphertext, instead of sending it twice.
func TestEncryptedLostResponseIsFoundNotResent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs, ids := encryptingSender(t, db, &fakeEncrypter{}, func(hs *fakehs.HS, ids []int64) {
			hs.ForgetLostTxns = true
			hs.SetOnSend(failTxns(db, fakehs.Failure{LoseResponse: true}, 1, ids[0]))
		}, text(encRoom, "exactly once"), text(encRoom, "next"))
		waitDone(t, db, hs, ids...)
		if n := len(hs.SendsTo(encRoom)); n != 2 {
			t.Fatalf("homeserver has %d events, want 2 (no duplicate)", n)
		}
		if n := hs.TxnRequests(bot, db.MatrixTxnID(ids[0])); n != 1 {
			t.Fatalf("%d send requests for the lost one, want 1", n)
		}
	})
}

// While a reply cannot be encrypted (no keys yet), it waits; it is never
// sent in plaintext.
func TestEncryptionFailureNeverSendsPlaintext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enc := &fakeEncrypter{fail: true}
		hs, ids := encryptingSender(t, db, enc, nil, text(encRoom, "wait for it"))
		if !hs.WaitFor(waitLimit, func() bool { return row(t, db, ids[0]).lastError != "" }) {
			t.Fatal("no encryption attempt recorded")
		}
		if n := hs.Count(fakehs.EndpointSend); n != 0 {
			t.Fatalf("%d sends while the reply could not be encrypted", n)
		}
		enc.mu.Lock()
		enc.fail = false
		enc.mu.Unlock()
		waitDone(t, db, hs, ids...)
		if s := hs.SendsTo(encRoom); len(s) != 1 || s[0].Type != "m.room.encrypted" {
			t.Fatalf("sends %+v", s)
		}
	})
}

// While a room has a queue, the commit that records a reply as sent also
// keeps the next reply sealed (one commit per encrypted reply, not two):
// the next ciphertext's ratchet is written in the transaction that marks
// the one before sent. What is sent is exactly what was kept, each sealed
// once, in order. A next reply that cannot be sealed then (its ratchet
// is refused) is sealed anew on its own turn, and its first ciphertext is
// never sent.
func TestEncryptedQueueSealsNextInSentCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var mu sync.Mutex
		sentBefore := map[string]string{} // ciphertext → status of the reply before it, seen in its commit
		var ids []int64
		enc := &fakeEncrypter{persist: func(ct string) func(context.Context, store.Tx) error {
			return func(ctx context.Context, tx store.Tx) error {
				if ct == "CT3" {
					return fmt.Errorf("the session moved on")
				}
				var status string
				if ct != "CT1" {
					// ids is set before the sender runs. Inside the commit
					// the reply before is sent; outside it, not yet.
					prev := ids[0]
					if ct != "CT2" {
						prev = ids[1]
					}
					var inside, outside string
					if err := tx.QueryRowContext(ctx, `SELECT status FROM outbox WHERE id = $1`, prev).Scan(&inside); err != nil {
						return err
					}
					if err := db.QueryRowContext(ctx, `SELECT status FROM outbox WHERE id = $1`, prev).Scan(&outside); err != nil {
						return err
					}
					status = inside + "/" + outside
				}
				mu.Lock()
				sentBefore[ct] = status
				mu.Unlock()
				_, err := tx.ExecContext(ctx, `INSERT INTO bb_meta (key, value) VALUES ($1, 'kept')`, "test.ratchet."+ct)
				return err
			}
		}}
		hs, _ := encryptingSender(t, db, enc, func(_ *fakehs.HS, queued []int64) { ids = queued },
			text(encRoom, "one"), text(encRoom, "two"), text(encRoom, "three"))
		waitDone(t, db, hs, ids...)
		sends := hs.SendsTo(encRoom)
		var cts []string
		for _, s := range sends {
			cts = append(cts, s.Content["ciphertext"].(string))
		}
		// CT1 sealed alone; CT2 with the record of "one"; CT3 refused with
		// the record of "two", which is then recorded alone; CT4 sealed on
		// its own turn.
		if strings.Join(cts, ",") != "CT1,CT2,CT4" {
			t.Fatalf("sent %v, want CT1,CT2,CT4", cts)
		}
		mu.Lock()
		defer mu.Unlock()
		if sentBefore["CT2"] != "sent/pending" {
			t.Fatalf("the first reply was %q (in the commit/outside it) when the second was sealed, want recorded sent in that same commit", sentBefore["CT2"])
		}
		if _, ok := sentBefore["CT3"]; ok {
			t.Fatal("a refused ciphertext was kept")
		}
		for i, want := range []string{"one", "two", "three"} {
			var plain map[string]any
			_ = json.Unmarshal(enc.plain[cts[i]], &plain)
			if plain["body"] != want {
				t.Fatalf("reply %d sealed %v, want %q", i, plain, want)
			}
			if st := row(t, db, ids[i]); st.status != "sent" || st.attempts != 1 {
				t.Fatalf("reply %d: %+v, want sent on its first attempt", i, st)
			}
		}
	})
}

// A sender that died in an encrypted room before sealing its replies left
// them plaintext with no attempt: the sender that takes the room over
// seals and sends each of them once (looking for the first among the
// bot's events before), never refusing them as attempted in plaintext.
func TestEncryptedRoomOfADeadSenderIsSealedAndSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		enc := &fakeEncrypter{}
		hs, ids := encryptingSender(t, db, enc, func(hs *fakehs.HS, ids []int64) {
			if _, err := db.ExecContext(context.Background(), `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ('outbox', $1, 'send-dead-1', 0)`, encRoom); err != nil {
				t.Fatal(err)
			}
		}, text(encRoom, "first"), text(encRoom, "second"), text(encRoom, "third"))
		waitDone(t, db, hs, ids...)
		sends := hs.SendsTo(encRoom)
		if len(sends) != 3 {
			t.Fatalf("homeserver has %d events, want the 3 replies once each", len(sends))
		}
		for i, s := range sends {
			if s.Type != "m.room.encrypted" || s.TxnID != db.MatrixTxnID(ids[i]) {
				t.Fatalf("event %d: %s under %s, want m.room.encrypted under %s", i, s.Type, s.TxnID, db.MatrixTxnID(ids[i]))
			}
		}
	})
}
