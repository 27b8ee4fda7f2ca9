// Package e2e holds end-to-end tests: the real bizbots binary behind a real
// homeserver (Dendrite, see e2e/harness), driven by a real Matrix client
// (e2e/client.py, matrix-nio). A missing prerequisite (the Dendrite build,
// the client's Python package, cmd/bizbots) FAILS them, so that CI cannot
// pass by skipping; `make deps` installs everything. Only E2E_ALLOW_SKIP=1
// turns that into a skip, and -short skips them. See e2e/README.md.
//
// Each test starts its own stack (Dendrite, bizbots, work dir, ports).
// The functional tests run in parallel (t.Parallel), so the taxi ride's
// two simulated minutes overlap with the rest; TestMessageToReplyLatency
// does not, so it runs alone, before them, and its figures are not
// skewed by the others.
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

// TestBotsAnswerInDM: a user opens a DM with the echo bot (the default
// config's install check), gets its welcome, sends numbered messages and
// gets exactly one "You said: …" per message, in order. Then a DM with
// each business bot of the default config: it joins and greets, and says
// nothing more (their conversations are TestBusinessFlows).
func TestBotsAnswerInDM(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel() // its own stack; see the package comment
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
	client := filepath.Join(root, "e2e", "client.py")

	t.Run("echo", func(t *testing.T) {
		const n = 5
		botID := s.Dendrite.UserID("echo")
		res := harness.RunClient(py, client, harness.ClientArgs{
			Homeserver: s.Dendrite.URL, User: "alice", Password: "alice-password", Bot: botID,
			Messages: n, Timeout: 60 * time.Second,
			Extra: []string{"--expect-echo", "--exact"},
		})
		if res.Err != nil {
			t.Fatalf("client.py: %v\nstderr:\n%s\nstdout:\n%s", res.Err, res.Stderr, res.Stdout)
		}
		if w := res.Welcome(); w == nil || w.Body != "I repeat what you say. If I answer, bizbots works." {
			t.Errorf("welcome from %s = %+v, want the configured welcome", botID, w)
		}
		replies := res.Replies()
		if len(replies) != n {
			t.Fatalf("%d replies from %s, want %d\n%s", len(replies), botID, n, res.Stdout)
		}
		for i, r := range replies {
			if want := echo("message " + strconv.Itoa(i+1)); r.Body != want {
				t.Errorf("reply %d = %q, want %q (order)", i+1, r.Body, want)
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

	for _, tc := range []struct{ bot, greeting string }{
		{"pizza", "welcome to Pizza Place"},
		{"taxi", "welcome to City Taxi"},
		{"support", "support"},
	} {
		t.Run(tc.bot, func(t *testing.T) {
			botID := s.Dendrite.UserID(tc.bot)
			res := harness.RunClient(py, client, harness.ClientArgs{
				Homeserver: s.Dendrite.URL, User: "alice", Password: "alice-password", Bot: botID,
				Messages: 0, Timeout: 60 * time.Second, Extra: []string{"--exact", "--settle", "1"},
			})
			if res.Err != nil {
				t.Fatalf("client.py: %v\nstderr:\n%s\nstdout:\n%s", res.Err, res.Stderr, res.Stdout)
			}
			if w := res.Welcome(); w == nil || !strings.Contains(w.Body, tc.greeting) {
				t.Errorf("welcome from %s = %+v, want one with %q\n%s", botID, w, tc.greeting, res.Stdout)
			}
		})
	}
}
