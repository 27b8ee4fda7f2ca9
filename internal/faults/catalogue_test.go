package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/internal/faults"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The bad-input catalogue: every case goes to a running bizbots (the
// faulty echo bot and a support desk with a staff room) on each engine.
// A case sends its request twice (a homeserver retries): both answers must
// be the spec's status and errcode, the same both times. A case that
// concerns a room then gets a canary message there, and the room's
// replies must be exactly the expected ones followed by the canary's:
// nothing crashed, nothing stalled, nothing lost or doubled. After all
// cases, no reply anywhere may carry customer HTML unescaped, and no event
// may exceed Matrix's 64 KiB limit.

const staffRoom = "!staff:example.org"

// hostile is text a customer may send to get HTML or script into a reply.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a><b>bold</b>`

// rawTags are what must never appear in a formatted_body.
var rawTags = []string{"<script", "<img", "<a href", "<b>bold</b>"}

// room is a case's own conversation.
type catRoom struct {
	ID, Customer, Bot string
}

type badCase struct {
	name string
	// Where the request goes: the transaction path by default (with txn,
	// an escaped path segment, or a fresh id).
	method, path, txn string
	// token: "" the hs_token, "-" none, anything else sent as the bearer.
	token string
	// body is the raw body; when empty, events (built for the case's
	// room) are wrapped as {"events": …}.
	body   string
	events func(r catRoom) []map[string]any
	// status and errcode are the answer wanted (0: 200 and no errcode).
	status  int
	errcode string
	// support: the case's room is with the support bot.
	support bool
	// replies are the bodies wanted in the room before the canary's reply
	// (after the welcome); a trailing "*" matches a prefix.
	replies []string
	// or4xx: a 4xx with an errcode (the same on both attempts) is as good
	// as the status wanted: refusing and sanitising are both allowed.
	or4xx bool
	// maybe: the replies may also be missing altogether (the event may
	// be refused or stored sanitised; both keep the room flowing).
	maybe bool
	// room: the case concerns a room (a canary checks it still flows).
	room bool
	// after runs further checks on the room's sends and the staff room's.
	after func(t *testing.T, sends, staff []fakehs.Sent)
	// second, if set, is a different body sent with the same txn id
	// after the first (the same id with different contents).
	second func(r catRoom) []map[string]any
}

func msg(r catRoom, body string) map[string]any { return fakehs.Message(r.ID, r.Customer, body) }

