package bizbotscmd

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
)

// SIGHUP applies bot changes to a running serve and refuses, with the
// reason, what needs a restart, keeping the running config.
func TestReloadOnSIGHUP(t *testing.T) {
	hup := make(chan os.Signal, 1)
	orig := hangups
	hangups = func() (<-chan os.Signal, func()) { return hup, func() {} }
	defer func() { hangups = orig }()

	hs := fakehs.New("")
	defer hs.Close()
	listen := freePort(t)
	// A prefix namespace, so a bot added later is covered.
	p := initConfig(t, "--listen", listen, "--homeserver-url", hs.URL())
	editConfig(t, p.cfg, `bot_namespace: ""`, `bot_namespace: '@.*:example\.org'`)
	if r := runCmd(t, "generate-registration", "--force", "--config", p.cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.ASToken = cfg.AppService.ASToken
	sv := startServe(t, p.cfg)
	logged := func(what string) {
		t.Helper()
		if !hs.WaitFor(20*time.Second, func() bool { return strings.Contains(sv.stderr.String(), what) }) {
			t.Fatalf("serve never logged %q:\n%s", what, sv.stderr.String())
		}
	}
	logged("bizbots is running")
	chat := func(bot, room, text string) bool {
		alice := "@alice:example.org"
		hs.SetMembers(room, map[string]string{alice: "Alice", bot: "Bot"})
		ctx := context.Background()
		url := "http://" + listen
		if s, err := fakehs.Push(ctx, url, cfg.AppService.HSToken, room+"-invite", []map[string]any{fakehs.Invite(room, alice, bot, true)}); err != nil || s != 200 {
			t.Fatalf("push: %d %v", s, err)
		}
		if s, err := fakehs.Push(ctx, url, cfg.AppService.HSToken, room+"-msg", []map[string]any{fakehs.Message(room, alice, text)}); err != nil || s != 200 {
			t.Fatalf("push: %d %v", s, err)
		}
		return hs.WaitFor(10*time.Second, func() bool {
			for _, s := range hs.SendsTo(room) {
				if b, _ := s.Content["body"].(string); strings.Contains(b, "You said: "+text) {
					return true
				}
			}
			return false
		})
	}

	// A new echo bot is served after SIGHUP, without a restart.
	editConfig(t, p.cfg, "bots:\n", "bots:\n  - localpart: shop_new\n    display_name: New shop\n    service: echo\n")
	hup <- syscall.SIGHUP
	logged("config reloaded")
	if !chat("@shop_new:example.org", "!new:example.org", "hello new") {
		t.Fatalf("the added bot did not answer; log:\n%s", sv.stderr.String())
	}
	if !hs.WaitFor(10*time.Second, func() bool { return hs.Profile("@shop_new:example.org")["displayname"] == "New shop" }) {
		t.Error("the added bot's display name was not set")
	}

	// A change that needs a restart is refused; the bots keep working.
	editConfig(t, p.cfg, "  workers: 32", "  workers: 4")
	hup <- syscall.SIGHUP
	logged("config reload refused, still running the previous config: dispatcher changed; that needs a restart")
	if !chat("@shop_new:example.org", "!new2:example.org", "still here") {
		t.Fatalf("a refused reload stopped the bot; log:\n%s", sv.stderr.String())
	}

	// A file that does not load is refused the same way.
	editConfig(t, p.cfg, "  workers: 4", "  workers: four")
	hup <- syscall.SIGHUP
	logged("dispatcher.workers must be a whole number")
}
