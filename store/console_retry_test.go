package store_test

import (
	"context"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The console's retry button: an event waiting for a retry is due now
// with its attempts kept; a handled one (a delivery given up) is pending
// afresh; one already due, or another room's, is left alone.
func TestRetryEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, _, err := db.StoreTransaction(ctx, "t1", []store.IncomingEvent{
			{EventID: "$wait", RoomID: "!r:x", Sender: "@c:x", Type: "m.room.message", OriginTS: 1, JSON: []byte(`{}`)},
			{EventID: "$done", RoomID: "!r:x", Sender: "@c:x", Type: "m.room.message", OriginTS: 2, JSON: []byte(`{}`)},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE inbox SET attempts = 3, retry_at = 99999999999999, last_error = 'HTTP 503' WHERE event_id = '$wait'`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE inbox SET status = 'done', attempts = 1, handled_at = 5 WHERE event_id = '$done'`); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			room, ev string
			want     bool
		}{{"!other:x", "$wait", false}, {"!r:x", "$wait", true}, {"!r:x", "$wait", false}, {"!r:x", "$done", true}, {"!r:x", "$nope", false}} {
			if got, err := store.RetryEvent(ctx, db, c.room, c.ev); err != nil || got != c.want {
				t.Fatalf("RetryEvent(%s, %s) = %v, %v; want %v", c.room, c.ev, got, err, c.want)
			}
		}
		for ev, want := range map[string]int{"$wait": 3, "$done": 0} {
			var status, lastErr string
			var attempts int
			var retryAt int64
			if err := db.QueryRow(`SELECT status, attempts, retry_at, last_error FROM inbox WHERE event_id = $1`, ev).Scan(&status, &attempts, &retryAt, &lastErr); err != nil {
				t.Fatal(err)
			}
			if status != "pending" || attempts != want || retryAt != 0 || lastErr != "" {
				t.Fatalf("%s: %s, %d attempts, retry at %d, %q", ev, status, attempts, retryAt, lastErr)
			}
		}
	})
}
