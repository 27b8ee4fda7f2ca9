package sender_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/sender"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// sendOnly hides FindSent: a transport that can only trust the txn id.
type sendOnly struct{ c *hsclient.Client }

func (s sendOnly) Send(ctx context.Context, bot id.UserID, room id.RoomID, typ, txn string, content json.RawMessage) (id.EventID, error) {
	return s.c.Send(ctx, bot, room, typ, txn, content)
}

// A homeserver that stores an event but forgets its txn id when the
// request is cut off (Dendrite v0.13.8 does) would show a resend twice.
// The sender must find the first delivery by its marker instead.
func TestLostResponseIsNotResentTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name      string
			findSent  bool
			wantSends int
		}{
			{"with FindSent", true, 1},
			{"txn id only (control)", false, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				hs := fakehs.New("as_token_0123456789abcdef0123456789abcdef")
				defer hs.Close()
				hs.ForgetLostTxns = true
				room := "!lost-" + tc.name[:4] + ":example.org"
				hs.OnSend = func(user, r, txn string, attempt int) *fakehs.Failure {
					if r == room && attempt == 1 {
						return &fakehs.Failure{LoseResponse: true}
					}
					return nil
				}
				log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
				cli, err := hsclient.New(hs.URL(), hs.ASToken, 2, log)
				if err != nil {
					t.Fatal(err)
				}
				var tr sender.Transport = cli
				if !tc.findSent {
					tr = sendOnly{cli}
				}
				snd := sender.New(db, tr, sender.Options{Workers: 1, RetryBase: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, log)
				err = db.Tx(ctx, func(tx store.Tx) error {
					_, err := store.AppendOutbox(ctx, tx, []store.OutgoingEvent{{RoomID: room, BotUserID: "@pizza:example.org",
						Type: "m.room.message", Content: []byte(`{"msgtype":"m.text","body":"Your order is confirmed"}`), ParentIndex: -1}})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 50; i++ { // bounded: the retry is due within milliseconds
					if err := snd.Drain(ctx); err != nil {
						t.Fatal(err)
					}
					var status string
					if err := db.QueryRowContext(ctx, `SELECT status FROM outbox WHERE room_id = $1`, room).Scan(&status); err != nil {
						t.Fatal(err)
					}
					if status != "pending" {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				sends := hs.SendsTo(room)
				if len(sends) != tc.wantSends {
					t.Fatalf("homeserver stored %d events, want %d", len(sends), tc.wantSends)
				}
				var status, eventID string
				if err := db.QueryRowContext(ctx, `SELECT status, event_id FROM outbox WHERE room_id = $1`, room).Scan(&status, &eventID); err != nil {
					t.Fatal(err)
				}
				if status != "sent" || eventID != sends[len(sends)-1].EventID {
					t.Fatalf("row %s with %q; want sent with %q", status, eventID, sends[len(sends)-1].EventID)
				}
				var rowID int64
				if err := db.QueryRowContext(ctx, `SELECT id FROM outbox WHERE room_id = $1`, room).Scan(&rowID); err != nil {
					t.Fatal(err)
				}
				if got := sends[0].Content[hsclient.TxnMarkerKey]; got != db.MatrixTxnID(rowID) {
					t.Fatalf("event stamped %v, want its txn id %s", got, db.MatrixTxnID(rowID))
				}
			})
		}
	})
}
