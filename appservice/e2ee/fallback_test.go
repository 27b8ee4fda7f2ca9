package e2ee

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/olm"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The bot's device uploads a signed fallback key; once its one-time keys
// are used up, a customer's client (mautrix's own Olm, a separate account)
// claims the fallback key and opens an Olm session with it, and the room
// key it sends reaches the bot. When the homeserver reports the fallback
// key used (MSC3202 in a transaction), a new one replaces it; a restart
// uploads nothing new.
func TestFallbackKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		ks := newKeyServer(t, "as_"+randHex(8), false)
		r := startDevices(t, db, ks, Options{CrossSigning: CrossSignOff})
		dev, err := r.c.device(xsBot)
		if err != nil {
			t.Fatal(err)
		}
		slot := xsBot.String() + "|" + dev.client.DeviceID.String()
		first := checkFallbackKey(t, ks, dev, slot)

		// A customer's device, whose first message to the bot comes after
		// the bot's one-time keys ran out.
		const customer = id.UserID("@alice:example.org")
		custTok := "cust_" + randHex(8)
		ks.do(func(ks *keyServer) {
			ks.tokens[custTok] = [2]string{customer.String(), "ALICEDEV"}
			ks.otks[slot] = nil
		})
		cli, err := mautrix.NewClient(ks.srv.URL, customer, custTok)
		if err != nil {
			t.Fatal(err)
		}
		cli.DeviceID = "ALICEDEV"
		cust := crypto.NewOlmMachine(cli, nil, crypto.NewMemoryStore(nil), noRooms{})
		if err := cust.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cust.ShareKeys(ctx, -1); err != nil {
			t.Fatal(err)
		}
		botDev, err := cust.GetOrFetchDevice(ctx, xsBot, dev.client.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		room := id.RoomID("!dm:example.org")
		megolm, err := olm.NewOutboundGroupSession()
		if err != nil {
			t.Fatal(err)
		}
		content := event.Content{Parsed: &event.RoomKeyEventContent{
			Algorithm: id.AlgorithmMegolmV1, RoomID: room, SessionID: megolm.ID(), SessionKey: megolm.Key(),
		}}
		if err := cust.SendEncryptedToDevice(ctx, botDev, event.ToDeviceRoomKey, content); err != nil {
			t.Fatalf("customer cannot open an Olm session with the bot once its one-time keys are gone: %v", err)
		}
		var sent []toDeviceMsg
		ks.do(func(ks *keyServer) {
			sent = ks.toDevice
			if !ks.fallback[slot].used {
				t.Error("the customer's session was not made with the fallback key")
			}
		})
		if len(sent) != 1 {
			t.Fatalf("%d to-device messages, want 1", len(sent))
		}
		deliver(t, r.c, map[string]any{"to_device": []any{map[string]any{
			"type": sent[0].typ, "sender": customer, "to_user_id": xsBot, "to_device_id": dev.client.DeviceID, "content": sent[0].content,
		}}})
		if igs, err := dev.store.GetGroupSession(ctx, room, megolm.ID()); err != nil || igs == nil {
			t.Fatalf("the room key sent over the fallback key's session did not reach the bot (%v)", err)
		}

		// The homeserver reports the fallback key used: a new one.
		deliver(t, r.c, map[string]any{"device_unused_fallback_key_types": map[string]any{
			xsBot.String(): map[string]any{dev.client.DeviceID.String(): []string{}},
		}})
		second := checkFallbackKey(t, ks, dev, slot)
		if second == first {
			t.Error("the used fallback key was not replaced")
		}
		deliver(t, r.c, map[string]any{"device_unused_fallback_key_types": map[string]any{
			xsBot.String(): map[string]any{dev.client.DeviceID.String(): []string{"signed_curve25519"}},
		}})
		r.stop()

		startDevices(t, db, ks, Options{CrossSigning: CrossSignOff}).stop()
		ks.do(func(ks *keyServer) {
			if n := ks.fbUploads[slot]; n != 2 {
				t.Errorf("%d fallback key uploads, want 2 (the first, its replacement; none on restart or while unused)", n)
			}
		})
	})
}

// checkFallbackKey checks the device's fallback key on the server: marked
// fallback and signed by the device. It returns the key.
func checkFallbackKey(t *testing.T, ks *keyServer, dev *device, slot string) string {
	t.Helper()
	var fb *fallbackEntry
	ks.do(func(ks *keyServer) { fb = ks.fallback[slot] })
	if fb == nil {
		t.Fatal("the bot's device has no fallback key on the server")
	}
	if fb.key["fallback"] != true {
		t.Errorf("fallback key %v not marked fallback", fb.key)
	}
	signing := dev.mach.GetAccount().SigningKey()
	if ok, err := signatures.VerifySignatureJSON(fb.key, xsBot, dev.client.DeviceID.String(), signing); !ok {
		t.Errorf("fallback key not signed by the device (%v)", err)
	}
	k, _ := fb.key["key"].(string)
	return k
}

// deliver hands the bots encryption data as appservice intake does.
func deliver(t *testing.T, c *Crypto, data map[string]any) {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReceiveTransactionKeys(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

// noRooms is the customer machine's room state: it shares no rooms.
type noRooms struct{}

func (noRooms) IsEncrypted(context.Context, id.RoomID) (bool, error) { return true, nil }
func (noRooms) GetEncryptionEvent(context.Context, id.RoomID) (*event.EncryptionEventContent, error) {
	return nil, nil
}
func (noRooms) FindSharedRooms(context.Context, id.UserID) ([]id.RoomID, error) { return nil, nil }
func (noRooms) GetHistoryVisibility(context.Context, id.RoomID) (*event.HistoryVisibilityEventContent, error) {
	return nil, nil
}
