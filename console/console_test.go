package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	asToken = "as0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	hsToken = "hs0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	pizza   = "@pizza:example.org"
	taxi    = "@taxi:example.org"
	alice   = "@alice:example.org" // owner of pizza
	bob     = "@bob:example.org"   // agent of pizza
	carol   = "@carol:example.org" // owner of taxi
	dave    = "@dave:example.org"  // staff of nothing
	cust    = "@cust:example.org"  // a customer of pizza
	room    = "!dm:example.org"
	taxiDM  = "!taxi:example.org"
)

type env struct {
	db  *store.DB
	hs  *fakehs.HS
	url string
	cfg *config.Config
	srv *console.Server
}

func testConfig(t testing.TB, publicURL string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`homeserver: {url: "http://localhost:8008", domain: example.org}
appservice: {as_token: `+asToken+`, hs_token: `+hsToken+`}
console: {listen: "127.0.0.1:0", public_url: "`+publicURL+`"}
bots:
  - localpart: pizza
    display_name: Pizza Place
    console:
      time_zone: Europe/Amsterdam
      staff:
        - {user: "`+alice+`", role: owner}
        - {user: "`+bob+`", role: agent}
  - localpart: taxi
    console:
      staff: [{user: "`+carol+`", role: owner}]
`), "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a console on db with a fake homeserver that knows the staff's
// passwords, and a customer who wrote to the pizza bot.
// startWith is start with options changed by opt (nil: none).
func startWith(t testing.TB, db *store.DB, opt func(*console.Options)) *env {
	t.Helper()
	if opt == nil {
		return start(t, db)
	}
	return start(t, db, opt)
}

func start(t testing.TB, db *store.DB, with ...func(*console.Options)) *env {
	t.Helper()
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	for _, u := range []string{alice, bob, carol, dave} {
		hs.SetPassword(u, "pw-"+u)
	}
	ts := httptest.NewUnstartedServer(nil)
	cfg := testConfig(t, "http://"+ts.Listener.Addr().String())
	opts := console.Options{DB: db, Config: cfg, Auth: console.MatrixLogin{HomeserverURL: hs.URL()},
		Log: zerolog.New(zerolog.NewTestWriter(t)), LivePoll: 20 * time.Millisecond}
	for _, fn := range with {
		fn(&opts)
	}
	srv, err := console.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.Close() })
	e := &env{db: db, hs: hs, url: ts.URL, cfg: cfg, srv: srv}
	e.conversation(t, pizza, room, cust, "Cust", "hello, is anyone there?")
	e.conversation(t, taxi, taxiDM, "@rider:example.org", "Rider", "I need a ride")
	return e
}

// conversation makes a direct room between bot and customer with one
// message from the customer, as intake and the dispatcher record them.
func (e *env) conversation(t testing.TB, bot, room, customer, name, text string) {
	t.Helper()
	ctx := context.Background()
	if err := store.SetBotMembership(ctx, e.db, bot, room, "join", true, customer); err != nil {
		t.Fatal(err)
	}
	if err := store.SetMember(ctx, e.db, room, customer, "join", name); err != nil {
		t.Fatal(err)
	}
	e.say(t, room, customer, text)
}

var seq int

