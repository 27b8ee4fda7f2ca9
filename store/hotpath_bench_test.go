package store_test

import (
	"context"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// benchEach runs a benchmark on a fresh database of each engine filled by
// fill (not timed).
func benchEach(b *testing.B, fill string, n int, fn func(b *testing.B, db *store.DB)) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.New(b, d)
			if _, err := db.ExecContext(context.Background(), fill, n); err != nil {
				b.Fatal(err)
			}
			if d == store.Postgres {
				_, _ = db.ExecContext(context.Background(), `ANALYZE`)
			}
			b.ResetTimer()
			fn(b, db)
		})
	}
}

const series = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) `

// BotsInRoom runs for every event; at 200 k rooms it was 30 ms without an
// index on bot_rooms.room_id.
func BenchmarkBotsInRoom200kRooms(b *testing.B) {
	fill := series + `INSERT INTO bot_rooms (bot_user_id, room_id, membership, updated_at)
		SELECT '@bot' || (i % 5) || ':x', '!room' || i || ':x', 'join', 1 FROM n`
	benchEach(b, fill, 200000, func(b *testing.B, db *store.DB) {
		for i := 0; b.Loop(); i++ {
			if _, err := db.BotsInRoom(context.Background(), "!room123456:x"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// PendingRooms runs at every poll; with a week of handled events in the
// inbox (63 k rows) it read them all (35 ms) to find the few pending.
func BenchmarkPendingRooms63kInbox(b *testing.B) {
	fill := series + `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at, status)
		SELECT '$e' || i, '!r' || (i % 500), '@a:x', 'm.room.message', 1, '{}', 't', 1,
			CASE WHEN i % 1000 = 0 THEN 'pending' ELSE 'done' END FROM n`
	benchEach(b, fill, 63000, func(b *testing.B, db *store.DB) {
		for b.Loop() {
			rooms, err := db.PendingRooms(context.Background(), store.QueueInbox, 100)
			if err != nil || len(rooms) == 0 {
				b.Fatal(rooms, err)
			}
		}
	})
}

// The statements the dispatcher runs for every message besides writing
// its outcome: the read before its handler runs (the room, with the
// sender's turn rows), the read of the room's next event, and the turn
// read alone (timers, invites), on 10 k rooms each with a bot, a
// customer, a customer record, a conversation state and pending events.
func BenchmarkMessageStatements10kRooms(b *testing.B) {
	fill := series + `INSERT INTO bot_rooms (bot_user_id, room_id, membership, is_direct, updated_at)
			SELECT '@bot:x', '!room' || i || ':x', 'join', true, 1 FROM n`
	benchEach(b, fill, 10000, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		room, user := "!room1234:x", "@c1234:x"
		if err := db.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, membership, display_name, updated_at)
				SELECT room_id, '@c' || substr(room_id, 6, length(room_id) - 7) || ':x', 'join', 'Customer', 1 FROM bot_rooms`); err != nil {
				return err
			}
			if err := store.TouchCustomer(ctx, tx, "@bot:x", user, "Customer", 1); err != nil {
				return err
			}
			return store.SaveState(ctx, tx, "@bot:x", room, user, store.StateRow{Step: "menu", State: []byte(`{"n":1}`)}, 1)
		}); err != nil {
			b.Fatal(err)
		}
		b.Run("room", func(b *testing.B) {
			for b.Loop() {
				if v, err := db.ViewRoom(ctx, room, user); err != nil || len(v.Bots) != 1 || v.Joined != 1 || v.Turns["@bot:x"].Customer == nil {
					b.Fatal(v, err)
				}
			}
		})
		b.Run("turn", func(b *testing.B) {
			for b.Loop() {
				if t, err := store.LoadTurn(ctx, db, "@bot:x", room, user); err != nil || t.Customer == nil || t.State == nil || t.MemberName != "Customer" {
					b.Fatal(t, err)
				}
			}
		})
		b.Run("next", func(b *testing.B) {
			if _, err := db.ExecContext(ctx, series+`INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at)
				SELECT '$e' || i, '!room' || (i % 10000) || ':x', '@c:x', 'm.room.message', 1, '{}', 't', 1 FROM n`, 50000); err != nil {
				b.Fatal(err)
			}
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Rollback()
			for b.Loop() {
				if ev, err := db.NextDueInboxEvent(ctx, tx, room, store.Now()); err != nil || ev == nil {
					b.Fatal(ev, err)
				}
			}
		})
	})
}
