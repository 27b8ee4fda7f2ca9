package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// TestRestartMidConversation restarts bizbots in the middle of a
// conversation with the echo bot and checks that nothing is lost and
// nothing is doubled: the customer gets exactly one "You said: message N"
// for every N, in order.
//
// Each round sends a burst of messages, stops bizbots as soon as the first
// replies of the burst arrive (so later ones are still being handled or
// sent, or not yet pushed by Dendrite), sends more messages while bizbots
// is down (Dendrite fails to push them and backs off: 2 s, 4 s, …), then
// starts bizbots again on the same config and database. Dendrite retries
// its transaction and bizbots catches up.
//
//   - SIGKILL: a crash, three rounds, killed after 1, 4 and 7 replies of
//     the burst. The leases the killed process held on rooms stay in the
//     database; the restarted process releases them at start (same host,
//     process gone), so the test runs with bizbots' default
//     dispatcher.lease_timeout (2m) and a round waits at most 60 s for its
//     replies: a restart that had to wait for the leases to expire fails.
//     E2E_RESTART_LEASE_TIMEOUT sets another lease timeout.
//   - SIGTERM: a graceful stop, one round; bizbots must exit 0.
func TestRestartMidConversation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel() // its own stack; see the package comment
	py := harness.PythonWithNio(t)
	for _, tc := range []struct {
		name   string
		kill   bool
		killAt []int // per round: stop bizbots once this many replies of the burst arrived
	}{
		{"SIGKILL", true, []int{1, 4, 7}},
		{"SIGTERM", false, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testRestart(t, py, tc.kill, tc.killAt)
		})
	}
}

const (
	restartBurst     = 10 // messages sent with bizbots up, per round
	restartWhileDown = 5  // messages sent with bizbots down, per round
)

func testRestart(t *testing.T, py string, kill bool, killAt []int) {
	start := time.Now()
	var opts harness.StackOptions
	var leaseD time.Duration // extra wait per round for an expiring lease; 0 with the default
	if lease := os.Getenv("E2E_RESTART_LEASE_TIMEOUT"); lease != "" {
		var err error
		if leaseD, err = time.ParseDuration(lease); err != nil {
			t.Fatalf("E2E_RESTART_LEASE_TIMEOUT: %v", err)
		}
		opts.Config = map[string]string{"dispatcher.lease_timeout": lease}
	}
	s := harness.StartStackT(t, opts)
	d := openDM(t, py, s, "alice", "echo", 150*time.Second+time.Duration(len(killAt))*(60*time.Second+2*leaseD))
	t.Logf("stack and DM ready in %s", time.Since(start).Round(time.Millisecond))

	backoffs := func() int {
		data, _ := os.ReadFile(s.Dendrite.LogPath)
		return strings.Count(string(data), "Unable to send transaction to appservice")
	}
	n := 0 // messages sent so far
	for round, at := range killAt {
		roundStart := time.Now()
		before := n
		for i := 0; i < restartBurst; i++ {
			n++
			if err := d.cs.Send(msg(n)); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.waitReplyCount(before+at, 60*time.Second); err != nil {
			t.Fatalf("round %d: %v", round+1, err)
		}
		stopStart := time.Now()
		if kill {
			if err := s.KillBizbots(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := s.StopBizbots(15 * time.Second); err != nil {
				t.Fatalf("round %d: graceful stop: %v", round+1, err)
			}
			if err := s.Bizbots.ExitErr(); err != nil {
				t.Errorf("round %d: bizbots exited with %v after SIGTERM, want status 0", round+1, err)
			}
		}
		stopTook := time.Since(stopStart)
		failsAtStop := backoffs()
		repliesAtStop := len(d.botMessages()) - 1
		sentAtStop := len(harness.MessagesFrom(d.cs.Lines(), "@alice:localhost"))

		for i := 0; i < restartWhileDown; i++ {
			n++
			if err := d.cs.Send(msg(n)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.cs.WaitSent(n, 30*time.Second); err != nil {
			t.Fatalf("round %d: %v", round+1, err)
		}
		// Let Dendrite try to push to the dead appservice and fail (it then
		// backs off 2 s), bounded, then restart.
		deadline := time.Now().Add(3 * time.Second)
		for backoffs() == failsAtStop && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		pushFailed := backoffs() > failsAtStop
		down := time.Since(stopStart)
		restartAt := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := s.StartBizbots(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: restart: %v", round+1, err)
		}
		upTook := time.Since(restartAt)
		msgs, err := d.waitReplies(n, 60*time.Second+2*leaseD)
		if err != nil {
			checkExactReplies(t, d.bot, msgs, n)
			explainDuplicates(t, s, msgs)
			t.Fatalf("round %d: %v", round+1, err)
		}
		t.Logf("round %d: messages %d-%d; stopped after %d replies (%d user messages in the timeline) in %s; down %s; "+
			"Dendrite push failed while down: %v; restarted in %s; all %d replies %s after the restart; round %s; Dendrite push failures so far: %d",
			round+1, before+1, n, repliesAtStop-before, sentAtStop, stopTook.Round(time.Millisecond),
			down.Round(time.Millisecond), pushFailed, upTook.Round(time.Millisecond), n,
			time.Since(restartAt).Round(time.Millisecond), time.Since(roundStart).Round(time.Millisecond), backoffs())
	}

	// Settle: duplicates of late resends would show up now.
	time.Sleep(3 * time.Second)
	msgs := d.botMessages()
	checkExactReplies(t, d.bot, msgs, n)
	if t.Failed() {
		explainDuplicates(t, s, msgs)
	}
	t.Logf("%d messages, %d rounds, total %s", n, len(killAt), time.Since(start).Round(time.Millisecond))
}
