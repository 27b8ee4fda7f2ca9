package sendapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// withHomeserver makes the API open direct chats on a fake homeserver.
func withHomeserver(t *testing.T, encrypted bool) (*fakehs.HS, func(*sendapi.Server)) {
	hs := fakehs.New("as-token")
	t.Cleanup(hs.Close)
	cli, err := hsclient.New(hs.URL(), "as-token", 4, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return hs, func(s *sendapi.Server) { s.Rooms, s.EncryptDMs = cli, encrypted }
}

func outboxRooms(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT room_id FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// A customer who left the bot's direct chat gets a new one with the
// message in it; later messages go to that room, even before they join.
func TestSendOpensADirectChat(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs, tune := withHomeserver(t, true)
		a := newAPI(t, db, tune)
		if err := store.SetMember(ctx, db, dm, alice.String(), "leave", "Alice"); err != nil {
			t.Fatal(err)
		}
		first := a.do("POST", messagesPath(shopBot), a.token, "back-in-stock", map[string]any{"to": alice, "text": "Margherita is back"})
		expect(t, first, 202, "")
		created := hs.CreatedRooms()
		if len(created) != 1 {
			t.Fatalf("%d rooms created, want 1", len(created))
		}
		c := created[0]
		req := c.Request
		invite, _ := req["invite"].([]any)
		if c.User != shopBot.String() || req["is_direct"] != true || req["preset"] != "trusted_private_chat" || len(invite) != 1 || invite[0] != alice.String() {
			t.Fatalf("createRoom as %s: %v", c.User, req)
		}
		state, _ := req["initial_state"].([]any)
		if len(state) != 1 || state[0].(map[string]any)["type"] != "m.room.encryption" {
			t.Fatalf("encryption on, initial_state %v", state)
		}
		// The same key: the first answer, no new room, no new message.
		again := a.do("POST", messagesPath(shopBot), a.token, "back-in-stock", map[string]any{"to": alice, "text": "Margherita is back"})
		if again.raw != first.raw {
			t.Fatalf("retry answered %s, first %s", again.raw, first.raw)
		}
		// Another message before Alice joins: the same room.
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "And quattro formaggi"}), 202, "")
		if got := outboxRooms(t, db); len(got) != 2 || got[0] != c.ID || got[1] != c.ID || len(hs.CreatedRooms()) != 1 {
			t.Fatalf("messages to %v, %d rooms created; want both in %s", got, len(hs.CreatedRooms()), c.ID)
		}
		// Alice joins (her join event arrives): the room is her direct chat.
		if err := store.SetMember(ctx, db, c.ID, alice.String(), "join", "Alice"); err != nil {
			t.Fatal(err)
		}
		if room, err := store.DirectRoom(ctx, db, shopBot.String(), alice.String()); err != nil || room != c.ID {
			t.Fatalf("direct room %q, %v; want %s", room, err, c.ID)
		}
		// Stop still holds, and so does no cold messages.
		if err := store.UpdateCustomerFacts(ctx, db, shopBot.String(), alice.String(), nil, map[string]bool{sendapi.ConsentMessages: false}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, c.ID, alice.String(), "leave", "Alice"); err != nil {
			t.Fatal(err)
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "text": "Sale!"}), 403, "M_FORBIDDEN")
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": bob, "text": "Sale!"}), 403, "M_FORBIDDEN")
		if n := len(hs.CreatedRooms()); n != 1 {
			t.Fatalf("%d rooms created for customers who must not get messages", n)
		}
	})
}

// bizbots loses the homeserver's answer to createRoom (or dies right
// after it): retries do not open a second room; the room is used once
// the homeserver's events of it arrive.
func TestOpeningADirectChatIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs, tune := withHomeserver(t, false)
		a := newAPI(t, db, tune)
		if err := store.SetMember(ctx, db, dm, alice.String(), "leave", "Alice"); err != nil {
			t.Fatal(err)
		}
		hs.SetOnCreateRoom(func(string) *fakehs.Failure { return &fakehs.Failure{LoseResponse: true} })
		body := map[string]any{"to": alice, "text": "Your table is ready"}
		r := a.do("POST", messagesPath(shopBot), a.token, "table", body)
		expect(t, r, 503, "BB_OPENING_CHAT")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		hs.SetOnCreateRoom(nil)
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "table", body), 503, "BB_OPENING_CHAT")
		created := hs.CreatedRooms()
		if len(created) != 1 || a.outboxRows() != 0 {
			t.Fatalf("%d rooms, %d messages while the first room's fate is unknown", len(created), a.outboxRows())
		}
		if state := created[0].Request["initial_state"]; state != nil {
			t.Fatalf("encryption off, initial_state %v", state)
		}
		// The homeserver's events of the new room arrive.
		if err := store.SetBotMembership(ctx, db, shopBot.String(), created[0].ID, "join", false, ""); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMember(ctx, db, created[0].ID, alice.String(), "invite", ""); err != nil {
			t.Fatal(err)
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "table", body), 202, "")
		if got := outboxRooms(t, db); len(got) != 1 || got[0] != created[0].ID || len(hs.CreatedRooms()) != 1 {
			t.Fatalf("messages to %v, %d rooms", got, len(hs.CreatedRooms()))
		}
	})
}

// A claim left by a process that died goes stale; a homeserver that
// refuses answers 502 and a retry tries again.
func TestOpeningADirectChatRecovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		hs, tune := withHomeserver(t, false)
		a := newAPI(t, db, tune)
		if err := store.SetMember(ctx, db, dm, alice.String(), "leave", "Alice"); err != nil {
			t.Fatal(err)
		}
		stale := time.Now().Add(-sendapi.OpeningTimeout - time.Second).UnixMilli()
		if _, err := db.Exec(`INSERT INTO sendapi_dm_openings (bot_user_id, user_id, started_at) VALUES ($1, $2, $3)`, shopBot.String(), alice.String(), stale); err != nil {
			t.Fatal(err)
		}
		hs.SetOnCreateRoom(func(string) *fakehs.Failure {
			return &fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN", Error: "invites to this user are blocked"}
		})
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "k", map[string]any{"to": alice, "text": "hi"}), 502, "BB_HOMESERVER")
		hs.SetOnCreateRoom(nil)
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "k", map[string]any{"to": alice, "text": "hi"}), 202, "")
		if n := len(hs.CreatedRooms()); n != 1 {
			t.Fatalf("%d rooms created, want 1", n)
		}
		var left int
		_ = db.QueryRow(`SELECT count(*) FROM sendapi_dm_openings`).Scan(&left)
		if left != 0 {
			t.Fatalf("%d opening claims left after the room was recorded", left)
		}
	})
}