// with returns ev with content fields or top-level fields replaced.
func with(ev map[string]any, top map[string]any, content map[string]any) map[string]any {
	for k, v := range top {
		if v == nil {
			delete(ev, k)
		} else {
			ev[k] = v
		}
	}
	c, _ := ev["content"].(map[string]any)
	for k, v := range content {
		if c == nil {
			break
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return ev
}

func one(f func(r catRoom) map[string]any) func(r catRoom) []map[string]any {
	return func(r catRoom) []map[string]any { return []map[string]any{f(r)} }
}

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func catalogue() []badCase {
	said := func(s string) string { return "You said: " + s }
	return []badCase{
		// Authentication and routing.
		{name: "no token", token: "-", body: `{"events":[]}`, status: 401, errcode: "M_MISSING_TOKEN"},
		{name: "wrong token", token: "wrong", body: `{"events":[]}`, status: 403, errcode: "M_FORBIDDEN"},
		{name: "basic auth scheme", token: "basic", body: `{"events":[]}`, status: 401, errcode: "M_MISSING_TOKEN"},
		{name: "right header, wrong access_token query", path: "?access_token=wrong", body: `{"events":[]}`, status: 403, errcode: "M_FORBIDDEN"},
		{name: "POST instead of PUT", method: http.MethodPost, body: `{"events":[]}`, status: 405, errcode: "M_UNRECOGNIZED"},
		{name: "unknown endpoint", method: http.MethodGet, path: "/_matrix/app/v1/nothing", status: 404, errcode: "M_UNRECOGNIZED"},
		{name: "txn id with a raw slash", txn: "a/b", body: `{"events":[]}`, status: 404, errcode: "M_UNRECOGNIZED"},
		{name: "user query outside the namespace", method: http.MethodGet, path: "/_matrix/app/v1/users/@someone:example.org", status: 404, errcode: "M_NOT_FOUND"},
		{name: "user query, not a user id", method: http.MethodGet, path: "/_matrix/app/v1/users/not-a-user", status: 404, errcode: "M_NOT_FOUND"},
		{name: "room alias query", method: http.MethodGet, path: "/_matrix/app/v1/rooms/%23alias:example.org", status: 404, errcode: "M_NOT_FOUND"},
		{name: "ping with broken JSON", method: http.MethodPost, path: "/_matrix/app/v1/ping", body: `{"transaction_id":`, status: 400, errcode: "M_NOT_JSON"},
		{name: "ping with no body", method: http.MethodPost, path: "/_matrix/app/v1/ping", body: " "},

		// Malformed and wrongly typed JSON.
		{name: "not JSON", body: `{"events": [`, status: 400, errcode: "M_NOT_JSON"},
		{name: "blank body", body: "   ", status: 400, errcode: "M_NOT_JSON"},
		{name: "trailing garbage", body: `{"events":[]} x`, status: 400, errcode: "M_NOT_JSON"},
		{name: "raw NUL byte in JSON", body: "{\"events\":[]\x00}", status: 400, errcode: "M_NOT_JSON"},
		{name: "top level array", body: `[]`, status: 400, errcode: "M_BAD_JSON"},
		{name: "top level string", body: `"events"`, status: 400, errcode: "M_BAD_JSON"},
		{name: "top level null", body: `null`, status: 400, errcode: "M_BAD_JSON"},
		{name: "no events field", body: `{}`, status: 400, errcode: "M_BAD_JSON"},
		{name: "events is null", body: `{"events":null}`, status: 400, errcode: "M_BAD_JSON"},
		{name: "events is a string", body: `{"events":"x"}`, status: 400, errcode: "M_BAD_JSON"},
		{name: "events is an object", body: `{"events":{}}`, status: 400, errcode: "M_BAD_JSON"},
		{name: "empty events", body: `{"events":[]}`},
		{name: "events that are not objects", body: `{"events":[1,"x",null,[],true]}`},
		{name: "nesting beyond the JSON decoder's limit", body: `{"events":[` + nested(20000) + `]}`, status: 400, errcode: "M_NOT_JSON"},
		{name: "body over max_body_bytes", body: `{"events":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`, status: 413, errcode: "M_TOO_LARGE"},
		{name: "invalid UTF-8 outside strings", body: "{\"events\":[]}\xff", status: 400, errcode: "M_NOT_JSON"},

		// Events with missing or wrongly typed fields: skipped, the
		// transaction still acknowledged, the room still flows.
		{name: "event without event_id", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "lost?"), map[string]any{"event_id": nil}, nil) })},
		{name: "event without room_id", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "lost?"), map[string]any{"room_id": nil}, nil) })},
		{name: "event without type", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "lost?"), map[string]any{"type": nil}, nil) })},
		{name: "event without sender", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "who?"), map[string]any{"sender": nil}, nil) })},
		{name: "event without content", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), map[string]any{"content": nil}, nil) })},
		{name: "content is a string", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), map[string]any{"content": "x"}, nil) })},
		{name: "body is a number", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), nil, map[string]any{"body": 42}) })},
		{name: "state_key is a number", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), map[string]any{"state_key": 7}, nil) })},
		{name: "origin_server_ts is a string", room: true, maybe: true, replies: []string{said("x")}, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "x"), map[string]any{"origin_server_ts": "soon"}, nil)
		})},
		{name: "origin_server_ts is a float", room: true, replies: []string{said("float")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "float"), map[string]any{"origin_server_ts": 1.7e12 + 0.5}, nil)
			})},
		{name: "room_id that is no room id", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), map[string]any{"room_id": "not a room"}, nil) })},
		{name: "unknown msgtype", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "x"), nil, map[string]any{"msgtype": "m.weird"}) })},
		{name: "the same event twice in one transaction", room: true, replies: []string{said("once")},
			events: func(r catRoom) []map[string]any { m := msg(r, "once"); return []map[string]any{m, m} }},

		// NUL, invalid UTF-8, long and odd ids: never a 500 (the
		// homeserver would resend it forever), the same on both engines.
		{name: "NUL in a message", room: true, or4xx: true, maybe: true, replies: []string{said("hello a*")},
			events: one(func(r catRoom) map[string]any { return msg(r, "hello a\x00b") })},
		{name: "NUL in a display name", room: true, or4xx: true, maybe: true,
			events: one(func(r catRoom) map[string]any { return fakehs.Member(r.ID, r.Customer, "join", "Eve\x00l") })},
		{name: "invalid UTF-8 in a message", room: true, or4xx: true, maybe: true, replies: []string{said("bad *")},
			body: "", events: nil},
		{name: "very long txn id (4 KB)", or4xx: true, maybe: true, txn: strings.Repeat("t", 4096), body: `{"events":[]}`},
		{name: "txn id with spaces and unicode", txn: url.PathEscape("tx ünï ✓"), body: `{"events":[]}`},
		{name: "txn id with an escaped slash", txn: "a%2Fb", body: `{"events":[]}`},
		{name: "txn id with NUL", or4xx: true, maybe: true, txn: "a%00b", body: `{"events":[]}`},
		{name: "txn id with invalid UTF-8", or4xx: true, maybe: true, txn: "a%FFb", body: `{"events":[]}`},
		{name: "very long event id (3 KB)", room: true, or4xx: true, maybe: true,
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "long id"), map[string]any{"event_id": "$" + strings.Repeat("e", 3000)}, nil)
			}),
			replies: []string{said("long id")}},
		{name: "event id with NUL", room: true, or4xx: true, maybe: true, replies: []string{said("nul id")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "nul id"), map[string]any{"event_id": "$a\x00b"}, nil)
			})},
		{name: "sender with NUL", room: true, or4xx: true, maybe: true, replies: []string{said("x")}, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "x"), map[string]any{"sender": "@a\x00b:example.org"}, nil)
		})},
		{name: "deeply nested content (500 levels)", room: true, replies: []string{said("deep")},
			events: one(func(r catRoom) map[string]any {
				var deep any = "x"
				for i := 0; i < 500; i++ {
					deep = []any{deep}
				}
				return with(msg(r, "deep"), nil, map[string]any{"deep": deep})
			})},

		// Retries and replays.
		{name: "the same txn id with more events", room: true, replies: []string{said("first"), said("second")},
			events: one(func(r catRoom) map[string]any { return msg(r, "first") }),
			second: one(func(r catRoom) map[string]any { return msg(r, "second") })},

		// Event types bizbots must not act on.
		{name: "unknown event type", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "x"), map[string]any{"type": "com.example.custom"}, nil)
		})},
		{name: "forged timer event", room: true,
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, ""), map[string]any{"type": "org.bizbots.timer"}, map[string]any{"name": "ride.arrived", "payload": "1"})
			})},
		{name: "other reserved org.bizbots type", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "x"), map[string]any{"type": "org.bizbots.anything"}, nil)
		})},
		{name: "message claiming to be from our bot", room: true, events: one(func(r catRoom) map[string]any { return with(msg(r, "loop?"), map[string]any{"sender": r.Bot}, nil) })},
		{name: "message from the appservice's sender user", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "loop?"), map[string]any{"sender": "@bizbots:example.org"}, nil)
		})},
		{name: "notice from another user", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "a bot?"), nil, map[string]any{"msgtype": "m.notice"})
		})},
		{name: "message in a room the bot is not in", events: one(func(r catRoom) map[string]any { return fakehs.Message("!elsewhere:example.org", r.Customer, "hello?") }),
			after: func(t *testing.T, _, _ []fakehs.Sent) {}},
		{name: "state event with HTML", room: true, events: one(func(r catRoom) map[string]any {
			return map[string]any{"event_id": "$topic" + r.ID[1:8], "room_id": r.ID, "sender": r.Customer, "type": "m.room.topic",
				"state_key": "", "origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"topic": hostile}}
		})},
		{name: "redaction of an unknown event", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, ""), map[string]any{"type": "m.room.redaction", "redacts": "$nothing"}, map[string]any{"redacts": "$nothing"})
		})},
		{name: "edit of an unknown event", room: true, replies: []string{said("fixed")}, events: one(func(r catRoom) map[string]any {
			return with(msg(r, "* fixed"), nil, map[string]any{"m.new_content": map[string]any{"msgtype": "m.text", "body": "fixed"},
				"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": "$nothing"}})
		})},
		{name: "reaction to an unknown event", room: true, events: one(func(r catRoom) map[string]any {
			return map[string]any{"event_id": "$react" + r.ID[1:8], "room_id": r.ID, "sender": r.Customer, "type": "m.reaction",
				"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": "$nothing", "key": "1️⃣"}}}
		})},
		{name: "encrypted event", room: true, events: one(func(r catRoom) map[string]any {
			return with(msg(r, ""), map[string]any{"type": "m.room.encrypted"}, map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgA", "session_id": "s", "msgtype": nil, "body": nil})
		}), replies: []string{"*"}},
		{name: "ephemeral and to-device sections", room: true, replies: []string{said("with extras")},
			body: "", events: nil},

		// Chat: lengths, HTML, forged relations and mentions.
		{name: "absurdly long message (60 KB)", room: true, replies: []string{said("xxxx*")},
			events: one(func(r catRoom) map[string]any { return msg(r, strings.Repeat("x", 60000)) })},
		{name: "message of 10 000 lines", room: true, replies: []string{"*"},
			events: one(func(r catRoom) map[string]any { return msg(r, strings.Repeat("a\n", 10000)) })},
		{name: "HTML and script in a body", room: true, replies: []string{said(hostile)},
			events: one(func(r catRoom) map[string]any { return msg(r, hostile) })},
		{name: "HTML in formatted_body", room: true, replies: []string{said("plain")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "plain"), nil, map[string]any{"format": "org.matrix.custom.html", "formatted_body": hostile})
			})},
		{name: "HTML in body and display name to the support desk", room: true, support: true, replies: []string{"I've opened ticket*"},
			events: func(r catRoom) []map[string]any {
				return []map[string]any{fakehs.Member(r.ID, r.Customer, "join", "<b>bold</b><script>x</script>"), msg(r, "person please "+hostile)}
			},
			after: func(t *testing.T, _, staff []fakehs.Sent) {
				for _, s := range staff {
					if fb, _ := s.Content["formatted_body"].(string); strings.Contains(fb, "&lt;script&gt;") {
						return
					}
				}
				t.Errorf("no staff-room post shows the customer's HTML escaped: %v", staff)
			}},
		{name: "forged reply to an event in another room", room: true, replies: []string{said("re")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "re"), nil, map[string]any{"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": "$other-room-event"}}})
			})},
		{name: "forged thread relation", room: true, replies: []string{said("thread")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "thread"), nil, map[string]any{"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": 12}})
			})},
		{name: "forged mentions of other bots and @room", room: true, replies: []string{said("@room hi")},
			events: one(func(r catRoom) map[string]any {
				return with(msg(r, "@room hi"), nil, map[string]any{"m.mentions": map[string]any{"room": true,
					"user_ids": []string{"@pizza:example.org", "@taxi:example.org", "@support:example.org"}}})
			})},
		{name: "reaction to another person's message", room: true, events: func(r catRoom) []map[string]any {
			other := fakehs.Message(r.ID, "@someone:example.org", "their message")
			return []map[string]any{other, {"event_id": "$r" + r.ID[1:8], "room_id": r.ID, "sender": r.Customer, "type": "m.reaction",
				"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"m.relates_to": map[string]any{
					"rel_type": "m.annotation", "event_id": other["event_id"], "key": "👍"}}}}
		}, replies: []string{said("their message")}},
		{name: "zero-width and right-to-left text", room: true, replies: []string{said("a\u200bb\u202ec")},
			events: one(func(r catRoom) map[string]any { return msg(r, "a\u200bb\u202ec") })},
		{name: "empty body", room: true, events: one(func(r catRoom) map[string]any { return msg(r, "") })},
	}
}

