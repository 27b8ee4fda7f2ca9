package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// TestDoctorOnDendrite: against a real, correctly set-up Dendrite with
// bizbots running, `bizbots doctor` finds nothing wrong; with
// homeserver.domain changed, it names the domain Dendrite really serves.
func TestDoctorOnDendrite(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	s := harness.StartStackT(t, harness.StackOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// serve registers the bots at start; wait until the last one exists.
	if err := s.Dendrite.WaitProfile(ctx, s.Dendrite.UserID("echo"), nil); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := s.RunBizbots(ctx, "", "doctor")
	if err != nil || strings.Contains(out, "✗") {
		t.Fatalf("doctor on a good setup: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"✓ homeserver.url is a Matrix homeserver", "✓ the homeserver knows our as_token",
		"✓ homeserver.domain is the homeserver's server name", "✓ bot " + s.Dendrite.UserID("pizza") + " is registered"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("doctor on Dendrite:\n%s", out)

	if err := harness.EditConfig(s.ConfigPath, map[string]string{"homeserver.domain": "wrong.example"}); err != nil {
		t.Fatal(err)
	}
	out, _, err = s.RunBizbots(ctx, "", "doctor")
	if err == nil {
		t.Errorf("doctor passed with a wrong domain:\n%s", out)
	}
	if want := `homeserver.domain is "wrong.example" but the homeserver's users are @…:` + s.Dendrite.ServerName; !strings.Contains(out, want) {
		t.Errorf("doctor output lacks %q:\n%s", want, out)
	}
}
