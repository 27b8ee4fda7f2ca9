package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// encryptionStack starts Dendrite and bizbots with encryption allowed
// (each bot gets a device and syncs its to-device messages itself, as
// Dendrite v0.13.8 has no MSC2409/MSC3202 for appservices).
func encryptionStack(t *testing.T) *harness.Stack {
	t.Helper()
	return harness.StartStackT(t, harness.StackOptions{Config: map[string]string{"encryption.allow": "true"}})
}

// startEncryptedSession is startSession with client.py --encrypt: the DM
// is created with m.room.encryption in its initial state (or room is
// used), every message is encrypted, and the client fails on any
// plaintext message from the bot. store keeps the client device's keys.
func startEncryptedSession(t *testing.T, py string, s *harness.Stack, user, botLocalpart, room, store string, life time.Duration, extra ...string) *dm {
	t.Helper()
	return startSessionWith(t, py, s, user, botLocalpart, room, life, append([]string{"--encrypt", "--store", store}, extra...)...)
}

// restartBizbots stops bizbots (SIGTERM, up to 15s) and starts it again
// on the same stack.
func restartBizbots(t *testing.T, s *harness.Stack) {
	t.Helper()
	if err := s.StopBizbots(15 * time.Second); err != nil {
		t.Fatalf("stop bizbots: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartBizbots(ctx); err != nil {
		t.Fatal(err)
	}
}

// sendAndWait sends messages from..to and waits for their echoes.
func (d *dm) sendAndWait(from, to int, timeout time.Duration) {
	d.t.Helper()
	for i := from; i <= to; i++ {
		if err := d.cs.Send(msg(i)); err != nil {
			d.t.Fatal(err)
		}
	}
	if _, err := d.waitReplies(to, timeout); err != nil {
		d.t.Fatalf("%v\nbizbots log tail:\n%s", err, logTail(d.s, 60))
	}
}

func logTail(s *harness.Stack, n int) string {
	data, _ := os.ReadFile(filepath.Join(s.Dir, "bizbots.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkAllEncrypted fails if any of the bot's messages arrived in
// plaintext.
func checkAllEncrypted(t *testing.T, msgs []harness.ClientLine) {
	t.Helper()
	for _, m := range msgs {
		if !m.Encrypted {
			t.Errorf("bot message %q (%s) was not end-to-end encrypted", m.Body, m.EventID)
		}
	}
}

// TestEncryptedDM: a customer whose client encrypts every DM (matrix-nio
// with libolm, the DM created with m.room.encryption in its initial
// state) gets the same conversation as in plaintext: the welcome, a few
// turns, a restart of bizbots, more turns, and then a second device of the
// customer joining later gets the bot's answers too. Every bot message is
// decrypted by the client, none is plaintext, none is doubled.
func TestEncryptedDM(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	py := harness.PythonWithNio(t)
	s := encryptionStack(t)
	registerUser(t, s, "alice", "")
	d := startEncryptedSession(t, py, s, "alice", "echo", "", t.TempDir(), 4*time.Minute)

	d.sendAndWait(1, 3, 60*time.Second)

	restartBizbots(t, s)
	d.sendAndWait(4, 6, 60*time.Second)

	// A second device of the same customer, logged in later, in the same
	// room: the bot's next answers must be readable there too.
	room := d.botMessages()[0].RoomID
	d2 := startEncryptedSession(t, py, s, "alice", "echo", room, t.TempDir(), 2*time.Minute, "--no-welcome")
	if err := d2.cs.Send(msg(7)); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.cs.WaitFor(60*time.Second, "the echo of message 7 on the second device", func(ls []harness.ClientLine) bool {
		for _, m := range harness.MessagesFrom(ls, d2.bot) {
			if m.Body == echo(msg(7)) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("%v\nbizbots log tail:\n%s", err, logTail(s, 60))
	}
	if _, err := d.waitReplies(7, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	msgs := d.botMessages()
	checkAllEncrypted(t, msgs)
	checkAllEncrypted(t, d2.botMessages())
	checkExactReplies(t, d.bot, msgs, 7)
}

// TestEncryptedKillDuringSend kills bizbots with SIGKILL while it is
// answering a burst of encrypted messages, then starts it again: every
// message is answered exactly once, every answer is encrypted (a resend is
// the ciphertext kept in the outbox row, never a plaintext copy nor a
// second encryption that the client would see twice).
func TestEncryptedKillDuringSend(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	py := harness.PythonWithNio(t)
	s := encryptionStack(t)
	registerUser(t, s, "bob", "")
	d := startEncryptedSession(t, py, s, "bob", "echo", "", t.TempDir(), 4*time.Minute)

	const burst = 8
	for i := 1; i <= burst; i++ {
		if err := d.cs.Send(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.waitReplyCount(1, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.KillBizbots(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartBizbots(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.waitReplies(burst, 90*time.Second); err != nil {
		t.Fatalf("%v\nbizbots log tail:\n%s", err, logTail(s, 60))
	}
	// Settle: a duplicate would arrive now.
	if _, err := d.cs.WaitFor(3*time.Second, "nothing (settling)", func([]harness.ClientLine) bool { return false }); err == nil {
		t.Fatal("settle wait ended early")
	}
	msgs := d.botMessages()
	checkAllEncrypted(t, msgs)
	checkExactReplies(t, d.bot, msgs, burst)
}
