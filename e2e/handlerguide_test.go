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

// TestHandlerGuideCoffee follows docs/handlers.md the way a new user
// would, with the guide's complete example (examples/coffee, service
// example-coffee, shipped in the binary): point a bot at the service in
// the config, regenerate the registration so the appservice's namespace
// covers the new bot (docs/admin.md; the homeserver reads it at start),
// run `bizbots serve` and order a coffee from a real client on Dendrite;
// then order the same in the playground, `bizbots chat coffee`, on the
// same config.
func TestHandlerGuideCoffee(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel() // its own stack; see the package comment
	py := harness.PythonWithNio(t)
	s := harness.StartStackT(t, harness.StackOptions{
		WaitBots: append(append([]string{}, harness.DefaultBots...), "coffee"),
		AfterInit: func(ctx context.Context, s *harness.Stack) error {
			if err := harness.AddBot(s.ConfigPath, harness.BotEntry{
				Localpart:   "coffee",
				DisplayName: "Corner Coffee",
				Service:     "example-coffee",
				Welcome:     "Hi! Say menu.", // the coffee bot greets by itself (handlers.Welcomer)
			}); err != nil {
				return err
			}
			out, errOut, err := s.RunBizbots(ctx, "", "generate-registration", "--force")
			if err != nil {
				return err
			}
			t.Logf("bizbots generate-registration --force: %s%s", out, errOut)
			reg, err := os.ReadFile(s.RegistrationPath)
			if err != nil {
				return err
			}
			if !strings.Contains(string(reg), "coffee") {
				t.Errorf("the regenerated registration does not name the coffee bot:\n%s", reg)
			}
			return nil
		},
	})

	t.Run("dendrite", func(t *testing.T) {
		registerUser(t, s, "alice", "Alice")
		d := startSession(t, py, s, "alice", "coffee", "", 2*time.Minute)
		defer d.checkNoApology()
		d.expect(flowTimeout, "Hi Alice, welcome to Corner Coffee!")
		d.say("menu")
		q := d.expect(flowTimeout, "What would you like?", "2. Flat white")
		d.react(q, 2) // flat white, by reaction
		d.expect(flowTimeout, "Which size?", "3. Large")
		d.say("3") // large, typed
		d.expect(flowTimeout, "A large flat white. Shall I order it?")
		d.say("yes")
		d.expect(flowTimeout, "Ordered: large flat white.")
	})

	t.Run("playground", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		script := strings.Join([]string{"menu", "/react 2", "large", "yes", "/wait 3m", "/quit"}, "\n") + "\n"
		out, errOut, err := s.RunBizbots(ctx, script, "chat", "coffee", "--as", "@alice:localhost", "--name", "Alice")
		if err != nil {
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		last := 0
		for _, want := range []string{
			"Chatting with @coffee:localhost as @alice:localhost",
			"coffee: Hi Alice, welcome to Corner Coffee!",
			"coffee: What would you like?",
			"[reactions: 1️⃣ 2️⃣ 3️⃣ 4️⃣",
			"coffee: Which size?",                           // after /react 2
			"coffee: A large flat white. Shall I order it?", // after typing "large"
			"coffee: Ordered: large flat white.",
			"coffee: ☕ Your large flat white is ready at the counter.", // the timer, after /wait 3m
		} {
			i := strings.Index(out[last:], want)
			if i < 0 {
				t.Fatalf("the playground's output has no %q after offset %d:\n%s\nstderr:\n%s", want, last, out, errOut)
			}
			last += i + len(want)
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "playground.db")); err != nil {
			t.Errorf("the playground keeps its own database next to the config: %v", err)
		}
	})
}
