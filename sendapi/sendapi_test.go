package sendapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	shopBot  = id.UserID("@shop_pizza:example.org")
	otherBot = id.UserID("@shop_taxi:example.org")
	alice    = id.UserID("@alice:example.org")
	bob      = id.UserID("@bob:example.org")
	dm       = "!dm-alice:example.org"
	group    = "!group:example.org"
)

type api struct {
	t      *testing.T
	db     *store.DB
	srv    *httptest.Server
	token  string
	other  string
	wakes  int
	wakeMu sync.Mutex
}

// newAPI serves the Send API on db with two businesses: pizza (token)
// owning shopBot, taxi (other) owning otherBot. Alice talked to shopBot
// in a direct chat; Bob never did.
func newAPI(t *testing.T, db *store.DB, tune ...func(*sendapi.Server)) *api {
	ctx := context.Background()
	a := &api{t: t, db: db}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	a.token, err = sendapi.IssueToken(ctx, db, "pizza")
	must(err)
	a.other, err = sendapi.IssueToken(ctx, db, "taxi")
	must(err)
	must(sendapi.Grant(ctx, db, "pizza", shopBot))
	must(sendapi.Grant(ctx, db, "taxi", otherBot))
	must(store.SetBotMembership(ctx, db, shopBot.String(), dm, "join", true, alice.String()))
	must(store.SetMember(ctx, db, dm, alice.String(), "join", "Alice"))
	must(store.TouchCustomer(ctx, db, shopBot.String(), alice.String(), "Alice", 1000))
	must(store.AddHistory(ctx, db, shopBot.String(), alice.String(), "order", "Order 12: margherita", []byte(`{"n":12}`), 2000))
	s := &sendapi.Server{DB: db, Log: zerolog.New(zerolog.NewTestWriter(t)),
		IsBot:    func(u id.UserID) bool { return u == shopBot || u == otherBot },
		OnOutbox: func() { a.wakeMu.Lock(); a.wakes++; a.wakeMu.Unlock() }}
	for _, fn := range tune {
		fn(s)
	}
	a.srv = httptest.NewServer(s)
	t.Cleanup(a.srv.Close)
	return a
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a *api) do(method, path, token, key string, body any) resp {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		if s, ok := body.(string); ok {
			raw = []byte(s)
		}
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func messagesPath(bot id.UserID) string {
	return "/_bizbots/v1/bots/" + url.PathEscape(bot.String()) + "/messages"
}

func (a *api) outboxRows() int {
	var n int
	if err := a.db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func expect(t *testing.T, r resp, status int, errcode string) {
	t.Helper()
	if r.status != status || (errcode != "" && r.body["errcode"] != errcode) {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, errcode)
	}
}

func TestAuthAndScopes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPI(t, db)
		msg := map[string]any{"to": alice, "text": "hi"}
		expect(t, a.do("POST", messagesPath(shopBot), "", "", msg), 401, "M_MISSING_TOKEN")
		expect(t, a.do("POST", messagesPath(shopBot), "bzb_not-a-token", "", msg), 401, "M_UNKNOWN_TOKEN")
		expect(t, a.do("POST", messagesPath(shopBot), a.other, "", msg), 403, "M_FORBIDDEN")
		expect(t, a.do("GET", "/_bizbots/v1/bots/"+url.PathEscape(shopBot.String())+"/customers/"+url.PathEscape(alice.String()), a.other, "", nil), 403, "M_FORBIDDEN")
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", msg), 202, "")
		n, err := sendapi.RevokeTokens(context.Background(), db, "pizza")
		if err != nil || n != 1 {
			t.Fatalf("revoke: %d, %v", n, err)
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", msg), 401, "M_UNKNOWN_TOKEN")
		var stored string
		if err := db.QueryRow(`SELECT token_hash FROM sendapi_tokens WHERE business = 'pizza'`).Scan(&stored); err != nil || stored == a.token {
			t.Fatalf("token stored in clear or not at all: %v", err)
		}
	})
}

func TestSendThroughTheOutboxAndStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPI(t, db)
		r := a.do("POST", messagesPath(shopBot), a.token, "k1", map[string]any{"to": alice, "text": "Your order is on its way",
			"choices": []map[string]string{{"key": "track", "label": "Track it"}}})
		expect(t, r, 202, "")
		id, _ := r.body["id"].(string)
		if id == "" || a.outboxRows() < 1 || a.wakes != 1 {
			t.Fatalf("id %q, %d outbox rows, %d wakes", id, a.outboxRows(), a.wakes)
		}
		var room, content string
		if err := db.QueryRow(`SELECT room_id, content FROM outbox ORDER BY id LIMIT 1`).Scan(&room, &content); err != nil {
			t.Fatal(err)
		}
		if room != dm || !bytes.Contains([]byte(content), []byte("Track it")) {
			t.Fatalf("outbox row to %s: %s", room, content)
		}
		st := a.do("GET", messagesPath(shopBot)+"/"+id, a.token, "", nil)
		expect(t, st, 200, "")
		if st.body["status"] != "queued" {
			t.Fatalf("status before sending: %s", st.raw)
		}
		var oid int64
		_ = db.QueryRow(`SELECT id FROM outbox ORDER BY id LIMIT 1`).Scan(&oid)
		if err := db.MarkOutboxSent(context.Background(), oid, "$sent"); err != nil {
			t.Fatal(err)
		}
		st = a.do("GET", messagesPath(shopBot)+"/"+id, a.token, "", nil)
		if st.body["status"] != "sent" || st.body["event_id"] != "$sent" {
			t.Fatalf("status after sending: %s", st.raw)
		}
		expect(t, a.do("GET", messagesPath(shopBot)+"/"+id, a.other, "", nil), 403, "M_FORBIDDEN")
		expect(t, a.do("GET", messagesPath(shopBot)+"/m_nope", a.token, "", nil), 404, "M_NOT_FOUND")
		// Into a room the bot is in; not into one it is not.
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"room_id": dm, "text": "hello", "markdown": true}), 202, "")
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"room_id": group, "text": "hello"}), 403, "M_FORBIDDEN")
	})
}

func TestIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPI(t, db)
		body := map[string]any{"to": alice, "text": "once"}
		first := a.do("POST", messagesPath(shopBot), a.token, "order-12-shipped", body)
		again := a.do("POST", messagesPath(shopBot), a.token, "order-12-shipped", body)
		expect(t, first, 202, "")
		if again.status != 202 || again.raw != first.raw {
			t.Fatalf("retry got %d %s, want the first response %s", again.status, again.raw, first.raw)
		}
		if n := a.outboxRows(); n != 1 {
			t.Fatalf("%d outbox rows after a retry, want 1", n)
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "order-12-shipped", map[string]any{"to": alice, "text": "twice"}), 422, "BB_IDEMPOTENCY_MISMATCH")
		// A refusal is kept too: the same key gets the same answer.
		cold := map[string]any{"to": bob, "text": "hi"}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "cold", cold), 403, "M_FORBIDDEN")
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "cold", cold), 403, "M_FORBIDDEN")
		// Another business may use the same key for its own message.
		expect(t, a.do("POST", messagesPath(otherBot), a.other, "order-12-shipped", map[string]any{"room_id": group, "text": "x"}), 403, "M_FORBIDDEN")

		// Concurrent retries of one key: one message.
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := a.do("POST", messagesPath(shopBot), a.token, "race", map[string]any{"to": alice, "text": "race"})
				ids[i], _ = r.body["id"].(string)
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id == "" || id != ids[0] {
				t.Fatalf("concurrent retries got ids %q", ids)
			}
		}
		if n := a.outboxRows(); n != 2 {
			t.Fatalf("%d outbox rows, want 2", n)
		}
	})
}

func TestNoColdMessagesAndStop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := newAPI(t, db)
		r := a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": bob, "text": "Sale!"})
		expect(t, r, 403, "M_FORBIDDEN")
		if err := store.UpdateCustomerFacts(ctx, db, shopBot.String(), alice.String(), nil, map[string]bool{sendapi.ConsentMessages: false}); err != nil {
			t.Fatal(err)
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "Sale!"}), 403, "M_FORBIDDEN")
		if n := a.outboxRows(); n != 0 {
			t.Fatalf("%d messages queued to customers who must not get them", n)
		}
	})
}

func TestRateLimit(t *testing.T) {
	a := newAPI(t, storetest.New(t, store.SQLite), func(s *sendapi.Server) { s.Rate = rate.Limit(0.01); s.Burst = 2 })
	for i := 0; i < 2; i++ {
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "hi"}), 202, "")
	}
	r := a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "hi"})
	expect(t, r, 429, "M_LIMIT_EXCEEDED")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another business has its own bucket.
	expect(t, a.do("GET", messagesPath(otherBot)+"/m_x", a.other, "", nil), 404, "M_NOT_FOUND")
}

func TestBadRequests(t *testing.T) {
	a := newAPI(t, storetest.New(t, store.SQLite))
	expect(t, a.do("POST", messagesPath(shopBot), a.token, "", "{"), 400, "M_BAD_JSON")
	expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "txt": "typo"}), 400, "M_BAD_JSON")
	expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"text": "nowhere"}), 400, "M_INVALID_PARAM")
	expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice}), 400, "M_INVALID_PARAM")
	expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "x", "image": "https://x/y.png"}), 400, "BB_MEDIA_URL")
	expect(t, a.do("GET", "/_bizbots/v1/nope", a.token, "", nil), 404, "M_UNRECOGNIZED")
}

func TestCustomerProfile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAPI(t, db)
		path := "/_bizbots/v1/bots/" + url.PathEscape(shopBot.String()) + "/customers/"
		r := a.do("GET", path+url.PathEscape(alice.String()), a.token, "", nil)
		expect(t, r, 200, "")
		hist, _ := r.body["history"].([]any)
		if r.body["display_name"] != "Alice" || len(hist) != 1 {
			t.Fatalf("customer: %s", r.raw)
		}
		expect(t, a.do("GET", path+url.PathEscape(bob.String()), a.token, "", nil), 404, "M_NOT_FOUND")
	})
}
