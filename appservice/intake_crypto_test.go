package appservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// fakeKeys records the encryption data intake hands over.
type fakeKeys struct {
	mu   sync.Mutex
	got  []map[string]json.RawMessage
	fail error
}

func (k *fakeKeys) ReceiveTransactionKeys(_ context.Context, data json.RawMessage) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return k.fail
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	k.got = append(k.got, m)
	return nil
}

func keysEnv(t *testing.T, db *store.DB, k *fakeKeys) *env {
	e := &env{t: t, db: db, logs: &lockedBuffer{}, users: &fakeUsers{}}
	e.srv = httptest.NewServer(&appservice.Server{DB: db, HSToken: hsToken, MaxBodyBytes: maxBody, Users: e.users,
		Log: zerolog.New(e.logs), Keys: k})
	t.Cleanup(e.srv.Close)
	return e
}

// With encryption.appservice, the MSC2409/MSC3202 fields of a transaction
// (unstable names, as Synapse sends them) reach the key receiver under
// their stable names, alongside the timeline events going to the inbox.
func TestTransactionKeysReachTheReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := &fakeKeys{}
		e := keysEnv(t, db, k)
		body := `{"events":[` + event("$a", "!r:example.org") + `],
			"de.sorunome.msc2409.to_device":[{"type":"m.room.encrypted","sender":"@alice:example.org","to_user_id":"@pizza:example.org","to_device_id":"DEV","content":{}}],
			"org.matrix.msc3202.device_lists":{"changed":["@alice:example.org"],"left":[]},
			"org.matrix.msc3202.device_one_time_keys_count":{"@pizza:example.org":{"DEV":{"signed_curve25519":3}}}}`
		wantEmptyOK(t, e.do(http.MethodPut, txnPath+"k1", hsToken, body))
		wantEventIDs(t, db, "$a")
		k.mu.Lock()
		defer k.mu.Unlock()
		if len(k.got) != 1 {
			t.Fatalf("receiver called %d times, want once", len(k.got))
		}
		for _, f := range []string{"to_device", "device_lists", "device_one_time_keys_count"} {
			if len(k.got[0][f]) == 0 {
				t.Errorf("receiver got no %s: %v", f, k.got[0])
			}
		}
		// A transaction without encryption data does not call it.
		k.mu.Unlock()
		wantEmptyOK(t, e.putTxn("k2", event("$b", "!r:example.org")))
		k.mu.Lock()
		if len(k.got) != 1 {
			t.Fatalf("receiver called for a transaction without encryption data")
		}
	})
}

// A receiver failure answers 500 and stores nothing, so the homeserver
// resends the whole transaction, keys and events together.
func TestTransactionKeysFailureIsRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		k := &fakeKeys{fail: errors.New("device not ready")}
		e := keysEnv(t, db, k)
		body := `{"events":[` + event("$a", "!r:example.org") + `],"to_device":[{"type":"m.dummy","content":{}}]}`
		wantError(t, e.do(http.MethodPut, txnPath+"k1", hsToken, body), http.StatusInternalServerError, "M_UNKNOWN")
		wantEventIDs(t, db)
		k.mu.Lock()
		k.fail = nil
		k.mu.Unlock()
		wantEmptyOK(t, e.do(http.MethodPut, txnPath+"k1", hsToken, body))
		wantEventIDs(t, db, "$a")
	})
}
