package console_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// startShop runs the console with a running ordering bot behind the
// pizza bot, and one order of the customer's placed now.
func startShop(t testing.TB, db *store.DB) (*env, *ordering.Bot) {
	t.Helper()
	shop, err := ordering.New(ordering.Config{Shop: "Pizza Place"}, db)
	if err != nil {
		t.Fatal(err)
	}
	disp := dispatcher.New(db, []*dispatcher.Bot{{UserID: pizza, Handler: shop}}, "@bizbots:example.org", nil,
		dispatcher.Options{}, zerolog.New(zerolog.NewTestWriter(t)))
	e := start(t, db, func(o *console.Options) { o.Bots = disp })
	now := time.Now().UnixMilli()
	if _, err := db.ExecContext(context.Background(), `INSERT INTO ordering_orders (bot_user_id, number, customer_id, status,
			fulfilment, currency, items, total, created_at, updated_at)
		VALUES ($1, 1001, $2, 'received', 'pickup', 'EUR', '[{"item":"margherita","size":"large","name":"Margherita (Large 35 cm)","qty":2,"price":1250}]', 2500, $3, $3)`,
		pizza, cust, now); err != nil {
		t.Fatal(err)
	}
	return e, shop
}

// sentTo lists the bodies of the messages queued for room.
func sentTo(t *testing.T, db *store.DB, room string) []string {
	t.Helper()
	return storetest.OutboxContents(t, db, room)
}

