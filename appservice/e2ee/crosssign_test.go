package e2ee

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const xsBot = id.UserID("@pizza:example.org")

// running is one "serve" of the bots' devices against a keyServer. Its
// logs may be read once it stopped.
type running struct {
	c      *Crypto
	logs   *bytes.Buffer
	cancel context.CancelFunc
	done   chan struct{}
}

// startDevices runs the devices of bots (default: xsBot) as serve does,
// with to-device messages from transactions (no sync), and waits until
// they are set up.
func startDevices(t *testing.T, db *store.DB, ks *keyServer, opts Options, bots ...id.UserID) *running {
	t.Helper()
	if len(bots) == 0 {
		bots = []id.UserID{xsBot}
	}
	opts.HomeserverURL, opts.ASToken = ks.srv.URL, ks.asToken
	opts.PickleKey = PickleKey("as_token:" + ks.asToken)
	opts.ToDeviceFromTransactions = true
	logs := &bytes.Buffer{}
	c, err := New(db, nil, bots, opts, zerolog.New(zerolog.SyncWriter(logs)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		c.Run(ctx)
	}()
	t.Cleanup(r.stop)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		r.stop()
		t.Fatalf("devices not ready: %v\n%s", err, logs)
	}
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// crossSigned checks on the server that bot has cross-signing keys and
// that its device carries a valid signature by the self-signing key, and
// returns the master key.
func crossSigned(t *testing.T, ks *keyServer, bot id.UserID) (master string) {
	t.Helper()
	ks.do(func(ks *keyServer) {
		keys := ks.xsign[bot.String()]
		if keys == nil {
			t.Fatalf("%s has no cross-signing keys on the server", bot)
		}
		master = onlyKey(keys["master"])
		ssk := onlyKey(keys["self_signing"])
		if ok, err := signatures.VerifySignatureJSON(keys["self_signing"], bot, master, id.Ed25519(master)); !ok {
			t.Errorf("self-signing key not signed by the master key (%v)", err)
		}
		devs := ks.devKeys[bot.String()]
		if len(devs) != 1 {
			t.Fatalf("%d devices of %s on the server, want 1", len(devs), bot)
		}
		for dev, dk := range devs {
			if ok, err := signatures.VerifySignatureJSON(dk, bot, ssk, id.Ed25519(ssk)); !ok {
				t.Errorf("device %s is not signed by the self-signing key (%v)", dev, err)
			}
		}
	})
	return master
}

func onlyKey(k jsonObj) string {
	keys, _ := k["keys"].(map[string]any)
	for _, v := range keys {
		s, _ := v.(string)
		return s
	}
	return ""
}

func counts(ks *keyServer) (deviceSigning, sigs int) {
	ks.do(func(ks *keyServer) { deviceSigning, sigs = ks.uploads["device_signing"], ks.uploads["signatures"] })
	return
}

// On a homeserver that takes cross-signing keys from the appservice
// without user-interactive auth (Synapse with MSC4190): the bot's device
// is cross-signed at its first start; a restart uploads nothing; when the
// homeserver lost the keys or holds others, the same keys (kept in the
// database) are uploaded again and the device signed again.
func TestCrossSigningAsAppservice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		ks := newKeyServer(t, "as_"+randHex(8), false)

		r := startDevices(t, db, ks, Options{})
		master := crossSigned(t, ks, xsBot)
		if up, sigs := counts(ks); up != 1 || sigs != 1 {
			t.Fatalf("first start: %d key uploads, %d signature uploads; want 1 and 1", up, sigs)
		}
		ks.do(func(ks *keyServer) {
			if ks.auths[0] != "no auth as appservice" {
				t.Errorf("uploaded with %q, want as the appservice without auth", ks.auths[0])
			}
		})
		r.stop()

		r = startDevices(t, db, ks, Options{})
		if up, sigs := counts(ks); up != 1 || sigs != 1 {
			t.Fatalf("restart: %d key uploads, %d signature uploads; want nothing new", up, sigs)
		}
		r.stop()

		// The homeserver lost them (its keys and the device's signature).
		ks.do(func(ks *keyServer) {
			delete(ks.xsign, xsBot.String())
			for dev, dk := range ks.devKeys[xsBot.String()] {
				sigs := dk["signatures"].(map[string]any)[xsBot.String()].(map[string]any)
				for kid := range sigs {
					if kid != "ed25519:"+dev {
						delete(sigs, kid)
					}
				}
			}
		})
		r = startDevices(t, db, ks, Options{})
		if got := crossSigned(t, ks, xsBot); got != master {
			t.Errorf("master key after the homeserver lost it: %s, want the kept %s", got, master)
		}
		if up, _ := counts(ks); up != 2 {
			t.Errorf("%d key uploads, want 2", up)
		}
		r.stop()

		// Someone replaced them: the bot's own keys go back.
		ks.do(func(ks *keyServer) {
			ks.xsign[xsBot.String()]["master"] = jsonObj{"user_id": xsBot.String(), "usage": []string{"master"}, "keys": map[string]any{"ed25519:other": "other"}}
		})
		startDevices(t, db, ks, Options{}).stop()
		if got := crossSigned(t, ks, xsBot); got != master {
			t.Errorf("master key after a replacement: %s, want %s", got, master)
		}
		ks.do(func(ks *keyServer) {
			if last := ks.auths[len(ks.auths)-1]; last != "no auth as appservice" {
				t.Errorf("replacement uploaded with %q", last)
			}
		})
	})
}

