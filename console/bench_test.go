package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// BenchmarkInboxPage renders a busy bot's inbox: 200 conversations (the
// page's cap) with 10 customer messages each, on SQLite and Postgres.
func BenchmarkInboxPage(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.New(b, d)
			e := start(b, db)
			for i := range 200 {
				r, u := fmt.Sprintf("!r%d:example.org", i), fmt.Sprintf("@c%d:example.org", i)
				e.conversation(b, pizza, r, u, fmt.Sprintf("Customer %d", i), "hello")
				for j := range 9 {
					e.say(b, r, u, fmt.Sprintf("message %d", j))
				}
			}
			c, _ := e.signIn(b, alice)
			b.ResetTimer()
			for b.Loop() {
				if status, _ := c.get(b, "/b/pizza/"); status != 200 {
					b.Fatalf("status %d", status)
				}
			}
		})
	}
}

// BenchmarkOrdersBoard renders a shop's board for today: 200 orders today
// among 20,000 of earlier days, on SQLite and Postgres.
func BenchmarkOrdersBoard(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.New(b, d)
			e, _ := startShop(b, db)
			ctx := context.Background()
			err := db.Tx(ctx, func(tx store.Tx) error {
				day := time.Now().Add(-48 * time.Hour).UnixMilli()
				for i := range 20200 {
					at := day - int64(i)*60_000 // one a minute, back from two days ago
					if i >= 20000 {
						at = time.Now().UnixMilli()
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO ordering_orders (bot_user_id, number, customer_id, status,
							fulfilment, currency, items, total, created_at, updated_at)
						VALUES ($1, $2, $3, 'received', 'pickup', 'EUR', '[{"item":"cola","name":"Cola","qty":1,"price":300}]', 300, $4, $4)`,
						pizza, 2000+i, cust, at); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
				b.Fatal(err)
			}
			c, _ := e.signIn(b, alice)
			b.ResetTimer()
			for b.Loop() {
				if status, page := c.get(b, "/b/pizza/orders"); status != 200 || !strings.Contains(page, "201 orders") {
					b.Fatalf("status %d", status)
				}
			}
		})
	}
}
