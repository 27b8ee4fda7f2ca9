package config_test

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
)

func TestConsoleOffByDefault(t *testing.T) {
	cfg := parseValid(t)
	if cfg.Console.Enabled() {
		t.Fatal("the console is on without console.listen")
	}
	if cfg.Bots[0].Console.RoleOf("@alice:example.org") != "" {
		t.Fatal("a bot with no staff list has staff")
	}
}

func TestConsoleConfig(t *testing.T) {
	yaml := strings.Replace(validYAML, "  - localpart: taxi\n", `  - localpart: taxi
    console:
      time_zone: Europe/Amsterdam
      staff:
        - {user: "@alice:example.org", role: owner}
        - {user: "@bob:example.org", role: agent}
console:
  listen: 127.0.0.1:29331
`, 1)
	cfg, err := config.Parse([]byte(yaml), "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, taxi := cfg.Console, cfg.Bots[1].Console
	if !c.Enabled() || c.PublicURL != "http://127.0.0.1:29331" || c.SessionTTL.D() != 12*time.Hour {
		t.Fatalf("console defaults: %+v", c)
	}
	if taxi.RoleOf(id.UserID("@alice:example.org")) != config.RoleOwner || taxi.RoleOf("@bob:example.org") != config.RoleAgent || taxi.RoleOf("@eve:example.org") != "" {
		t.Fatalf("roles: %+v", taxi.Staff)
	}
	if taxi.Location().String() != "Europe/Amsterdam" || cfg.Bots[0].Console.Location() != time.UTC {
		t.Fatal("time zones")
	}
}

func TestConsoleConfigErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"console: {listen: nowhere}", `console.listen "nowhere" must be host:port`},
		{"console: {listen: 127.0.0.1:29330}", "the console needs its own port"},
		{"console: {listen: 127.0.0.1:1, public_url: ftp://x}", `console.public_url "ftp://x" must be the http(s) address`},
		{"console: {listen: 127.0.0.1:1, session_ttl: 1s}", "console.session_ttl 1s must be between 1m and 720h"},
		{"console: {bogus: 1}", "bogus"},
	} {
		_, err := config.Parse([]byte(validYAML+tc.block+"\n"), "config.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.block, err, tc.want)
		}
	}
	for _, tc := range []struct{ block, want string }{
		{`{time_zone: Mars/Base}`, `bots[1] (taxi).console.time_zone "Mars/Base": unknown time zone`},
		{`{staff: [{user: alice, role: owner}]}`, `bots[1] (taxi).console.staff[0].user "alice" must be a full Matrix user id`},
		{`{staff: [{user: "@a:example.org", role: boss}]}`, `bots[1] (taxi).console.staff[0].role "boss" must be owner or agent`},
		{`{staff: [{user: "@a:example.org", role: owner}, {user: "@a:example.org", role: agent}]}`, `staff[1].user "@a:example.org" is listed twice`},
	} {
		yaml := strings.Replace(validYAML, "  - localpart: taxi\n", "  - localpart: taxi\n    console: "+tc.block+"\n", 1)
		_, err := config.Parse([]byte(yaml), "config.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.block, err, tc.want)
		}
	}
}