// rawBodies are cases whose body cannot be built as JSON from Go values.
func rawBody(c badCase, r catRoom) string {
	switch c.name {
	case "invalid UTF-8 in a message":
		ev, _ := json.Marshal(msg(r, "bad PLACEHOLDER"))
		return `{"events":[` + strings.Replace(string(ev), "PLACEHOLDER", "\xff\xfe", 1) + `]}`
	case "ephemeral and to-device sections":
		ev, _ := json.Marshal(msg(r, "with extras"))
		return `{"events":[` + string(ev) + `],"ephemeral":[{"type":"m.typing","room_id":"` + r.ID + `","content":{"user_ids":["` + r.Customer + `"]}}],` +
			`"de.sorunome.msc2409.ephemeral":[{"type":"m.receipt"}],"to_device":[{"type":"m.room_key","sender":"@x:y","content":{}}],` +
			`"de.sorunome.msc2409.to_device":[],"device_lists":{"changed":["@x:y"]},"org.matrix.msc3202.device_one_time_keys_count":{}}`
	}
	return ""
}

func TestBadInputCatalogue(t *testing.T) {
	cases := catalogue()
	if len(cases) < 60 {
		t.Fatalf("the catalogue has %d cases, want at least 60", len(cases))
	}
	engines(t, func(t *testing.T, engine store.Dialect) { runCatalogue(t, engine, cases) })
}

