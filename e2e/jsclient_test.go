package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// TestEncryptedDMJSClient is TestEncryptedDM with the second real
// encrypting client: matrix-js-sdk with its Rust crypto
// (matrix-sdk-crypto-wasm, the crypto core of Element X), driven through
// e2e/jsclient/client.mjs. The DM is created with m.room.encryption in its
// initial state; the echo bot's welcome, a few turns, a restart of
// bizbots and more turns are all decrypted by the client (it fails on a
// plaintext or undecryptable message from the bot), none doubled. Then a
// business bot (the pizzeria) welcomes and answers in an encrypted DM too.
func TestEncryptedDMJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	node, script := harness.NodeWithJSClient(t)
	s := encryptionStack(t)
	registerUser(t, s, "carol", "Carol")
	d := startProgSession(t, node, script, s, "carol", "echo", "", 4*time.Minute)

	d.sendAndWait(1, 3, 60*time.Second)

	restartBizbots(t, s)
	d.sendAndWait(4, 6, 60*time.Second)

	msgs := d.botMessages()
	checkAllEncrypted(t, msgs)
	checkExactReplies(t, d.bot, msgs, 6)

	p := startProgSession(t, node, script, s, "carol", "pizza", "", 2*time.Minute)
	p.expect(flowTimeout, "Hi Carol, welcome to Pizza Place!")
	p.say("hours")
	p.expect(flowTimeout, "Opening hours")
	checkAllEncrypted(t, p.botMessages())
}

// TestCrossSignedBotJSClient: given a Dendrite admin's token
// (encryption.homeserver_admin_token), bizbots gives each bot a password
// and cross-signs its device. The js client runs with Element's "exclude
// insecure devices" (MSC4153: room keys only to, and messages only from,
// devices signed by their owner), so the welcome and every answer are
// readable only because the bot's device is cross-signed; its Rust crypto
// also reports the bot's cross-signing identity and the device as signed
// by its owner. A restart of bizbots keeps the same master key and uploads
// no new one.
func TestCrossSignedBotJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	node, script := harness.NodeWithJSClient(t)
	s := harness.StartStackT(t, harness.StackOptions{
		Config: map[string]string{"encryption.allow": "true"},
		BeforeServe: func(ctx context.Context, s *harness.Stack) error {
			admin, err := s.Dendrite.RegisterUser(ctx, "admin", "admin-"+harness.RandomToken(16), true)
			if err != nil {
				return err
			}
			return harness.EditConfig(s.ConfigPath, map[string]string{"encryption.homeserver_admin_token": strconv.Quote(admin.AccessToken)})
		},
	})
	dora := registerUser(t, s, "dora", "Dora")
	d := startProgSession(t, node, script, s, "dora", "echo", "", 4*time.Minute, "--exclude-insecure-devices")
	checkBotCrossSigned(t, d)
	master := botMasterKey(t, s, dora, d.bot)
	uploads := strings.Count(logTail(s, 100000), `"keys_uploaded":true`)

	d.sendAndWait(1, 2, 60*time.Second)
	restartBizbots(t, s)
	d.sendAndWait(3, 4, 60*time.Second)

	checkBotCrossSigned(t, d)
	if got := botMasterKey(t, s, dora, d.bot); got != master {
		t.Errorf("the bot's master key changed across a restart: %s, then %s", master, got)
	}
	if n := strings.Count(logTail(s, 100000), `"keys_uploaded":true`); n != uploads {
		t.Errorf("cross-signing keys uploaded again after the restart (%d uploads, %d before)", n, uploads)
	}
	msgs := d.botMessages()
	checkAllEncrypted(t, msgs)
	checkExactReplies(t, d.bot, msgs, 4)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := s.RunBizbots(ctx, "", "doctor")
	if err != nil || !strings.Contains(out, "✓ cross-signing: every bot's device is cross-signed") {
		t.Errorf("doctor (%v):\n%s\n%s", err, out, errOut)
	}
}

// checkBotCrossSigned asks the js client's Rust crypto about the bot: it
// must have a cross-signing identity, and its one device must be signed by
// it.
func checkBotCrossSigned(t *testing.T, d *dm) {
	t.Helper()
	devs, err := d.cs.BotStatus(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 {
		t.Fatalf("the client sees %d devices of %s, want 1: %+v", len(devs), d.bot, devs)
	}
	if !devs[0].CrossSigningKeys || !devs[0].SignedByOwner {
		t.Fatalf("bot device %s: cross-signing keys %v, signed by its owner %v; want both\nbizbots log tail:\n%s",
			devs[0].DeviceID, devs[0].CrossSigningKeys, devs[0].SignedByOwner, logTail(d.s, 60))
	}
}

// botMasterKey is the bot's cross-signing master key as the homeserver
// gives it to a user (POST /keys/query).
func botMasterKey(t *testing.T, s *harness.Stack, as *harness.User, bot string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp struct {
		MasterKeys map[string]struct {
			Keys map[string]string `json:"keys"`
		} `json:"master_keys"`
	}
	err := s.Dendrite.Do(ctx, http.MethodPost, "/_matrix/client/v3/keys/query", as.AccessToken,
		map[string]any{"device_keys": map[string][]string{bot: {}}}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.MasterKeys[bot].Keys {
		return k
	}
	t.Fatalf("the homeserver has no master key of %s", bot)
	return ""
}
