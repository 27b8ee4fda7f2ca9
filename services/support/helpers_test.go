package support

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	staffRoom = id.RoomID("!staff:test")
	sam       = id.UserID("@sam:test")
	bob       = id.UserID("@bob:test")
	eve       = id.UserID("@eve:test")
	admin     = id.UserID("@admin:test")
)

// desk is a support bot under test with its harness.
type desk struct {
	t   *testing.T
	bot *Bot
	*handlertest.Harness
}

// staffConfig is the default config with the staff room.
func staffConfig() Config {
	cfg := DefaultConfig()
	cfg.Business = "Example Shop"
	cfg.StaffRoom = string(staffRoom)
	return cfg
}

func newDesk(t *testing.T, cfg Config, opts ...handlertest.Options) *desk {
	t.Helper()
	return newDeskWith(t, cfg, nil, opts...)
}

// newDeskWith wraps the bot's handler (for race tests).
func newDeskWith(t *testing.T, cfg Config, wrap func(*desk, handlers.Handler) handlers.Handler, opts ...handlertest.Options) *desk {
	t.Helper()
	b, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{t: t, bot: b}
	var h handlers.Handler = b
	if wrap != nil {
		h = &wrapped{Bot: b, h: wrap(d, b)}
	}
	d.Harness = handlertest.New(t, h, opts...)
	b.db = d.DB
	return d
}

// wrapped keeps the Bot's Welcomer, Watcher and Forgetter around a
// wrapped Handle.
type wrapped struct {
	*Bot
	h handlers.Handler
}

func (w *wrapped) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return w.h.Handle(ctx, c, m)
}

// onEngines runs fn on SQLite and on Postgres.
func onEngines(t *testing.T, fn func(t *testing.T, opts handlertest.Options)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, handlertest.Options{URI: storetest.URI(t, d)}) })
	}
}

var evCounter atomic.Int64

func (d *desk) event(room id.RoomID, sender id.UserID, typ string, content map[string]any) map[string]any {
	return map[string]any{
		"event_id": fmt.Sprintf("$test%d", evCounter.Add(1)), "room_id": room.String(), "sender": sender.String(),
		"type": typ, "origin_server_ts": d.Clock.Now().UnixMilli(), "content": content,
	}
}

func (d *desk) inject(evs ...map[string]any) []handlertest.Reply {
	d.t.Helper()
	r, err := d.Session.Inject(context.Background(), evs...)
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

// openStaffRoom has the members join the staff room as its moderators
// and the admin invite the bot; it returns the bot's greeting there.
func (d *desk) openStaffRoom(members map[id.UserID]string) []handlertest.Reply {
	d.t.Helper()
	var evs []map[string]any
	for u, name := range members {
		j := d.event(staffRoom, u, "m.room.member", map[string]any{"membership": "join", "displayname": name})
		j["state_key"] = u.String()
		evs = append(evs, j)
	}
	// Everyone listed is a moderator of the room.
	levels := map[string]any{admin.String(): 100}
	for u := range members {
		levels[u.String()] = 50
	}
	pl := d.event(staffRoom, admin, "m.room.power_levels", map[string]any{"users": levels})
	pl["state_key"] = ""
	evs = append(evs, pl)
	inv := d.event(staffRoom, admin, "m.room.member", map[string]any{"membership": "invite"})
	inv["state_key"] = d.Bot.String()
	return d.inject(append(evs, inv)...)
}

// staffSays sends body into the staff room; in the thread of root when
// set.
func (d *desk) staffSays(sender id.UserID, body string, root id.EventID) []handlertest.Reply {
	d.t.Helper()
	content := map[string]any{"msgtype": "m.text", "body": body}
	if root != "" {
		content["m.relates_to"] = map[string]any{"rel_type": "m.thread", "event_id": root.String(),
			"is_falling_back": true, "m.in_reply_to": map[string]any{"event_id": root.String()}}
	}
	return d.inject(d.event(staffRoom, sender, "m.room.message", content))
}

// staffQuotes sends body as a plain reply (no thread) to ev.
func (d *desk) staffQuotes(sender id.UserID, body string, ev id.EventID) []handlertest.Reply {
	d.t.Helper()
	return d.inject(d.event(staffRoom, sender, "m.room.message", map[string]any{"msgtype": "m.text", "body": body,
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": ev.String()}}}))
}

// in splits replies by room.
func in(replies []handlertest.Reply, room id.RoomID) []handlertest.Reply {
	var out []handlertest.Reply
	for _, r := range replies {
		if r.Room == room {
			out = append(out, r)
		}
	}
	return out
}

func notIn(replies []handlertest.Reply, room id.RoomID) []handlertest.Reply {
	var out []handlertest.Reply
	for _, r := range replies {
		if r.Room != room {
			out = append(out, r)
		}
	}
	return out
}

// threadOf is the thread root a reply was sent in ("" when none).
func threadOf(r handlertest.Reply) id.EventID {
	rel, _ := r.Content["m.relates_to"].(map[string]any)
	if rel == nil || rel["rel_type"] != "m.thread" {
		return ""
	}
	ev, _ := rel["event_id"].(string)
	return id.EventID(ev)
}

func (d *desk) ticket(n int64) *ticket {
	d.t.Helper()
	t, err := ticketQuery{db: d.DB, bot: d.Bot.String()}.byNumber(context.Background(), n)
	if err != nil {
		d.t.Fatal(err)
	}
	return t
}

func (d *desk) ticketCount() int {
	d.t.Helper()
	var n int
	if err := d.DB.QueryRowContext(context.Background(), `SELECT count(*) FROM support_tickets`).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

func contains(t *testing.T, what string, got []handlertest.Reply, want ...string) {
	t.Helper()
	text := handlertest.Text(got)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("%s: want %q in:\n%s", what, w, text)
		}
	}
}
