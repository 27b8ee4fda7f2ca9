package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The taxi bot is a webhook bot here; its rider's message was given up.
func TestWebhookSettingsPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		secret, err := webhook.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		svc := webhook.New(webhook.Config{URL: "https://rides.example/hook", Secret: secret, Timeout: config.Duration(5 * time.Second)}, db, taxi, "")
		e := startWith(t, db, func(o *console.Options) {
			o.Handler = func(bot id.UserID) handlers.Handler {
				if bot == taxi {
					return svc
				}
				return nil
			}
		})
		var eventID string
		if err := db.QueryRow(`SELECT event_id FROM inbox WHERE room_id = $1`, taxiDM).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE inbox SET status = 'done', handled_at = 1 WHERE event_id = $1`, eventID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO webhook_deliveries (bot_user_id, msg_id, event_id, room_id, user_id, event_type, status,
			http_status, error, attempts, took_ms, at) VALUES ($1, 'msg_1', $2, $3, '@rider:example.org', 'message', 'given_up', 503,
			'the business server answered HTTP 503', 8, 12, $4)`, taxi, eventID, taxiDM, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}

		// Not a webhook bot; an agent; another business's owner.
		a, _ := e.signIn(t, alice)
		if status, page := a.get(t, "/b/pizza/webhook"); status != http.StatusNotFound || !strings.Contains(page, "not a webhook bot") {
			t.Fatalf("pizza's webhook page: %d", status)
		}
		b, bcsrf := e.signIn(t, bob)
		if status, _ := b.get(t, "/b/pizza/webhook"); status != http.StatusForbidden {
			t.Fatalf("agent: %d, want 403", status)
		}
		if status, _ := b.post(t, "/b/pizza/webhook/rotate", url.Values{"csrf": {bcsrf}}); status != http.StatusForbidden {
			t.Fatalf("agent rotating: %d, want 403", status)
		}
		if status, _ := a.get(t, "/b/taxi/webhook"); status != http.StatusNotFound {
			t.Fatalf("another business's webhook page: %d, want 404", status)
		}

		c, csrf := e.signIn(t, carol)
		_, page := c.get(t, "/b/taxi/webhook")
		page = html.UnescapeString(page) // a secret's base64 has + and /
		for _, want := range []string{`value="https://rides.example/hook"`, "…" + secret[len(secret)-4:], "From config.yaml",
			"Given up", "HTTP 503", "@rider:example.org", `name="msg_id" value="msg_1"`, `value="https://rides.example/hook"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("webhook page lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, secret) {
			t.Fatal("the page shows the whole secret")
		}

		if status, _ := c.post(t, "/b/taxi/webhook/url", url.Values{"csrf": {csrf}, "url": {"javascript:alert(1)"}}); status != http.StatusBadRequest {
			t.Fatalf("bad URL: %d", status)
		}
		if status, page := c.post(t, "/b/taxi/webhook/url", url.Values{"csrf": {csrf}, "url": {"https://new.rides.example/hook"}}); status != 200 ||
			!strings.Contains(page, `value="https://new.rides.example/hook"`) || !strings.Contains(page, "Set in the console by "+carol) {
			t.Fatalf("new URL: %d\n%s", status, page)
		}

		status, page := c.post(t, "/b/taxi/webhook/rotate", url.Values{"csrf": {csrf}})
		page = html.UnescapeString(page)
		m := regexp.MustCompile(`id="new-secret">(whsec_[^<]+)<`).FindStringSubmatch(page)
		if status != 200 || m == nil || m[1] == secret || webhook.CheckSecret(m[1]) != nil {
			t.Fatalf("rotate: %d\n%s", status, page)
		}
		if _, page := c.get(t, "/b/taxi/webhook"); strings.Contains(html.UnescapeString(page), m[1]) || !strings.Contains(page, "previous secret still signs") {
			t.Fatal("the new secret is shown again, or the rotation is not")
		}
		if _, page := c.post(t, "/b/taxi/webhook/finish", url.Values{"csrf": {csrf}}); strings.Contains(page, "previous secret still signs") {
			t.Fatal("still rotating after finishing")
		}

		if status, page := c.post(t, "/b/taxi/webhook/retry", url.Values{"csrf": {csrf}, "msg_id": {"msg_1"}}); status != 200 || !strings.Contains(page, "sent again") {
			t.Fatalf("retry: %d\n%s", status, page)
		}
		var st string
		var retryAt, attempts int64
		if err := db.QueryRow(`SELECT status, retry_at, attempts FROM inbox WHERE event_id = $1`, eventID).Scan(&st, &retryAt, &attempts); err != nil {
			t.Fatal(err)
		}
		if st != "pending" || retryAt != 0 || attempts != 0 {
			t.Fatalf("inbox row after retry: %s %d %d", st, retryAt, attempts)
		}
		if status, _ := c.post(t, "/b/taxi/webhook/retry", url.Values{"csrf": {csrf}, "msg_id": {"msg_1"}}); status != http.StatusConflict {
			t.Fatalf("second retry while due: %d, want 409", status)
		}
		if status, _ := c.post(t, "/b/taxi/webhook/retry", url.Values{"csrf": {csrf}, "msg_id": {"msg_nope"}}); status != http.StatusConflict {
			t.Fatalf("unknown delivery: %d, want 409", status)
		}
	})
}