func countIn(list []string, part string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

// consent sets a customer's consent flags, as their "subscribe" or "stop"
// would.
func consent(t *testing.T, db *store.DB, user string, flags map[string]bool) {
	t.Helper()
	ctx := context.Background()
	err := db.Tx(ctx, func(tx store.Tx) error {
		if err := store.TouchCustomer(ctx, tx, pizza, user, "", store.Now()); err != nil {
			return err
		}
		return store.UpdateCustomerFacts(ctx, tx, pizza, user, nil, flags)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// serve runs the console's Serve (which owns the broadcast loop) until
// the test ends.
func (e *env) serve(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
}

func TestOrdersBoardMovesAnOrderOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _ := startShop(t, db)
		const ready = "Your order 1001 is ready for pickup at Pizza Place."
		// Agents work the board too.
		c, csrf := e.signIn(t, bob)
		status, page := c.get(t, "/b/pizza/orders")
		if status != 200 || !strings.Contains(page, "Order 1001") || !strings.Contains(page, "2 × Margherita (Large 35 cm)") {
			t.Fatalf("board: %d\n%s", status, page)
		}
		token := hidden(t, page, "token")
		move := url.Values{"csrf": {csrf}, "token": {token}, "order": {"1001"}, "to": {"ready"}}
		status, page = c.post(t, "/b/pizza/orders/move", move)
		if status != 200 || !strings.Contains(page, "Order moved") {
			t.Fatalf("move: %d\n%s", status, page)
		}
		if n := countIn(sentTo(t, db, room), ready); n != 1 {
			t.Fatalf("the customer was told %d times: %q", n, sentTo(t, db, room))
		}
		t.Run("a retried POST sends nothing more", func(t *testing.T) {
			status, page := c.post(t, "/b/pizza/orders/move", move)
			if status != 200 || !strings.Contains(page, "already made") {
				t.Fatalf("again: %d\n%s", status, page)
			}
			if n := countIn(sentTo(t, db, room), ready); n != 1 {
				t.Fatalf("the customer was told %d times", n)
			}
		})
		t.Run("a move from an older page is refused with the service's reason", func(t *testing.T) {
			old := url.Values{"csrf": {csrf}, "token": {"an-older-page-token-0123456789"}, "order": {"1001"}, "to": {"ready"}}
			status, page := c.post(t, "/b/pizza/orders/move", old)
			if status != http.StatusConflict || !strings.Contains(page, "Order 1001 is already ready") {
				t.Fatalf("%d\n%s", status, page)
			}
			if n := countIn(sentTo(t, db, room), ready); n != 1 {
				t.Fatalf("the customer was told %d times", n)
			}
		})
		t.Run("the board shows the order under its new status", func(t *testing.T) {
			_, page := c.get(t, "/b/pizza/orders")
			col := page[strings.Index(page, `id="col-ready"`):]
			col = col[:strings.Index(col, "</section>")]
			if !strings.Contains(col, "Order 1001") {
				t.Fatalf("not in Ready:\n%s", page)
			}
		})
		t.Run("another day has no orders", func(t *testing.T) {
			_, page := c.get(t, "/b/pizza/orders?day=2020-01-01")
			if strings.Contains(page, "Order 1001") || !strings.Contains(page, "0 orders") {
				t.Fatalf("%s", page)
			}
			if status, _ := c.get(t, "/b/pizza/orders?day=yesterday"); status != http.StatusBadRequest {
				t.Fatalf("a bad day: %d", status)
			}
		})
		t.Run("another business's staff cannot see or move it", func(t *testing.T) {
			o, ocsrf := e.signIn(t, carol)
			if status, page := o.get(t, "/b/pizza/orders"); status != http.StatusNotFound || strings.Contains(page, "1001") {
				t.Fatalf("%d", status)
			}
			status, _ := o.post(t, "/b/pizza/orders/move", url.Values{"csrf": {ocsrf}, "token": {"0123456789abcdef0123456789"},
				"order": {"1001"}, "to": {"delivered"}})
			if status != http.StatusNotFound {
				t.Fatalf("move: %d", status)
			}
		})
	})
}

func TestSettingsChangeTheRunningBot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, shop := startShop(t, db)
		const price = "item.margherita.size.large.price"
		field := "s-item-margherita-size-large-price"
		t.Run("agents may not", func(t *testing.T) {
			c, csrf := e.signIn(t, bob)
			if status, _ := c.get(t, "/b/pizza/settings"); status != http.StatusForbidden {
				t.Fatalf("GET: %d", status)
			}
			if status, _ := c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, field: {"1.00"}}); status != http.StatusForbidden {
				t.Fatalf("POST: %d", status)
			}
		})
		c, csrf := e.signIn(t, alice)
		status, page := c.get(t, "/b/pizza/settings")
		if status != 200 || !strings.Contains(page, `value="12.50"`) {
			t.Fatalf("%d\n%s", status, page)
		}
		t.Run("a wrong price is refused, nothing changes", func(t *testing.T) {
			status, page := c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, field: {"twelve"}, "s-item-cola-name": {" "}})
			if status != http.StatusBadRequest || !strings.Contains(page, "is not a price") || !strings.Contains(page, "An item needs a name.") {
				t.Fatalf("%d\n%s", status, page)
			}
			if p, _ := shop.Catalog(context.Background()).Item("margherita").PriceOf("large"); p != 1250 {
				t.Fatalf("price %d", p)
			}
		})
		status, page = c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, field: {"13,5"}, "s-item-calzone-sold-out": {}})
		if status != 200 || !strings.Contains(page, "Saved") {
			t.Fatalf("%d\n%s", status, page)
		}
		if p, _ := shop.Catalog(context.Background()).Item("margherita").PriceOf("large"); p != 1350 {
			t.Fatalf("the running bot's price is %d, want 1350", p)
		}
		stored, err := store.BotSettings(context.Background(), db, pizza)
		if err != nil || stored[price] != "13.50" {
			t.Fatalf("stored %v %v", stored, err)
		}
		if !strings.Contains(page, "12.50</td><td>13.50") || !strings.Contains(page, alice) {
			t.Fatalf("the change is not in the audit:\n%s", page)
		}
		t.Run("an override of an item that is gone does not block saving", func(t *testing.T) {
			if err := store.SetBotSetting(context.Background(), db, pizza, "item.gone.price", "1.00", alice); err != nil {
				t.Fatal(err)
			}
			if status, page := c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, "s-item-cola-price": {"3.20"}}); status != 200 || !strings.Contains(page, "Saved") {
				t.Fatalf("%d\n%s", status, page)
			}
			stored, _ := store.BotSettings(context.Background(), db, pizza)
			if _, ok := stored["item.gone.price"]; ok || stored["item.cola.price"] != "3.20" {
				t.Fatalf("stored %v", stored)
			}
		})
		t.Run("the default again removes the override", func(t *testing.T) {
			c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, field: {"12.50"}})
			stored, _ := store.BotSettings(context.Background(), db, pizza)
			if _, ok := stored[price]; ok {
				t.Fatalf("still overridden: %v", stored)
			}
		})
	})
}

func TestBroadcastReachesSubscribersOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _ := startShop(t, db)
		ctx := context.Background()
		// cust subscribed; noel never did; sam subscribed and said stop.
		e.conversation(t, pizza, "!noel:example.org", "@noel:example.org", "Noel", "hi")
		e.conversation(t, pizza, "!sam:example.org", "@sam:example.org", "Sam", "hi")
		consent(t, db, cust, map[string]bool{"broadcasts": true})
		consent(t, db, "@noel:example.org", nil)
		consent(t, db, "@sam:example.org", map[string]bool{"broadcasts": false, "messages": false})
		e.serve(t)

		if c, _ := e.signIn(t, bob); true {
			if status, _ := c.get(t, "/b/pizza/broadcast"); status != http.StatusForbidden {
				t.Fatalf("an agent: %d", status)
			}
		}
		c, csrf := e.signIn(t, alice)
		const text = "Two pizzas for one on Tuesday!"
		status, page := c.post(t, "/b/pizza/broadcast/preview", url.Values{"csrf": {csrf}, "text": {text}})
		if status != 200 || !strings.Contains(page, `id="recipients">1 customer<`) || !strings.Contains(page, text) {
			t.Fatalf("preview: %d\n%s", status, page)
		}
		confirm := url.Values{"csrf": {csrf}, "token": {hidden(t, page, "token")}, "text": {text}}
		if status, page := c.post(t, "/b/pizza/broadcast/send", confirm); status != 200 || !strings.Contains(page, "Broadcast confirmed") {
			t.Fatalf("send: %d\n%s", status, page)
		}
		if status, page := c.post(t, "/b/pizza/broadcast/send", confirm); status != 200 || !strings.Contains(page, "already confirmed") {
			t.Fatalf("send again: %d\n%s", status, page)
		}
		deadline := time.Now().Add(20 * time.Second)
		for countIn(sentTo(t, db, room), text) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the subscriber never got the broadcast")
			}
			time.Sleep(20 * time.Millisecond) // polling the loop's result; bounded
		}
		bs, err := store.Broadcasts(ctx, db, pizza, 5)
		if err != nil || len(bs) != 1 || !bs[0].Done() || bs[0].Sent != 1 {
			t.Fatalf("broadcasts %+v %v", bs, err)
		}
		for _, r := range []string{room, "!noel:example.org", "!sam:example.org"} {
			want := 0
			if r == room {
				want = 1
			}
			if n := countIn(sentTo(t, db, r), text); n != want {
				t.Errorf("%s got the broadcast %d times, want %d", r, n, want)
			}
		}
		if _, page := c.get(t, "/b/pizza/broadcast"); !strings.Contains(page, "1 of 1 sent") {
			t.Fatalf("progress:\n%s", page)
		}
	})
}

// A broadcast is queued at console.broadcast_rate (2 a second by default),
// not all at once.
func TestBroadcastIsPolite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _ := startShop(t, db)
		ctx := context.Background()
		const n = 4
		for i := range n {
			user, r := fmt.Sprintf("@sub%d:example.org", i), fmt.Sprintf("!sub%d:example.org", i)
			e.conversation(t, pizza, r, user, "Sub", "hi")
			consent(t, db, user, map[string]bool{"broadcasts": true})
		}
		e.serve(t)
		c, csrf := e.signIn(t, alice)
		_, page := c.post(t, "/b/pizza/broadcast/preview", url.Values{"csrf": {csrf}, "text": {"News!"}})
		c.post(t, "/b/pizza/broadcast/send", url.Values{"csrf": {csrf}, "token": {hidden(t, page, "token")}, "text": {"News!"}})
		var first, last int64
		deadline := time.Now().Add(30 * time.Second)
		for {
			var queued int
			if err := db.QueryRowContext(ctx, `SELECT count(*), COALESCE(min(created_at), 0), COALESCE(max(created_at), 0)
				FROM outbox WHERE content LIKE '%News!%'`).Scan(&queued, &first, &last); err != nil {
				t.Fatal(err)
			}
			if queued == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d queued", queued, n)
			}
			time.Sleep(50 * time.Millisecond) // polling the loop's result; bounded
		}
		span := time.Duration(last-first) * time.Millisecond
		t.Logf("%d messages queued over %s at 2 a second", n, span)
		if min := time.Duration(n-1) * 500 * time.Millisecond * 9 / 10; span < min {
			t.Fatalf("%d messages queued within %s; at 2 a second it takes at least %s", n, span, min)
		}
	})
}

// A save tells the other bizbots processes on the same Postgres database
// which bot's settings changed, so they apply them at once.
func TestSettingsSaveNotifiesOtherProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbs := storetest.Processes(t, 2)
	a, b := dbs[0], dbs[1]
	e, _ := startShop(t, a)
	heard := make(chan []string, 10)
	go b.Listen(ctx, store.ChannelSettings, func(bots []string) { heard <- bots }, zerolog.Nop())
	c, csrf := e.signIn(t, alice)
	// The listener needs a moment to connect: change the price until B
	// hears of it (each save is a change: the price alternates).
	prices := []string{"13.50", "14.50"}
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("no notification of the save reached another process")
		}
		status, page := c.post(t, "/b/pizza/settings", url.Values{"csrf": {csrf}, "s-item-margherita-size-large-price": {prices[i%2]}})
		if status != 200 || !strings.Contains(page, "Saved") {
			t.Fatalf("%d\n%s", status, page)
		}
		select {
		case got := <-heard:
			if len(got) != 1 || got[0] != pizza {
				t.Fatalf("heard %q, want the bot %s", got, pizza)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
