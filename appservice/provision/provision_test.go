package provision_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/provision"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const asToken = "as_token_0123456789abcdef0123456789abcdef"

func testConfig(hsURL string) *config.Config {
	return &config.Config{
		Homeserver: config.Homeserver{URL: hsURL, Domain: "example.org"},
		AppService: config.AppService{ID: "bizbots", URL: "http://127.0.0.1:29333", SenderLocalpart: "bizbots"},
		Bots: []config.Bot{
			{Localpart: "pizza", DisplayName: "Pizza Palace", Avatar: "mxc://example.org/pizzalogo"},
			{Localpart: "taxi", DisplayName: "Taxi"},
		},
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newProvisioner(t *testing.T, cfg *config.Config, db *store.DB, logs *syncBuffer) *provision.Provisioner {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t))
	if logs != nil {
		log = zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t)))
	}
	cli, err := hsclient.New(cfg.Homeserver.URL, asToken, 4, log)
	if err != nil {
		t.Fatal(err)
	}
	return provision.New(cfg, cli, db, log)
}

func newHS(t *testing.T) *fakehs.HS {
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	return hs
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestAllRegistersEveryBotAndSetsProfiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs := newHS(t)
		hs.AddUser("taxi") // registered by an earlier install: M_USER_IN_USE
		cfg := testConfig(hs.URL())
		if err := newProvisioner(t, cfg, db, nil).All(ctx); err != nil {
			t.Fatalf("All: %v", err)
		}
		for _, lp := range []string{"bizbots", "pizza", "taxi"} {
			if !hs.Registered(lp) {
				t.Fatalf("%s not registered", lp)
			}
			if _, registered, _ := db.BotProfileHash(ctx, "@"+lp+":example.org"); !registered {
				t.Fatalf("%s not recorded as registered", lp)
			}
		}
		if n := hs.Count(fakehs.EndpointRegister); n != 3 {
			t.Fatalf("%d register requests, want 3 (sender and two bots)", n)
		}
		if p := hs.Profile("@pizza:example.org"); p["displayname"] != "Pizza Palace" || p["avatar_url"] != "mxc://example.org/pizzalogo" {
			t.Fatalf("pizza profile %v", p)
		}
		if p := hs.Profile("@taxi:example.org"); p["displayname"] != "Taxi" || len(p) != 1 {
			t.Fatalf("taxi profile %v", p)
		}
		if p := hs.Profile("@bizbots:example.org"); len(p) != 0 {
			t.Fatalf("sender profile %v: nothing configured, nothing set", p)
		}
	})
}

func TestAllSetsProfilesOnlyWhenChanged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs := newHS(t)
		cfg := testConfig(hs.URL())
		p := newProvisioner(t, cfg, db, nil)
		if err := p.All(ctx); err != nil {
			t.Fatal(err)
		}
		registers, profiles := hs.Count(fakehs.EndpointRegister), hs.Count(fakehs.EndpointProfile)
		if profiles != 3 {
			t.Fatalf("%d profile writes on the first start, want 3", profiles)
		}
		// Same process again, then a restart (new provisioner, same database).
		if err := p.All(ctx); err != nil {
			t.Fatal(err)
		}
		if err := newProvisioner(t, cfg, db, nil).All(ctx); err != nil {
			t.Fatal(err)
		}
		if r, w := hs.Count(fakehs.EndpointRegister), hs.Count(fakehs.EndpointProfile); r != registers || w != profiles {
			t.Fatalf("unchanged config: %d more registrations, %d more profile writes; want none", r-registers, w-profiles)
		}

		cfg.Bots[1].DisplayName = "Taxi Tom"
		if err := newProvisioner(t, cfg, db, nil).All(ctx); err != nil {
			t.Fatal(err)
		}
		if w := hs.Count(fakehs.EndpointProfile); w != profiles+1 {
			t.Fatalf("changed display name: %d profile writes, want 1", w-profiles)
		}
		if got := hs.Profile("@taxi:example.org")["displayname"]; got != "Taxi Tom" {
			t.Fatalf("taxi display name %q", got)
		}
		if hs.Count(fakehs.EndpointRegister) != registers {
			t.Fatal("a profile change registered users again")
		}
	})
}

