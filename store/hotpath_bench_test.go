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
