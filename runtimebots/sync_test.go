package runtimebots_test

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// A bot stored moments ago (by `bizbots bots add` or another process) and
// not served here yet is upcoming, so its invites wait for it; users that
// are no stored bot, or of another server, are not.
func TestUpcomingNamesStoredBotsNotServedYet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := &config.Config{
			Homeserver: config.Homeserver{Domain: "example.org"},
			AppService: config.AppService{SenderLocalpart: "bizbots", BotNamespace: "@shop_.*:example\\.org"},
		}
		if _, err := runtimebots.Add(ctx, db, cfg, runtimebots.Spec{Localpart: "shop_taxi", Business: "taxico", URL: "http://127.0.0.1:9/hook"}); err != nil {
			t.Fatal(err)
		}
		s := &runtimebots.Syncer{DB: db, Config: cfg}
		for uid, want := range map[id.UserID]bool{
			"@shop_taxi:example.org":   true,
			"@shop_other:example.org":  false,
			"@shop_taxi:elsewhere.org": false,
			"@alice:example.org":       false,
		} {
			got, err := s.Upcoming(ctx, uid)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Upcoming(%s) = %v, want %v", uid, got, want)
			}
		}
	})
}