// say stores a customer message in the inbox.
func (e *env) say(t testing.TB, room, customer, text string) {
	t.Helper()
	seq++
	ev := fakehs.Message(room, customer, text)
	raw, _ := json.Marshal(ev)
	_, _, err := e.db.StoreTransaction(context.Background(), fmt.Sprintf("txn%d", seq), []store.IncomingEvent{{
		EventID: ev["event_id"].(string), RoomID: room, Sender: customer, Type: "m.room.message",
		// +1: strictly after anything the console recorded before (ms clock).
		OriginTS: time.Now().UnixMilli() + 1, JSON: raw,
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// client is a browser: cookies kept, redirects followed.
type client struct {
	*http.Client
	base string
}

func (e *env) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{Client: &http.Client{Jar: jar}, base: e.url}
}

func (c *client) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *client) post(t testing.TB, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var hiddenRe = regexp.MustCompile(`name="(csrf|token)" value="([^"]+)"`)

// hidden reads a hidden form field of a page.
func hidden(t testing.TB, page, name string) string {
	t.Helper()
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no %s field in page:\n%s", name, page)
	return ""
}

// signIn signs user in and returns the client and the session's CSRF token.
func (e *env) signIn(t testing.TB, user string) (*client, string) {
	t.Helper()
	c := e.client(t)
	_, page := c.get(t, "/login")
	status, home := c.post(t, "/login", url.Values{"csrf": {hidden(t, page, "csrf")}, "user": {user}, "password": {"pw-" + user}})
	if status != 200 || !strings.Contains(home, "Your bots") {
		t.Fatalf("sign in as %s: %d\n%s", user, status, home)
	}
	return c, hidden(t, home, "csrf")
}

// takeOver takes the pizza conversation over and returns the reply
// form's token.
func (c *client) takeOver(t testing.TB, csrf string) string {
	t.Helper()
	if status, _ := c.post(t, convPath("pizza", room)+"/take", url.Values{"csrf": {csrf}}); status != 200 {
		t.Fatalf("take over: %d", status)
	}
	_, page := c.get(t, convPath("pizza", room))
	return hidden(t, page, "token")
}

func convPath(bot, room string) string { return "/b/" + bot + "/c/" + url.PathEscape(room) }

func TestSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)

		t.Run("signed out goes to sign-in", func(t *testing.T) {
			c := e.client(t)
			status, page := c.get(t, "/b/pizza/")
			if status != 200 || !strings.Contains(page, `action="/login"`) || !strings.Contains(page, `value="/b/pizza/"`) {
				t.Fatalf("%d %s", status, page)
			}
		})
		t.Run("wrong password", func(t *testing.T) {
			c := e.client(t)
			_, page := c.get(t, "/login")
			status, page := c.post(t, "/login", url.Values{"csrf": {hidden(t, page, "csrf")}, "user": {alice}, "password": {"nope"}})
			if status != http.StatusUnauthorized || !strings.Contains(page, "Wrong user name or password") {
				t.Fatalf("%d %s", status, page)
			}
		})
		t.Run("login form without its token", func(t *testing.T) {
			c := e.client(t)
			c.get(t, "/login")
			status, _ := c.post(t, "/login", url.Values{"csrf": {"forged"}, "user": {alice}, "password": {"pw-" + alice}})
			if status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", status)
			}
		})
		t.Run("not staff of any bot", func(t *testing.T) {
			c := e.client(t)
			_, page := c.get(t, "/login")
			status, page := c.post(t, "/login", url.Values{"csrf": {hidden(t, page, "csrf")}, "user": {"dave"}, "password": {"pw-" + dave}})
			if status != http.StatusForbidden || !strings.Contains(page, "not staff of any bot") {
				t.Fatalf("%d %s", status, page)
			}
		})
		t.Run("the homeserver login is logged out again", func(t *testing.T) {
			e.signIn(t, alice)
			if n := e.hs.OpenLogins(); n != 0 {
				t.Fatalf("%d homeserver logins left open", n)
			}
		})
		t.Run("cookie is HttpOnly, SameSite and only a hash is stored", func(t *testing.T) {
			c := e.client(t)
			_, page := c.get(t, "/login")
			form := url.Values{"csrf": {hidden(t, page, "csrf")}, "user": {alice}, "password": {"pw-" + alice}}
			req, _ := http.NewRequest(http.MethodPost, e.url+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range c.Jar.Cookies(req.URL) {
				req.AddCookie(ck)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var sess *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "bizbots_console" {
					sess = ck
				}
			}
			if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.MaxAge <= 0 {
				t.Fatalf("session cookie %+v", sess)
			}
			if hits := storetest.Find(t, db, sess.Value); len(hits) != 0 {
				t.Fatalf("the raw session id is in the database: %v", hits)
			}
		})
		t.Run("sign out ends the session", func(t *testing.T) {
			c, csrf := e.signIn(t, alice)
			if status, _ := c.post(t, "/logout", url.Values{"csrf": {csrf}}); status != 200 {
				t.Fatalf("logout: %d", status)
			}
			if _, page := c.get(t, "/b/pizza/"); !strings.Contains(page, `action="/login"`) {
				t.Fatal("still signed in after signing out")
			}
		})
		t.Run("a stolen cookie of an expired session is refused", func(t *testing.T) {
			c, _ := e.signIn(t, alice)
			if _, err := db.Exec(`UPDATE console_sessions SET expires_at = 1`); err != nil {
				t.Fatal(err)
			}
			if _, page := c.get(t, "/b/pizza/"); !strings.Contains(page, `action="/login"`) {
				t.Fatal("an expired session still works")
			}
		})
		t.Run("redirect after sign-in stays on the console", func(t *testing.T) {
			c := e.client(t)
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			_, page := c.get(t, "/login")
			req, _ := http.NewRequest(http.MethodPost, e.url+"/login", strings.NewReader(url.Values{"csrf": {hidden(t, page, "csrf")},
				"user": {alice}, "password": {"pw-" + alice}, "next": {"//evil.example/x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "/" {
				t.Fatalf("redirected to %q", loc)
			}
		})
	})
}

func TestAuthorisationPerBot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, carol) // taxi's owner
		if status, page := c.get(t, "/b/taxi/"); status != 200 || !strings.Contains(page, "Rider") {
			t.Fatalf("own bot: %d %s", status, page)
		}
		for _, path := range []string{"/b/pizza/", convPath("pizza", room), "/b/pizza/live", "/b/nosuch/"} {
			if status, page := c.get(t, path); status != http.StatusNotFound || strings.Contains(page, "hello, is anyone") {
				t.Errorf("GET %s: %d", path, status)
			}
		}
		for _, act := range []string{"take", "handback", "close", "reply"} {
			form := url.Values{"csrf": {csrf}, "text": {"hi"}, "token": {strings.Repeat("x", 40)}}
			if status, _ := c.post(t, convPath("pizza", room)+"/"+act, form); status != http.StatusNotFound {
				t.Errorf("POST %s on another business's bot: %d, want 404", act, status)
			}
		}
		// A room of another bot, reached through one's own bot.
		if status, _ := c.get(t, convPath("taxi", room)); status != http.StatusNotFound {
			t.Errorf("pizza's room through taxi: %d", status)
		}
		if n := count(t, db, `SELECT count(*) FROM outbox`); n != 0 {
			t.Fatalf("%d messages queued by refused requests", n)
		}
		// An agent of pizza sees pizza, not taxi.
		b, _ := e.signIn(t, bob)
		if status, _ := b.get(t, "/b/pizza/"); status != 200 {
			t.Fatalf("agent on own bot: %d", status)
		}
		if status, _ := b.get(t, "/b/taxi/"); status != http.StatusNotFound {
			t.Fatalf("agent on another bot: %d", status)
		}
	})
}

func TestFormsNeedTheSessionToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, alice)
		for _, act := range []string{"take", "close"} {
			if status, _ := c.post(t, convPath("pizza", room)+"/"+act, url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
				t.Errorf("%s without the token: %d, want 403", act, status)
			}
		}
		// The right token from another site's page.
		req, _ := http.NewRequest(http.MethodPost, e.url+convPath("pizza", room)+"/take", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin post: %d, want 403", resp.StatusCode)
		}
		if n := count(t, db, `SELECT count(*) FROM console_rooms`); n != 0 {
			t.Fatal("a refused form changed a conversation")
		}
	})
}

func TestTakeOverReplyHandBackClose(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, bob)

		_, inbox := c.get(t, "/b/pizza/")
		for _, want := range []string{"Cust", "hello, is anyone there?", "Bot", "1 waiting"} {
			if !strings.Contains(inbox, want) {
				t.Fatalf("inbox lacks %q:\n%s", want, inbox)
			}
		}
		// Reply before taking over: refused, nothing sent.
		_, page := c.get(t, convPath("pizza", room))
		if strings.Contains(page, `name="token"`) {
			t.Fatal("reply form shown while the bot has the conversation")
		}
		if status, _ := c.post(t, convPath("pizza", room)+"/reply", url.Values{"csrf": {csrf}, "text": {"hi"}, "token": {strings.Repeat("t", 40)}}); status != http.StatusConflict {
			t.Fatalf("reply without taking over: %d", status)
		}

		for range 2 { // a double click says it once
			if status, page := c.post(t, convPath("pizza", room)+"/take", url.Values{"csrf": {csrf}}); status != 200 || !strings.Contains(page, "Waiting for a person") {
				t.Fatalf("take over: %d %s", status, page)
			}
		}
		if v, err := db.ViewRoom(context.Background(), room, ""); err != nil || !v.Held[pizza] {
			t.Fatalf("held %v, err %v", v.Held, err)
		}
		_, page = c.get(t, convPath("pizza", room))
		token := hidden(t, page, "token")
		form := url.Values{"csrf": {csrf}, "token": {token}, "text": {"Yes! Your pizza leaves in 5 minutes."}}
		if status, page := c.post(t, convPath("pizza", room)+"/reply", form); status != 200 || !strings.Contains(page, "Your pizza leaves") || !strings.Contains(page, "With an agent") {
			t.Fatalf("reply: %d %s", status, page)
		}
		if _, page := c.post(t, convPath("pizza", room)+"/reply", form); !strings.Contains(page, "already sent") {
			t.Fatalf("resubmitted reply: %s", page)
		}
		c.post(t, convPath("pizza", room)+"/handback", url.Values{"csrf": {csrf}})
		c.post(t, convPath("pizza", room)+"/close", url.Values{"csrf": {csrf}})

		want := []string{
			"m.notice|A person from Pizza Place is answering you now.",
			"m.text|Yes! Your pizza leaves in 5 minutes.",
			"m.notice|You are back with the Pizza Place bot.",
			"m.notice|This conversation was closed by Pizza Place. Write any time to start again.",
		}
		if got := outbox(t, db, room); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("sent to the customer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if v, _ := db.ViewRoom(context.Background(), room, ""); v.Held[pizza] {
			t.Fatal("still held after closing")
		}
		if _, page := c.get(t, "/b/pizza/"); !strings.Contains(page, "Closed") {
			t.Fatalf("inbox after close:\n%s", page)
		}
		// The customer writes again: the bot has it.
		e.say(t, room, cust, "one more thing")
		if _, page := c.get(t, "/b/pizza/"); strings.Contains(page, ">Closed<") || !strings.Contains(page, "one more thing") {
			t.Fatalf("inbox after a new message:\n%s", page)
		}
	})
}

func TestReplyInputIsChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, alice)
		token := c.takeOver(t, csrf)
		for name, tc := range map[string]struct {
			text, token string
			status      int
		}{
			"empty":    {"  ", token, http.StatusBadRequest},
			"too long": {strings.Repeat("a", 4001), token, http.StatusBadRequest},
			"no token": {"hi", "", http.StatusBadRequest},
		} {
			if status, _ := c.post(t, convPath("pizza", room)+"/reply", url.Values{"csrf": {csrf}, "token": {tc.token}, "text": {tc.text}}); status != tc.status {
				t.Errorf("%s: %d, want %d", name, status, tc.status)
			}
		}
		// Markup from a customer is shown as text.
		e.say(t, room, cust, `<script>alert(1)</script>`)
		if _, page := c.get(t, convPath("pizza", room)); strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;") {
			t.Fatal("a customer's markup was not escaped")
		}
		if n := len(outbox(t, db, room)); n != 1 { // the take-over notice only
			t.Fatalf("%d messages queued", n)
		}
	})
}

func TestLiveStreamSaysWhenSomethingChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, _ := e.signIn(t, alice)
		// As the page's script does: the stream named in the page,
		// starting from the version the page shows.
		_, page := c.get(t, "/b/pizza/")
		m := regexp.MustCompile(`data-live="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no live stream in the page:\n%s", page)
		}
		live := strings.ReplaceAll(m[1], "&amp;", "&")
		// A change while the page loads, before the stream opens.
		e.conversation(t, pizza, "!new:example.org", "@new:example.org", "Newcomer", "first!")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+live, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		var got strings.Builder
		buf := make([]byte, 256)
		waitChanges := func(n int) {
			t.Helper()
			for strings.Count(got.String(), "event: change") < n {
				k, err := resp.Body.Read(buf)
				if err != nil {
					t.Fatalf("stream ended before change event %d: %v (read %q)", n, err, got.String())
				}
				got.Write(buf[:k])
			}
		}
		waitChanges(1) // the change made while the page loaded
		if !strings.HasPrefix(got.String(), "retry:") {
			t.Fatalf("stream starts %q, want the retry hint", got.String())
		}
		e.say(t, "!new:example.org", "@new:example.org", "second!")
		waitChanges(2) // a change while the stream is open
	})
}

// After "forget me", the console shows nothing the customer wrote or was
// told.
func TestForgottenCustomerIsGoneFromTheConsole(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db)
		c, csrf := e.signIn(t, alice)
		token := c.takeOver(t, csrf)
		c.post(t, convPath("pizza", room)+"/reply", url.Values{"csrf": {csrf}, "token": {token}, "text": {"Your order 77 is on its way"}})
		err := db.Tx(context.Background(), func(tx store.Tx) error {
			return store.ForgetCustomer(context.Background(), tx, pizza, cust, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/b/pizza/", convPath("pizza", room)} {
			_, page := c.get(t, path)
			for _, secret := range []string{"hello, is anyone there?", "Your order 77", cust, "Cust<"} {
				if strings.Contains(page, secret) {
					t.Errorf("%s still shows %q after forget me", path, secret)
				}
			}
		}
	})
}

func count(t testing.TB, db *store.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// outbox lists "msgtype|body" of what was queued for room, in order.
func outbox(t testing.TB, db *store.DB, room string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT bot_user_id, content FROM outbox WHERE room_id = $1 ORDER BY id`, room)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var bot, raw string
		if err := rows.Scan(&bot, &raw); err != nil {
			t.Fatal(err)
		}
		if bot != pizza {
			t.Fatalf("sent as %s, not as the bot", bot)
		}
		var c map[string]string
		_ = json.Unmarshal([]byte(raw), &c)
		out = append(out, c["msgtype"]+"|"+c["body"])
	}
	return out
}