func TestAllFailsWhenTheHomeserverIsDown(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	err := newProvisioner(t, testConfig(closedURL(t)), db, nil).All(context.Background())
	if err == nil || !strings.Contains(err.Error(), "@bizbots:example.org") {
		t.Fatalf("All against a dead homeserver: %v, want an error naming the user", err)
	}
	if _, registered, _ := db.BotProfileHash(context.Background(), "@bizbots:example.org"); registered {
		t.Fatal("a failed registration was recorded as done")
	}
}

func TestEnsureUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs := newHS(t)
		cfg := testConfig(hs.URL())
		p := newProvisioner(t, cfg, db, nil)
		pizza := id.UserID("@pizza:example.org")
		if err := p.EnsureUser(ctx, pizza); err != nil {
			t.Fatal(err)
		}
		if !hs.Registered("pizza") || hs.Count(fakehs.EndpointRegister) != 1 {
			t.Fatalf("registered=%v after %d requests", hs.Registered("pizza"), hs.Count(fakehs.EndpointRegister))
		}
		// Known now, in this process and after a restart.
		if err := p.EnsureUser(ctx, pizza); err != nil {
			t.Fatal(err)
		}
		if err := newProvisioner(t, cfg, db, nil).EnsureUser(ctx, pizza); err != nil {
			t.Fatal(err)
		}
		if n := hs.Count(fakehs.EndpointRegister); n != 1 {
			t.Fatalf("%d register requests, want 1", n)
		}
		// A user the homeserver has but the database does not.
		hs.AddUser("taxi")
		if err := p.EnsureUser(ctx, "@taxi:example.org"); err != nil {
			t.Fatalf("existing user: %v (M_USER_IN_USE must count as success)", err)
		}
		if _, registered, _ := db.BotProfileHash(ctx, "@taxi:example.org"); !registered {
			t.Fatal("existing user not recorded")
		}
	})
}

func TestEnsureUserFailsWhenTheHomeserverIsDown(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	p := newProvisioner(t, testConfig(closedURL(t)), db, nil)
	if err := p.EnsureUser(context.Background(), "@pizza:example.org"); err == nil {
		t.Fatal("EnsureUser against a dead homeserver succeeded")
	}
}

func TestIsBot(t *testing.T) {
	p := newProvisioner(t, testConfig("http://127.0.0.1:1"), storetest.New(t, store.SQLite), nil)
	for uid, want := range map[id.UserID]bool{
		"@bizbots:example.org": true,
		"@pizza:example.org":   true,
		"@taxi:example.org":    true,
		"@alice:example.org":   false,
		"@pizza:elsewhere.org": false,
		"@pizza_2:example.org": false,
	} {
		if got := p.IsBot(uid); got != want {
			t.Errorf("IsBot(%s) = %v, want %v", uid, got, want)
		}
	}
}

func TestPingReportsWithoutFailing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    *fakehs.Failure
		dead    bool
		level   string
		message string
	}{
		{"ok", nil, false, "info", "ping ok"},
		{"unsupported", &fakehs.Failure{Status: 404, Errcode: "M_UNRECOGNIZED"}, false, "info", "does not support the appservice ping"},
		{"homeserver cannot reach us", &fakehs.Failure{Status: 502, Errcode: "M_CONNECTION_FAILED"}, false, "error", "CANNOT reach the appservice"},
		{"wrong hs_token", &fakehs.Failure{Status: 502, Errcode: "M_BAD_STATUS"}, false, "error", "hs_tokens"},
		{"refused", &fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN"}, false, "error", "refused the ping"},
		{"homeserver down", nil, true, "warn", "appservice ping failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := closedURL(t)
			if !tc.dead {
				hs := newHS(t)
				hs.SetPingError(tc.fail)
				url = hs.URL()
			}
			logs := &syncBuffer{}
			p := newProvisioner(t, testConfig(url), storetest.New(t, store.SQLite), logs)
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.Ping(context.Background())
			}()
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				t.Fatal("Ping did not return")
			}
			out := logs.String()
			if !strings.Contains(out, `"level":"`+tc.level+`"`) || !strings.Contains(out, tc.message) {
				t.Fatalf("log %s: want a %s line saying %q", out, tc.level, tc.message)
			}
		})
	}
}
