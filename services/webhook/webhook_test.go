package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// business is a business's webhook server under test: it verifies every
// request's signature and answers as its reply func says.
type business struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	received []received
	reply    func(n int, ev webhook.Event) (status int, header http.Header, body string)
}

type received struct {
	ID    string
	Event webhook.Event
	// Status is what the business answered.
	Status int
}

func newBusiness(t *testing.T) *business {
	b := &business{t: t, secret: mustSecret(t)}
	b.reply = func(int, webhook.Event) (int, http.Header, string) { return 200, nil, "" }
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(b.secret, r.Header, body, time.Now(), webhook.DefaultTolerance); err != nil {
			t.Errorf("business got a request it cannot verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("business got a body it cannot parse: %v", err)
		}
		b.mu.Lock()
		n := len(b.received)
		status, header, out := b.reply(n, ev)
		b.received = append(b.received, received{ID: r.Header.Get(webhook.HeaderID), Event: ev, Status: status})
		b.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *business) answer(fn func(n int, ev webhook.Event) (int, http.Header, string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reply = fn
}

func (b *business) log() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.received...)
}

// delivered lists the texts of the messages the business took (2xx), in
// the order it took them.
func (b *business) delivered() []string {
	var out []string
	for _, r := range b.log() {
		if r.Status/100 == 2 && r.Event.Data.Message != nil {
			out = append(out, r.Event.Data.Message.Text)
		}
	}
	return out
}

func harness(t *testing.T, d store.Dialect, b *business, tweak ...func(*webhook.Config)) *handlertest.Harness {
	cfg := webhook.Config{URL: b.srv.URL, Secret: b.secret, Timeout: config.Duration(2 * time.Second)}
	for _, fn := range tweak {
		fn(&cfg)
	}
	return handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
		return webhook.New(cfg, db, handlertest.DefaultBot, "https://api.shop.test")
	}, handlertest.Options{URI: storetest.URI(t, d)})
}

func echoAnswer(_ int, ev webhook.Event) (int, http.Header, string) {
	if ev.Data.Message == nil {
		return 200, nil, `{"replies":[{"text":"Welcome!"}]}`
	}
	out, _ := json.Marshal(map[string]any{"replies": []map[string]any{{"text": "got: " + ev.Data.Message.Text}}})
	return 200, nil, string(out)
}

func TestInlineRepliesAndChoices(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBusiness(t)
			b.answer(func(_ int, ev webhook.Event) (int, http.Header, string) {
				switch ev.Type {
				case webhook.TypeConversationStarted:
					return 200, nil, `{"replies":[{"text":"Hi, I am the **shop**.","markdown":true}]}`
				case webhook.TypeChoice:
					return 200, nil, `{"replies":[{"text":"You picked ` + ev.Data.Message.Choice.Key + `"}]}`
				}
				return 200, nil, `{"replies":[{"text":"Pizza or pasta?","choices":[{"key":"pizza","label":"Pizza"},{"key":"pasta","label":"Pasta"}]}]}`
			})
			h := harness(t, d, b)
			welcome := h.Open()
			if len(welcome) != 1 || !strings.Contains(welcome[0].Body, "shop") || !strings.Contains(welcome[0].HTML, "<strong>shop</strong>") {
				t.Fatalf("welcome: %+v", welcome)
			}
			q := h.Say("hello")
			if len(q) != 1 || len(q[0].Options) != 2 {
				t.Fatalf("question: %+v", q)
			}
			if got := handlertest.Text(h.Choose(q[0], 2)); got != "You picked pasta" {
				t.Fatalf("after choosing: %q", got)
			}
			log := b.log()
			if len(log) != 3 {
				t.Fatalf("business got %d events, want 3", len(log))
			}
			started, msg, choice := log[0].Event, log[1].Event, log[2].Event
			if started.Type != webhook.TypeConversationStarted || started.Data.Customer.ID != handlertest.DefaultCustomer {
				t.Fatalf("first event: %+v", started)
			}
			if msg.Type != webhook.TypeMessage || msg.Data.Message.Text != "hello" || msg.Data.Bot != handlertest.DefaultBot ||
				msg.Data.Room == "" || msg.Data.Customer.DisplayName != "Alice" ||
				msg.Data.ReplyURL != "https://api.shop.test/_bizbots/v1/bots/@bot:test/messages" {
				t.Fatalf("message event: %+v", msg)
			}
			if choice.Type != webhook.TypeChoice || choice.Data.Message.Choice.Key != "pasta" || choice.Data.Customer.FirstSeen == nil {
				t.Fatalf("choice event: %+v", choice.Data)
			}
			if log[1].ID == log[2].ID {
				t.Fatal("two events share a webhook-id")
			}
		})
	}
}

// A flaky business server: every event is delivered, once, in the order
// the customer wrote, with the same webhook-id on every retry of it.
func TestOrderAndRetriesAgainstAFlakyServer(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBusiness(t)
			b.answer(func(n int, ev webhook.Event) (int, http.Header, string) {
				if n%3 != 2 { // two failures, then success, again and again
					return 500, nil, ""
				}
				return echoAnswer(n, ev)
			})
			h := harness(t, d, b)
			h.Open()
			var replies []string
			for _, text := range []string{"one", "two", "three"} {
				replies = append(replies, handlertest.Bodies(h.Say(text))...)
			}
			for i := 0; i < 20 && len(b.delivered()) < 4; i++ {
				replies = append(replies, handlertest.Bodies(h.Advance(6*time.Minute))...)
			}
			if got := strings.Join(b.delivered(), ","); got != "one,two,three" {
				t.Fatalf("business took %q, want one,two,three in order", got)
			}
			ids := map[string][]int{}
			for _, r := range b.log() {
				ids[r.ID] = append(ids[r.ID], r.Status)
			}
			for id, statuses := range ids {
				if len(statuses) != 3 || statuses[2] != 200 {
					t.Fatalf("webhook-id %s answered %v: want two failures then one success", id, statuses)
				}
			}
			answers := 0
			for _, r := range replies {
				if strings.HasPrefix(r, "got: ") {
					answers++
				}
			}
			if answers != 3 {
				t.Fatalf("customer got %d answers, want 3: %q", answers, replies)
			}
		})
	}
}

