// Package e2e holds end-to-end tests: the real bizbots binary behind a real
// homeserver (Dendrite, see e2e/harness), driven by a real Matrix client
// (e2e/client.py, matrix-nio). Without the Dendrite build, the client's
// Python package or cmd/bizbots they skip; E2E_REQUIRE=1 makes that a
// failure. See e2e/README.md.
package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// TestBotsAnswerInDM: a user opens a DM with each default bot, gets a
// welcome, sends numbered messages and gets one reply per message, in order.
func TestBotsAnswerInDM(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	py := harness.PythonWithNio(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := harness.StartStackT(t, harness.StackOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Dendrite.RegisterUser(ctx, "alice", "alice-password", false); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		bot      string
		messages int
	}{
		{"pizza", 5},
		{"taxi", 1},
		{"support", 1},
	} {
		t.Run(tc.bot, func(t *testing.T) {
			botID := s.Dendrite.UserID(tc.bot)
			res := harness.RunClient(py, filepath.Join(root, "e2e", "client.py"), harness.ClientArgs{
				Homeserver: s.Dendrite.URL, User: "alice", Password: "alice-password", Bot: botID,
				Messages: tc.messages, Timeout: 60 * time.Second,
				Extra: []string{"--expect-echo", "--exact"},
			})
			if res.Err != nil {
				t.Fatalf("client.py: %v\nstderr:\n%s\nstdout:\n%s", res.Err, res.Stderr, res.Stdout)
			}
			if w := res.Welcome(); w == nil || w.Body == "" {
				t.Errorf("no welcome from %s", botID)
			}
			replies := res.Replies()
			if len(replies) != tc.messages {
				t.Fatalf("%d replies from %s, want %d\n%s", len(replies), botID, tc.messages, res.Stdout)
			}
			for i, r := range replies {
				if want := "message " + strconv.Itoa(i+1); !strings.Contains(r.Body, want) {
					t.Errorf("reply %d = %q, want it to contain %q (order)", i+1, r.Body, want)
				}
			}
			for _, m := range res.Messages() {
				if m.Sender != botID && m.Sender != "@alice:localhost" {
					t.Errorf("unexpected sender %s in the DM: %q", m.Sender, m.Body)
				}
			}
			if t.Failed() {
				t.Logf("client.py output:\n%s", res.Stdout)
			}
		})
	}
}