// On a homeserver that asks for the user's password before it takes
// cross-signing keys (Dendrite v0.13.8): without an admin token the bots
// work uncross-signed and one warning says what to set; with one, each bot
// gets a random password (kept sealed, not in the clear) and its device is
// cross-signed; the kept password serves later uploads without the token.
func TestCrossSigningWithPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		ks := newKeyServer(t, "as_"+randHex(8), true)
		taxi := id.UserID("@taxi:example.org")

		r := startDevices(t, db, ks, Options{}, xsBot, taxi)
		r.stop()
		if up, _ := counts(ks); up != 0 {
			t.Fatalf("%d cross-signing uploads without a password", up)
		}
		logs := r.logs.String()
		if n := strings.Count(logs, "stay uncross-signed"); n != 1 || !strings.Contains(logs, "encryption.homeserver_admin_token") {
			t.Fatalf("want one warning naming encryption.homeserver_admin_token, got %d:\n%s", n, logs)
		}
		if got, err := NotCrossSigned(ctx, db, ks.srv.URL, ks.asToken, []id.UserID{xsBot, taxi}); err != nil || len(got) != 2 {
			t.Fatalf("doctor's view: %v not cross-signed (%v), want both bots", got, err)
		}

		r = startDevices(t, db, ks, Options{HomeserverAdminToken: ks.adminToken}, xsBot, taxi)
		r.stop()
		crossSigned(t, ks, xsBot)
		crossSigned(t, ks, taxi)
		if got, err := NotCrossSigned(ctx, db, ks.srv.URL, ks.asToken, []id.UserID{xsBot, taxi}); err != nil || len(got) != 0 {
			t.Fatalf("doctor's view: %v not cross-signed (%v), want none", got, err)
		}
		var password string
		ks.do(func(ks *keyServer) {
			password = ks.passwords[xsBot.String()]
			if ks.auths[0] != "password as appservice" {
				t.Errorf("uploaded with %q, want the bot's password", ks.auths[0])
			}
		})
		if len(password) < 40 || password == ks.passwords[taxi.String()] {
			t.Errorf("bot password %q: want a long random one per bot", password)
		}
		kept, err := db.Meta(ctx, passwordMetaKey(xsBot))
		if err != nil || kept == "" || strings.Contains(kept, password) {
			t.Errorf("kept password %q (%v): want it sealed", kept, err)
		}

		// The homeserver lost the keys; the admin token is gone from the
		// config: the kept password still passes.
		ks.do(func(ks *keyServer) { delete(ks.xsign, xsBot.String()) })
		startDevices(t, db, ks, Options{}, xsBot, taxi).stop()
		crossSigned(t, ks, xsBot)
		if up, _ := counts(ks); up != 3 {
			t.Errorf("%d cross-signing uploads, want 3 (two bots, then one again)", up)
		}
		ks.do(func(ks *keyServer) {
			if ks.uploads["resetPassword"] != 2 {
				t.Errorf("passwords set %d times, want 2 (once per bot, with the token)", ks.uploads["resetPassword"])
			}
		})

		// msc4190 on such a homeserver: a warning that says what to use.
		ks.do(func(ks *keyServer) { delete(ks.xsign, xsBot.String()) })
		r = startDevices(t, db, ks, Options{CrossSigning: CrossSignMSC4190})
		r.stop()
		if logs := r.logs.String(); !strings.Contains(logs, "cross_signing: password") {
			t.Errorf("msc4190 on a homeserver that wants a password: no hint:\n%s", logs)
		}
	})
}

