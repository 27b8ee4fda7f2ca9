package handlers_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/playground"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestUserErrorTextStaysWithTheCustomer: a UserError's text quotes what
// the customer wrote. The customer sees it; the log at info (and above)
// and the inbox row's note never contain it, on both engines.
func TestUserErrorTextStaysWithTheCustomer(t *testing.T) {
	const secret = "my card is 4111 1111 1111 1111"
	h := handlers.Chain(handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		return handlers.Errorf("Sorry, %q is not an order number.", m.Text())
	}), handlers.Recover(), handlers.Logging())
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// The playground runs the dispatcher in the test's goroutine.
		logs := &bytes.Buffer{}
		bot := &dispatcher.Bot{UserID: "@bot:test", Config: config.Bot{Localpart: "bot"}, Handler: h}
		s := playground.New(db, []*dispatcher.Bot{bot}, playground.Options{Log: zerolog.New(logs).Level(zerolog.InfoLevel)})
		ctx := context.Background()
		if _, err := s.Open(ctx, bot.UserID, id.UserID("@alice:test"), "Alice"); err != nil {
			t.Fatal(err)
		}
		r, err := s.Say(ctx, bot.UserID, "@alice:test", secret)
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 1 || !strings.Contains(r[0].Body, secret) {
			t.Fatalf("the customer must see the error text: %+v", r)
		}
		for _, hit := range storetest.Find(t, db, "4111 1111") {
			// The event, the history and the reply hold it until
			// forget-me; a note about the failure must not.
			if hit.Column == "last_error" {
				t.Errorf("customer text kept: %s", hit)
			}
		}
		if strings.Contains(logs.String(), "4111") {
			t.Errorf("customer text logged at info:\n%s", logs)
		}
		if !strings.Contains(logs.String(), "user error") {
			t.Errorf("the user error is not logged at all:\n%s", logs)
		}
	})
}
