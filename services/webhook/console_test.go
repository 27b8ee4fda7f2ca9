package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// What the console shows and changes: deliveries with their outcome, the
// URL, and a rotated secret that signs at once.
func TestConsoleSettingsAndDeliveries(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			b := newBusiness(t)
			b.answer(func(n int, ev webhook.Event) (int, http.Header, string) {
				if n == 1 {
					return 500, nil, ""
				}
				return echoAnswer(n, ev)
			})
			var svc *webhook.Service
			h := handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
				svc = webhook.New(webhook.Config{URL: b.srv.URL, Secret: b.secret, Timeout: config.Duration(2 * time.Second)}, db, handlertest.DefaultBot, "")
				return svc
			}, handlertest.Options{URI: storetest.URI(t, d)})
			h.Open()
			h.Say("hello")
			ds, err := svc.Deliveries(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 2 || ds[0].Status != webhook.StatusRetrying || ds[0].HTTPStatus != 500 || ds[0].Attempts != 1 ||
				ds[0].NextAt.IsZero() || !strings.Contains(ds[0].Error, "HTTP 500") || !ds[0].Retryable() || ds[0].Customer != handlertest.DefaultCustomer.String() {
				t.Fatalf("deliveries after a failure: %+v", ds)
			}
			if ds[1].EventType != webhook.TypeConversationStarted || ds[1].Status != webhook.StatusDelivered || ds[1].Retryable() {
				t.Fatalf("the conversation start: %+v", ds[1])
			}
			h.Advance(10 * time.Second)
			one, err := svc.Delivery(ctx, ds[0].MsgID)
			if err != nil || one == nil || one.Status != webhook.StatusDelivered || one.HTTPStatus != 200 || one.Attempts != 2 || one.Retryable() {
				t.Fatalf("after the retry: %+v, %v", one, err)
			}

			// A new URL and a rotated secret apply to the next delivery.
			b2 := newBusiness(t)
			b2.answer(echoAnswer)
			if err := svc.SetURL(ctx, "ftp://nope", "@owner:test"); !errors.Is(err, webhook.ErrBadURL) {
				t.Fatalf("bad URL: %v", err)
			}
			if err := svc.SetURL(ctx, b2.srv.URL, "@owner:test"); err != nil {
				t.Fatal(err)
			}
			secret, err := svc.RotateSecret(ctx, "@owner:test")
			if err != nil {
				t.Fatal(err)
			}
			b2.secret = secret // the business verifies with the new secret at once
			if got := handlertest.Text(h.Say("moved")); got != "got: moved" {
				t.Fatalf("after the move: %q", got)
			}
			st, err := svc.Settings(ctx)
			if err != nil || st.URL != b2.srv.URL || !st.Rotating || !st.FromConsole || st.UpdatedBy != "@owner:test" || !strings.HasSuffix(secret, st.SecretEnd) {
				t.Fatalf("settings %+v, err %v", st, err)
			}
			if err := svc.FinishRotation(ctx, "@owner:test"); err != nil {
				t.Fatal(err)
			}
			if st, _ := svc.Settings(ctx); st.Rotating {
				t.Fatal("still rotating after FinishRotation")
			}
			if got := handlertest.Text(h.Say("again")); got != "got: again" {
				t.Fatalf("with the new secret only: %q", got)
			}
		})
	}
}