// The business's server is down for an hour (simulated clock): nothing is
// lost, order is kept, and the customer is told once, not per message.
func TestHourLongOutageLosesNothing(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			b := newBusiness(t)
			b.answer(echoAnswer)
			h := harness(t, d, b)
			h.Open()
			b.answer(func(int, webhook.Event) (int, http.Header, string) { return 503, nil, "" })
			var during []string
			for _, text := range []string{"are you open?", "hello??", "I want a pizza"} {
				during = append(during, handlertest.Bodies(h.Say(text))...)
				during = append(during, handlertest.Bodies(h.Advance(time.Minute))...)
			}
			for i := 0; i < 57; i++ {
				during = append(during, handlertest.Bodies(h.Advance(time.Minute))...)
			}
			if len(during) != 1 || during[0] != webhook.DefaultHoldingText {
				t.Fatalf("during the outage the customer got %q; want the holding notice once", during)
			}
			if got := b.delivered(); len(got) != 0 {
				t.Fatalf("delivered during the outage: %q", got)
			}
			b.answer(echoAnswer)
			var after []string
			for i := 0; i < 30 && len(b.delivered()) < 3; i++ {
				after = append(after, handlertest.Bodies(h.Advance(10*time.Minute))...)
			}
			if got := strings.Join(b.delivered(), "|"); got != "are you open?|hello??|I want a pizza" {
				t.Fatalf("after the outage the business took %q", got)
			}
			if strings.Join(after, "|") != "got: are you open?|got: hello??|got: I want a pizza" {
				t.Fatalf("after the outage the customer got %q", after)
			}
			// A later outage tells the customer again (once).
			b.answer(func(int, webhook.Event) (int, http.Header, string) { return 503, nil, "" })
			if got := handlertest.Text(h.Say("again?")); got != webhook.DefaultHoldingText {
				t.Fatalf("second outage: %q", got)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	b := newBusiness(t)
	b.answer(func(n int, ev webhook.Event) (int, http.Header, string) {
		if n == 0 {
			return 429, http.Header{"Retry-After": {"3600"}}, ""
		}
		return echoAnswer(n, ev)
	})
	h := harness(t, store.SQLite, b)
	h.Say("hi") // the chat opens first: that is request 0
	if got := len(b.log()); got != 1 {
		t.Fatalf("%d requests", got)
	}
	h.Advance(59 * time.Minute)
	if got := len(b.log()); got != 1 {
		t.Fatalf("retried before Retry-After: %d requests", got)
	}
	h.Advance(2 * time.Minute)
	if got := len(b.log()); got != 3 {
		t.Fatalf("after Retry-After: %d requests, want the welcome and the message delivered", got)
	}
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	b := newBusiness(t)
	b.answer(func(int, webhook.Event) (int, http.Header, string) { return 410, nil, "" })
	h := harness(t, store.SQLite, b)
	if got := handlertest.Text(h.Open()); got != webhook.DefaultHoldingText {
		t.Fatalf("customer got %q", got)
	}
	for i := 0; i < 5; i++ {
		h.Advance(3 * time.Hour)
	}
	if n := len(b.log()); n != 1 {
		t.Fatalf("%d requests to an endpoint that said 410 Gone, want 1", n)
	}
	var reason string
	if err := h.DB.QueryRow(`SELECT reason FROM webhook_disabled WHERE bot_user_id = $1`, h.Bot.String()).Scan(&reason); err != nil {
		t.Fatalf("endpoint not recorded as disabled: %v", err)
	}
}

func TestGivesUpAfterTheScheduleWithOneNotice(t *testing.T) {
	b := newBusiness(t)
	b.answer(func(int, webhook.Event) (int, http.Header, string) { return 500, nil, "" })
	h := harness(t, store.SQLite, b)
	var got []string
	got = append(got, handlertest.Bodies(h.Open())...)
	for i := 0; i < 40; i++ {
		got = append(got, handlertest.Bodies(h.Advance(time.Hour))...)
	}
	if want := []string{webhook.DefaultHoldingText, webhook.DefaultGiveUpText}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("customer got %q, want %q", got, want)
	}
	if n := len(b.log()); n != len(webhook.Schedule)+1 {
		t.Fatalf("%d attempts, want %d", n, len(webhook.Schedule)+1)
	}
}

func TestStopAndStartAreConsent(t *testing.T) {
	b := newBusiness(t)
	b.answer(echoAnswer)
	h := harness(t, store.SQLite, b)
	h.Say("hello")
	if got := handlertest.Text(h.Say("STOP")); !strings.Contains(got, "will not send you messages") {
		t.Fatalf("stop answered %q", got)
	}
	if c := h.StoredCustomer(); c == nil || c.Consent[webhook.ConsentMessages] {
		t.Fatalf("consent after stop: %+v", c)
	}
	h.Say("start")
	if c := h.StoredCustomer(); !c.Consent[webhook.ConsentMessages] {
		t.Fatalf("consent after start: %+v", c)
	}
	if got := b.delivered(); strings.Join(got, ",") != "hello" {
		t.Fatalf("business got %q: stop and start are answered by bizbots", got)
	}
}