func runCatalogue(t *testing.T, engine store.Dialect, cases []badCase) {
	bin := faults.Binary(t, faultBin)
	hsFront := faults.NewFront(1)
	t.Cleanup(hsFront.Close)
	in := faults.Init(t, bin, hsFront.Server.URL, storetest.URI(t, engine), func(doc map[string]any) {
		faults.TestTuning(t, doc)
		faults.AllBots(t, doc, "faulty")
		faults.Section(t, doc, "appservice")["max_body_bytes"] = 1 << 20
		for _, b := range doc["bots"].([]any) {
			bot := b.(map[string]any)
			if bot["localpart"] == "support" {
				bot["service"] = "support"
				bot["config"] = map[string]any{"staff_room": staffRoom, "hours": map[string]any{}}
			}
		}
	})
	hs := fakehs.New(in.Cfg.AppService.ASToken)
	t.Cleanup(hs.Close)
	hsFront.SetHS(hs)
	logPath := filepath.Join(in.Dir, "bizbots.log")
	procs := &faults.Supervisor{T: t, Bin: bin, CfgPath: in.CfgPath, LogPath: logPath, Restart: true, MaxRestarts: 10}
	t.Cleanup(procs.StopNow)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the bizbots log (%s):\n%s", logPath, faults.Tail(logPath, 40))
		}
	})
	if err := procs.Start(); err != nil {
		t.Fatal(err)
	}
	echoBot, supportBot := in.Cfg.UserID("echo").String(), in.Cfg.UserID("support").String()
	hsToken := in.Cfg.AppService.HSToken

	// Every room case gets its own room, opened before the cases run.
	rooms := make([]catRoom, len(cases))
	var invites []map[string]any
	for i, c := range cases {
		bot := echoBot
		if c.support {
			bot = supportBot
		}
		rooms[i] = catRoom{ID: fmt.Sprintf("!case%d:example.org", i), Customer: fmt.Sprintf("@cust%d:example.org", i), Bot: bot}
		hs.SetMembers(rooms[i].ID, map[string]string{rooms[i].Customer: fmt.Sprintf("Customer %d", i), bot: "Bot"})
		if c.room {
			invites = append(invites, fakehs.Invite(rooms[i].ID, rooms[i].Customer, bot, true))
		}
	}
	pusher := &faults.Pusher{URL: in.URL(), HSToken: hsToken, PerTxn: time.Minute}
	ctx := context.Background()
	if err := pusher.Push(ctx, faults.Txn{ID: "invites", Events: invites}); err != nil {
		t.Fatal(err)
	}
	welcomed := func() bool {
		for i, c := range cases {
			if c.room && len(hs.SendsTo(rooms[i].ID)) == 0 {
				return false
			}
		}
		return true
	}
	if !hs.WaitFor(60*time.Second, welcomed) {
		t.Fatal("the case rooms were not all welcomed within 60 s")
	}

	for i, c := range cases {
		r := rooms[i]
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			var evs []map[string]any
			if c.events != nil {
				evs = c.events(r)
			}
			if raw := rawBody(c, r); raw != "" {
				body = raw
			} else if body == "" && evs != nil {
				data, err := json.Marshal(map[string]any{"events": evs})
				if err != nil {
					t.Fatal(err)
				}
				body = string(data)
			}
			txn := c.txn
			if txn == "" {
				txn = fmt.Sprintf("case-%d", i)
			}
			path := c.path
			if path == "" || strings.HasPrefix(path, "?") {
				path = "/_matrix/app/v1/transactions/" + txn + path
			}
			method := c.method
			if method == "" {
				method = http.MethodPut
			}
			wantStatus := c.status
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			for try := 1; try <= 2; try++ {
				status, errcode := request(t, method, in.URL()+path, hsToken, c.token, body)
				refused := c.or4xx && status >= 400 && status < 500 && errcode != ""
				if (status != wantStatus || errcode != c.errcode) && !refused {
					t.Errorf("attempt %d: %d %s, want %d %s", try, status, errcode, wantStatus, c.errcode)
				}
			}
			if c.second != nil {
				data, _ := json.Marshal(map[string]any{"events": append(evs, c.second(r)...)})
				if status, errcode := request(t, method, in.URL()+path, hsToken, c.token, string(data)); status != 200 {
					t.Errorf("the same txn id with more events: %d %s, want 200", status, errcode)
				}
			}
			if c.room {
				if err := pusher.Push(ctx, faults.Txn{ID: fmt.Sprintf("canary-%d", i), Events: []map[string]any{msg(r, "canary")}}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}

	// Wait for every room's canary, then check each room's replies.
	canaried := func() bool {
		for i, c := range cases {
			if !c.room || c.support {
				continue
			}
			s := hs.SendsTo(rooms[i].ID)
			if b, _ := s[len(s)-1].Content["body"].(string); b != "You said: canary" {
				return false
			}
		}
		return true
	}
	if !hs.WaitFor(90*time.Second, canaried) {
		t.Error("not every case room answered its canary within 90 s")
	}
	// Then for the queues to empty: the support desk's canary, and any
	// stray late reply, is out before the replies are checked.
	db, err := store.Open(ctx, in.Cfg.Database.URI, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !hs.WaitFor(60*time.Second, func() bool { return faults.Idle(db) }) {
		t.Error("the inbox and outbox did not empty within 60 s of the canaries")
	}
	staff := hs.SendsTo(staffRoom)
	for i, c := range cases {
		r := rooms[i]
		sends := hs.SendsTo(r.ID)
		t.Run(c.name+"/replies", func(t *testing.T) {
			if c.room {
				var got []string
				for _, s := range sends[1:] { // after the welcome
					b, _ := s.Content["body"].(string)
					got = append(got, b)
				}
				want := c.replies
				if !c.support {
					want = append(append([]string(nil), want...), "You said: canary")
				}
				if !matches(got, want, c.support) && !(c.maybe && matches(got, want[len(c.replies):], false)) {
					t.Errorf("replies:\n got  %q\n want %q", short(got), want)
				}
			}
			if c.after != nil {
				c.after(t, sends, staff)
			}
		})
	}
	if sends := hs.SendsTo("!elsewhere:example.org"); len(sends) != 0 {
		t.Errorf("a bot answered in a room it is not in: %v", sends)
	}

	// Nothing unescaped, nothing oversized, anywhere.
	for _, s := range hs.Sends() {
		fb, _ := s.Content["formatted_body"].(string)
		for _, tag := range rawTags {
			if strings.Contains(fb, tag) {
				t.Errorf("a reply in %s carries %q unescaped: %.300q", s.Room, tag, fb)
			}
		}
		if data, _ := json.Marshal(s.Content); len(data) > 60000 {
			t.Errorf("a reply in %s has %d bytes of content, over what fits in a Matrix event (64 KiB)", s.Room, len(data))
		}
	}
	if !procs.Running() || len(procs.Crashes()) > 0 {
		t.Errorf("bizbots died during the catalogue: running=%v, crashes %v", procs.Running(), procs.Crashes())
	}
	procs.Stop()
	inb, err := db.InboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inb["pending"] != 0 {
		t.Errorf("inbox still has pending events after the catalogue: %v", inb)
	}
	t.Logf("%d cases on %s; inbox %v; %d sends", len(cases), engine, inb, len(hs.Sends()))
}

// matches compares replies with wanted ones; "…*" matches a prefix. With
// open set, got may have more replies after the wanted ones.
func matches(got, want []string, open bool) bool {
	if len(got) != len(want) && !(open && len(got) > len(want)) {
		return false
	}
	for i, w := range want {
		if p, ok := strings.CutSuffix(w, "*"); ok {
			if !strings.HasPrefix(got[i], p) {
				return false
			}
		} else if got[i] != w {
			return false
		}
	}
	return true
}

func short(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if len(s) > 80 {
			s = s[:80] + fmt.Sprintf("…(%d bytes)", len(s))
		}
		out[i] = s
	}
	return out
}

// request sends one raw request and returns its status and errcode.
func request(t *testing.T, method, u, hsToken, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch token {
	case "":
		req.Header.Set("Authorization", "Bearer "+hsToken)
	case "-":
	case "basic":
		req.Header.Set("Authorization", "Basic "+hsToken)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %.80s: %v", method, u, err)
		return 0, ""
	}
	defer resp.Body.Close()
	var e struct {
		Errcode string `json:"errcode"`
	}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e.Errcode
}
