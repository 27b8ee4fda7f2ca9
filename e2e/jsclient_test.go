package e2e

import (
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
