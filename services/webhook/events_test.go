package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func ofType(b *business, typ string) []received {
	var out []received
	for _, r := range b.log() {
		if r.Event.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// A customer who has the bot forget them: the erasure commits at once,
// even while the business's server is down, and the business is told
// (ids only) as soon as it is back, so it erases its copy.
func TestCustomerForgotten(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBusiness(t)
			h := harness(t, d, b)
			h.Open()
			h.Say("hello")
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) {
				if ev.Type == webhook.TypeCustomerForgotten {
					return 503, nil, ""
				}
				return echoAnswer(0, ev)
			})
			q := h.Say("forget me")
			if len(q) != 1 || len(q[0].Options) != 2 {
				t.Fatalf("confirmation: %+v", q)
			}
			done := h.Choose(q[0], 1)
			if h.StoredCustomer() != nil {
				t.Fatal("the customer is still stored while the business is down")
			}
			for _, r := range done {
				if strings.Contains(r.Body, "we have your message") {
					t.Fatalf("customer told to wait for an erasure notice: %q", r.Body)
				}
			}
			if n := len(ofType(b, webhook.TypeCustomerForgotten)); n != 1 {
				t.Fatalf("%d customer.forgotten attempts, want 1", n)
			}
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) { return 200, nil, "" })
			h.Advance(10 * time.Second)
			got := ofType(b, webhook.TypeCustomerForgotten)
			if len(got) != 2 || got[1].Status != 200 || got[0].ID != got[1].ID {
				t.Fatalf("customer.forgotten deliveries: %+v", got)
			}
			ev := got[1].Event
			if ev.Data.Customer.ID != handlertest.DefaultCustomer || ev.Data.Bot != handlertest.DefaultBot || ev.Data.Room == "" {
				t.Fatalf("customer.forgotten: %+v", ev.Data)
			}
			raw, _ := json.Marshal(ev)
			if strings.Contains(string(raw), "Alice") || ev.Data.Message != nil || ev.Data.Customer.FirstSeen != nil {
				t.Fatalf("customer.forgotten carries more than ids: %s", raw)
			}
			if h.StoredCustomer() != nil {
				t.Fatal("the customer came back after the business was told")
			}
		})
	}
}

// The customer leaves the direct chat, or staff close it in the console:
// the business gets conversation.ended with the reason; nobody is told
// to wait.
func TestConversationEnded(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBusiness(t)
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) {
				return 200, nil, `{"replies":[{"text":"bye"}]}`
			})
			h := harness(t, d, b)
			h.Open()
			h.Say("hello")
			ctx := context.Background()
			room := h.Session.Room(h.Bot, h.Customer)
			// Staff close it (the console adds this timer).
			if err := store.AddTimer(ctx, h.DB, h.Bot.String(), room.String(), h.Customer.String(), store.EndTimerName, handlers.EndedClosed, h.Clock.Now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
			if r := h.Advance(time.Second); len(r) != 0 {
				t.Fatalf("replies into a closed conversation: %+v", r)
			}
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) {
				if ev.Type == webhook.TypeConversationEnded {
					return 500, nil, ""
				}
				return 200, nil, ""
			})
			leave := h.Session.Message(h.Bot, h.Customer, "m.room.member", map[string]any{"membership": "leave"})
			leave["state_key"] = h.Customer.String()
			replies, err := h.Session.Inject(ctx, leave)
			if err != nil {
				t.Fatal(err)
			}
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) { return 200, nil, "" })
			replies = append(replies, h.Advance(10*time.Second)...)
			if len(replies) != 0 {
				t.Fatalf("messages into a room the customer left: %+v", replies)
			}
			ended := ofType(b, webhook.TypeConversationEnded)
			if len(ended) != 3 || ended[0].Event.Data.Reason != handlers.EndedClosed ||
				ended[1].Event.Data.Reason != handlers.EndedLeft || ended[2].Status != 200 || ended[1].ID != ended[2].ID {
				t.Fatalf("conversation.ended deliveries: %+v", ended)
			}
			if ended[1].Event.Data.Customer.ID != h.Customer || ended[1].Event.Data.Room != room {
				t.Fatalf("conversation.ended: %+v", ended[1].Event.Data)
			}
			var held int
			_ = h.DB.QueryRow(`SELECT count(*) FROM webhook_held`).Scan(&held)
			if held != 0 {
				t.Fatal("a customer who left is marked as told to wait")
			}
		})
	}
}

type fakeUploader struct{ n int }

func (f *fakeUploader) UploadMedia(_ context.Context, _ id.UserID, _ []byte, _, _ string) (id.ContentURIString, error) {
	f.n++
	return id.ContentURIString(fmt.Sprintf("mxc://test/%d", f.n)), nil
}

// An answer's image by URL is put into the homeserver's repository and
// sent as m.image; one that is not an image is left out, its caption
// sent.
func TestInlineImages(t *testing.T) {
	var pic bytes.Buffer
	_ = png.Encode(&pic, image.NewRGBA(image.Rect(0, 0, 8, 6)))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p.png" {
			_, _ = w.Write(pic.Bytes())
			return
		}
		_, _ = w.Write([]byte("<html>no</html>"))
	}))
	defer web.Close()
	b := newBusiness(t)
	b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) {
		if ev.Data.Message == nil {
			return 200, nil, ""
		}
		return 200, nil, `{"replies":[{"text":"Special","image":{"url":"` + web.URL + `/p.png","alt":"pizza"}},` +
			`{"text":"Menu","image":"` + web.URL + `/menu.html"}]}`
	})
	cfg := webhook.Config{URL: b.srv.URL, Secret: b.secret, Timeout: config.Duration(2 * time.Second)}
	up := &fakeUploader{}
	h := handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
		s := webhook.New(cfg, db, handlertest.DefaultBot, "")
		s.UseMedia(&media.Resolver{DB: db, HS: up, AllowPrivate: true})
		return s
	})
	h.Open()
	got := h.Say("what's on?")
	if len(got) != 2 || got[0].Body != "Special" || got[0].MsgType != "m.image" || got[1].Body != "Menu" || got[1].MsgType != "m.text" || up.n != 1 {
		t.Fatalf("replies %+v, %d uploads", got, up.n)
	}
}
