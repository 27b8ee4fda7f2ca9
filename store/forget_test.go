package store_test

import (
	"context"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// TestForgetSearchesNamesOnlyWhereTheyMeanTheCustomer: a customer's
// display name is searched as a whole word, and only in the bot's staff
// rooms and its staff's history: forgetting "Ana" must not empty Bob's
// "banana bread" or delete Bob's history. On both engines.
func TestForgetSearchesNamesOnlyWhereTheyMeanTheCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const bot = "@pizza:x"
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, r := range []string{"!ana", "!bob", "!staff"} {
			exec(`INSERT INTO bot_rooms (bot_user_id, room_id, membership, updated_at) VALUES ($1, $2, 'join', 0)`, bot, r)
		}
		exec(`INSERT INTO room_members (room_id, user_id, membership, display_name, updated_at) VALUES
			('!ana', '@ana:x', 'join', 'Ana', 0), ('!bob', '@bob:x', 'join', 'Bob', 0), ('!staff', '@sam:x', 'join', 'Sam', 0)`)
		post := func(room, body string) {
			exec(`INSERT INTO outbox (room_id, bot_user_id, event_type, content, meta, status, created_at)
				VALUES ($1, $2, 'm.room.message', $3, '{"k":1}', 'sent', 0)`, room, bot, `{"body":"`+body+`"}`)
		}
		post("!ana", "Hi there")
		// Not sent yet (the homeserver is down): it must never go out.
		exec(`INSERT INTO outbox (room_id, bot_user_id, event_type, content, status, created_at)
			VALUES ('!ana', $1, 'm.room.message', '{"body":"Your order is on its way to 1 Ana Lane"}', 'pending', 0)`, bot)
		post("!bob", "We have banana bread")
		post("!staff", "Bananas are in")
		post("!staff", "Reply in its thread to answer Ana.")
		for _, h := range []struct{ user, text string }{{"@sam:x", "Hi Ana, on it"}, {"@bob:x", "I love banana"}, {"@bob:x", "Ana sent me"}} {
			if err := store.AddHistory(ctx, db, bot, h.user, "message", h.text, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		staff := func(room string) bool { return room == "!staff" }
		if err := store.ForgetCustomer(ctx, db, bot, "@ana:x", staff); err != nil {
			t.Fatal(err)
		}
		kept := func(q string, want int) {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil || n != want {
				t.Errorf("%s: %d (%v), want %d", q, n, err, want)
			}
		}
		kept(`SELECT count(*) FROM outbox WHERE content LIKE '%banana bread%' AND meta <> ''`, 1)
		kept(`SELECT count(*) FROM outbox WHERE content LIKE '%Bananas are in%'`, 1)
		kept(`SELECT count(*) FROM outbox WHERE content = '{}'`, 2) // Ana's chat, the staff note naming her
		kept(`SELECT count(*) FROM outbox WHERE status = 'pending'`, 0)
		kept(`SELECT count(*) FROM customer_history WHERE user_id = '@bob:x'`, 2)
		kept(`SELECT count(*) FROM customer_history WHERE user_id = '@sam:x'`, 0)
		for _, h := range storetest.Find(t, db, "@ana:x") {
			t.Errorf("left: %s", h)
		}
	})
}
