package console_test

import (
	"fmt"
	"testing"

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