// A bot's cross-signing keys are made once per installation: processes
// starting at the same time on one database agree on the first ones
// written, and a restart (a new process) loads the same keys.
func TestCrossSigningKeysMadeOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
			t.Fatal(err)
		}
		masters := make([]string, 4)
		errs := make(chan error, len(masters))
		for i := range masters {
			go func() {
				c := &Crypto{db: db, opts: Options{PickleKey: PickleKey("secret")}}
				dev := &device{bot: xsBot, mach: crypto.NewOlmMachine(&mautrix.Client{UserID: xsBot}, nil, nil, nil)}
				err := c.loadCrossSigningKeys(ctx, dev)
				if err == nil {
					masters[i] = dev.mach.CrossSigningKeys.MasterKey.PublicKey().String()
				}
				errs <- err
			}()
		}
		for range masters {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range masters[1:] {
			if m != masters[0] || m == "" {
				t.Fatalf("master keys differ: %v", masters)
			}
		}
		kept, _ := db.Meta(ctx, crossSigningMetaKey(xsBot))
		if !strings.HasPrefix(kept, sealPrefix) {
			t.Fatalf("cross-signing keys kept as %.20q…, want sealed", kept)
		}
		other := &Crypto{db: db, opts: Options{PickleKey: PickleKey("another secret")}}
		dev := &device{bot: xsBot, mach: crypto.NewOlmMachine(&mautrix.Client{UserID: xsBot}, nil, nil, nil)}
		if err := other.loadCrossSigningKeys(ctx, dev); err == nil {
			t.Fatal("cross-signing keys opened with another pickle key")
		}
	})
}

// A sealed secret opens only with the same pickle key and under the name
// it was sealed for.
func TestSealBindsKeyAndName(t *testing.T) {
	a := &Crypto{opts: Options{PickleKey: PickleKey("one")}}
	b := &Crypto{opts: Options{PickleKey: PickleKey("two")}}
	s, err := a.seal("e2ee.password.@a:x", []byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.unseal("e2ee.password.@a:x", s); err != nil || string(got) != "hunter2" {
		t.Fatalf("unseal: %q %v", got, err)
	}
	if _, err := b.unseal("e2ee.password.@a:x", s); err == nil {
		t.Error("opened with another pickle key")
	}
	if _, err := a.unseal("e2ee.password.@b:x", s); err == nil {
		t.Error("opened under another name")
	}
	if strings.Contains(s, "hunter2") {
		t.Error("sealed form shows the secret")
	}
}

// A cross-signing that fails because the homeserver is away (a 502) does
// not hold the device back: the device is ready at once and cross-signed
// by a retry in the background.
func TestCrossSigningRetried(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	ctx := context.Background()
	if err := Upgrade(ctx, db, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	ks := newKeyServer(t, "as_"+randHex(8), false)
	ks.do(func(ks *keyServer) { ks.failXSign = 1 })
	r := startDevices(t, db, ks, Options{})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, sigs := counts(ks); sigs == 1 { // the last step: the device's signature
			break
		}
		if time.Now().After(deadline) {
			r.stop()
			t.Fatalf("not cross-signed after a failed first try:\n%s", r.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop() // the retry has ended too
	crossSigned(t, ks, xsBot)
}
