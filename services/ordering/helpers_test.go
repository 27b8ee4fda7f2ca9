package ordering_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

type dialectURI struct{ name, uri string }

// dialectURIs are fresh databases of both engines, for the tests where
// storage semantics matter.
func dialectURIs(t *testing.T) []dialectURI {
	return []dialectURI{{"sqlite", ""}, {"postgres", storetest.URI(t, store.Postgres)}}
}

const (
	bot       = id.UserID("@pizza:test")
	staffRoom = id.RoomID("!kitchen:test")
	chef      = id.UserID("@chef:test")
)

// harness is a bot under test, its handlertest harness and its database.
type harness struct {
	*handlertest.Harness
	t   *testing.T
	Bot *ordering.Bot
}

type setup struct {
	cfg   ordering.Config
	uri   string
	start time.Time
	// noStaff leaves the staff room out.
	noStaff bool
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	if s.uri == "" {
		s.uri = "sqlite:" + filepath.Join(t.TempDir(), "ordering.db")
	}
	if !s.noStaff && s.cfg.StaffRoom == "" {
		s.cfg.StaffRoom = staffRoom.String()
	}
	if s.cfg.Shop == "" {
		s.cfg.Shop = "Pizza Place"
	}
	ctx := context.Background()
	db, err := store.Open(ctx, s.uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := ordering.New(s.cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	h := handlertest.New(t, b, handlertest.Options{Bot: bot, URI: s.uri, Start: s.start})
	return &harness{Harness: h, t: t, Bot: b}
}

func (h *harness) as(user id.UserID, name string) *harness {
	return &harness{Harness: h.Harness.As(user, name), t: h.t, Bot: h.Bot}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *harness) event(room id.RoomID, sender id.UserID, typ string, content map[string]any) map[string]any {
	return map[string]any{"event_id": "$t" + randomID(), "room_id": room.String(), "sender": sender.String(),
		"type": typ, "origin_server_ts": h.Clock.Now().UnixMilli(), "content": content}
}

func (h *harness) member(room id.RoomID, user id.UserID, membership string, extra map[string]any) map[string]any {
	content := map[string]any{"membership": membership}
	for k, v := range extra {
		content[k] = v
	}
	ev := h.event(room, user, "m.room.member", content)
	ev["state_key"] = user.String()
	return ev
}

// powerLevels is the room's m.room.power_levels event giving users their
// levels (everyone else 0).
func (h *harness) powerLevels(room id.RoomID, users map[id.UserID]int) map[string]any {
	levels := map[string]any{}
	for u, l := range users {
		levels[u.String()] = l
	}
	ev := h.event(room, chef, "m.room.power_levels", map[string]any{"users": levels})
	ev["state_key"] = ""
	return ev
}

// openStaffRoom has two members (the chef a moderator, the rider not)
// invite the bot into the staff room and returns what the bot said there.
func (h *harness) openStaffRoom() []handlertest.Reply {
	h.t.Helper()
	invite := h.member(staffRoom, bot, "invite", nil)
	invite["sender"] = chef.String()
	r, err := h.Session.Inject(context.Background(),
		h.member(staffRoom, chef, "join", map[string]any{"displayname": "Chef"}),
		h.member(staffRoom, "@rider:test", "join", map[string]any{"displayname": "Rider"}),
		h.powerLevels(staffRoom, map[id.UserID]int{chef: 50}),
		invite)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// staff says text in the staff room as the chef.
func (h *harness) staff(text string) []handlertest.Reply {
	h.t.Helper()
	return h.staffAs(chef, text)
}

// staffAs says text in the staff room as user.
func (h *harness) staffAs(user id.UserID, text string) []handlertest.Reply {
	h.t.Helper()
	h.Clock.Advance(pause)
	r, err := h.Session.Inject(context.Background(), h.event(staffRoom, user, "m.room.message",
		map[string]any{"msgtype": "m.text", "body": text}))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// in keeps the replies that went to room.
func in(room id.RoomID, rs []handlertest.Reply) string {
	var out []string
	for _, r := range rs {
		if r.Room == room {
			out = append(out, r.Body)
		}
	}
	return strings.Join(out, "\n")
}

// notIn keeps the replies that did not go to room.
func notIn(room id.RoomID, rs []handlertest.Reply) string {
	var out []string
	for _, r := range rs {
		if r.Room != room {
			out = append(out, r.Body)
		}
	}
	return strings.Join(out, "\n")
}

// expect fails unless text contains every want.
func expect(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%s: want %q in:\n%s", what, w, text)
		}
	}
}

// reject fails if text contains any of bad.
func reject(t *testing.T, what, text string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(text, b) {
			t.Fatalf("%s: did not want %q in:\n%s", what, b, text)
		}
	}
}

// pause is how long a customer takes to type a message: the bot's rate
// limit (10 at once, then 1 a second) would stop a test that never waits.
const pause = 3 * time.Second

// Say sends text after a typing pause.
func (h *harness) Say(text string) []handlertest.Reply {
	h.t.Helper()
	h.Clock.Advance(pause)
	return h.Harness.Say(text)
}

// Choose clicks an option after a pause.
func (h *harness) Choose(q handlertest.Reply, n int) []handlertest.Reply {
	h.t.Helper()
	h.Clock.Advance(pause)
	return h.Harness.Choose(q, n)
}

// say sends text and returns the replies' text.
func (h *harness) say(text string) string {
	h.t.Helper()
	return handlertest.Text(h.Say(text))
}

// order places a delivery order of one large margherita to addr and
// returns the confirmation.
func (h *harness) order(addr string) string {
	h.t.Helper()
	expect(h.t, "add", h.say("add margherita large"), "Added 1 × Margherita (Large 35 cm)")
	expect(h.t, "checkout", h.say("checkout"), "Delivery or pickup?")
	expect(h.t, "delivery", h.say("delivery"), "")
	expect(h.t, "address", h.say(addr), "Any note for us?")
	expect(h.t, "note", h.say("no"), "Place this order?")
	return h.say("yes")
}
