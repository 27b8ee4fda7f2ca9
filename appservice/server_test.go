package appservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const (
	hsToken  = "hs0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	maxBody  = 4096
	txnPath  = "/_matrix/app/v1/transactions/"
	pingPath = "/_matrix/app/v1/ping"
)

// fakeUsers is a UserProvisioner that knows a fixed set of bots and
// records EnsureUser calls.
type fakeUsers struct {
	bots map[id.UserID]bool
	err  error

	mu      sync.Mutex
	ensured []id.UserID
}

func (f *fakeUsers) IsBot(uid id.UserID) bool { return f.bots[uid] }

func (f *fakeUsers) EnsureUser(_ context.Context, uid id.UserID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensured = append(f.ensured, uid)
	return f.err
}

func (f *fakeUsers) calls() []id.UserID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]id.UserID(nil), f.ensured...)
}

// lockedBuffer is a log sink safe to share with handler goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	t      *testing.T
	db     *store.DB
	srv    *httptest.Server
	users  *fakeUsers
	stored atomic.Int32
	logs   *lockedBuffer
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := &env{t: t, db: db, logs: &lockedBuffer{}, users: &fakeUsers{bots: map[id.UserID]bool{
		"@pizza:example.org":   true,
		"@bizbots:example.org": true,
		// Not a valid user id: the server must not ask the provisioner
		// to create it, whatever IsBot says.
		"@pizza": true,
	}}}
	s := &appservice.Server{
		DB: db, HSToken: hsToken, MaxBodyBytes: maxBody, Users: e.users,
		Stored: func(...string) { e.stored.Add(1) },
		Log:    zerolog.New(e.logs).Level(zerolog.TraceLevel),
	}
	e.srv = httptest.NewServer(s)
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; token "" sends no Authorization header.
func (e *env) do(method, path, token, body string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) putTxn(txnID string, events ...string) response {
	e.t.Helper()
	return e.do(http.MethodPut, txnPath+txnID, hsToken, txnBody(events...))
}

func txnBody(events ...string) string {
	return `{"events":[` + strings.Join(events, ",") + `]}`
}

// event is a timeline message event.
func event(eventID, roomID string) string {
	return fmt.Sprintf(`{"event_id":%q,"room_id":%q,"sender":"@alice:example.org","type":"m.room.message","origin_server_ts":1700000000123,"content":{"msgtype":"m.text","body":"hi from %s"}}`,
		eventID, roomID, eventID)
}

// wantError checks the status and the standard Matrix error body.
func wantError(t *testing.T, r response, status int, errcode string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body is not JSON: %q", r.body)
	}
	if len(body) != 2 {
		t.Errorf("error body %s: want exactly errcode and error", r.body)
	}
	if body["errcode"] != errcode {
		t.Errorf("errcode %v, want %s (body %s)", body["errcode"], errcode, r.body)
	}
	if msg, ok := body["error"].(string); !ok || msg == "" {
		t.Errorf("error %#v: want a non-empty message", body["error"])
	}
}

// wantEmptyOK checks a 200 with the body {}.
func wantEmptyOK(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200 (body %s)", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || body == nil || len(body) != 0 {
		t.Errorf("body %q, want {}", r.body)
	}
}

type inboxRow struct {
	EventID, RoomID, Sender, Type string
	StateKey                      *string
	OriginTS                      int64
	JSON                          string
	TxnID                         string
	Status                        string
}

func inbox(t *testing.T, db *store.DB) []inboxRow {
	t.Helper()
	rows, err := db.Query(`SELECT event_id, room_id, sender, event_type, state_key, origin_ts, event, txn_id, status FROM inbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []inboxRow
	for rows.Next() {
		var r inboxRow
		if err := rows.Scan(&r.EventID, &r.RoomID, &r.Sender, &r.Type, &r.StateKey, &r.OriginTS, &r.JSON, &r.TxnID, &r.Status); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func eventIDs(rows []inboxRow) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.EventID)
	}
	return ids
}

func wantEventIDs(t *testing.T, db *store.DB, want ...string) []inboxRow {
	t.Helper()
	rows := inbox(t, db)
	got := eventIDs(rows)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("inbox holds %q, want %q", got, want)
	}
	return rows
}

func txnIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT txn_id FROM as_txn ORDER BY txn_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		q := "?access_token="
		tests := []struct {
			name   string
			path   string
			header string // the whole Authorization header, "" for none
			status int
			code   string
		}{
			{"no token", pingPath, "", 401, appservice.ErrMissingToken},
			{"right bearer token", pingPath, "Bearer " + hsToken, 200, ""},
			{"scheme is case-insensitive", pingPath, "bearer " + hsToken, 200, ""},
			{"wrong bearer token", pingPath, "Bearer " + strings.Repeat("x", 64), 403, appservice.ErrForbidden},
			{"prefix of the token", pingPath, "Bearer " + hsToken[:32], 403, appservice.ErrForbidden},
			{"token with a suffix", pingPath, "Bearer " + hsToken + "0", 403, appservice.ErrForbidden},
			{"token in upper case", pingPath, "Bearer " + strings.ToUpper(hsToken), 403, appservice.ErrForbidden},
			{"legacy query token", pingPath + q + hsToken, "", 200, ""},
			{"wrong legacy query token", pingPath + q + "nope", "", 403, appservice.ErrForbidden},
			{"both, equal", pingPath + q + hsToken, "Bearer " + hsToken, 200, ""},
			{"both, query wrong", pingPath + q + "nope", "Bearer " + hsToken, 403, appservice.ErrForbidden},
			{"both, header wrong", pingPath + q + hsToken, "Bearer nope", 403, appservice.ErrForbidden},
			{"basic auth", pingPath, "Basic " + hsToken, 401, appservice.ErrMissingToken},
			{"bare token without scheme", pingPath, hsToken, 401, appservice.ErrMissingToken},
			{"scheme without token", pingPath, "Bearer", 401, appservice.ErrMissingToken},
			{"scheme with a blank token", pingPath, "Bearer   ", 401, appservice.ErrMissingToken},
			{"malformed header with a right query token", pingPath + q + hsToken, "Token " + hsToken, 401, appservice.ErrMissingToken},
			{"transaction without token", txnPath + "t1", "", 401, appservice.ErrMissingToken},
			{"transaction with a wrong token", txnPath + "t1", "Bearer nope", 403, appservice.ErrForbidden},
			{"legacy transaction with a wrong query token", "/transactions/t1" + q + "nope", "", 403, appservice.ErrForbidden},
			{"user query without token", "/_matrix/app/v1/users/@pizza:example.org", "", 401, appservice.ErrMissingToken},
			{"room query with a wrong token", "/_matrix/app/v1/rooms/%23a:example.org", "Bearer nope", 403, appservice.ErrForbidden},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				method, body := http.MethodPost, "{}"
				switch {
				case strings.Contains(tt.path, "/transactions/"):
					method, body = http.MethodPut, txnBody(event("$auth", "!r:example.org"))
				case strings.Contains(tt.path, "/users/"), strings.Contains(tt.path, "/rooms/"):
					method, body = http.MethodGet, ""
				}
				var rd io.Reader
				if body != "" {
					rd = strings.NewReader(body)
				}
				req, err := http.NewRequest(method, e.srv.URL+tt.path, rd)
				if err != nil {
					t.Fatal(err)
				}
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				r := e.send(req)
				if tt.code == "" {
					wantEmptyOK(t, r)
				} else {
					wantError(t, r, tt.status, tt.code)
				}
			})
		}
		// Refused requests had no effect.
		wantEventIDs(t, db)
		if got := txnIDs(t, db); len(got) != 0 {
			t.Errorf("refused transactions were recorded: %q", got)
		}
		if got := e.users.calls(); len(got) != 0 {
			t.Errorf("EnsureUser was called for an unauthenticated query: %v", got)
		}
		if n := e.stored.Load(); n != 0 {
			t.Errorf("Stored fired %d times for refused requests", n)
		}
	})
}

func TestRouting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		tests := []struct {
			name, method, path, token string
			status                    int
			allow                     string
		}{
			{"unknown endpoint", "GET", "/_matrix/app/v1/unknown", hsToken, 404, ""},
			{"unknown endpoint without token", "GET", "/_matrix/app/v1/unknown", "", 404, ""},
			{"root", "GET", "/", hsToken, 404, ""},
			{"non-matrix path", "GET", "/health", hsToken, 404, ""},
			{"unknown API version", "PUT", "/_matrix/app/v2/transactions/t1", hsToken, 404, ""},
			{"transaction without an id", "PUT", txnPath, hsToken, 404, ""},
			{"transaction id with a slash", "PUT", txnPath + "a/b", hsToken, 404, ""},
			{"ping with a trailing segment", "POST", pingPath + "/x", hsToken, 404, ""},
			{"ping with a trailing slash", "POST", pingPath + "/", hsToken, 404, ""},
			{"user query without a user", "GET", "/_matrix/app/v1/users/", hsToken, 404, ""},
			{"GET a transaction", "GET", txnPath + "t1", hsToken, 405, "PUT"},
			{"POST a transaction", "POST", txnPath + "t1", hsToken, 405, "PUT"},
			{"POST a legacy transaction", "POST", "/transactions/t1", hsToken, 405, "PUT"},
			{"wrong method without token", "DELETE", txnPath + "t1", "", 405, "PUT"},
			{"PUT a user query", "PUT", "/_matrix/app/v1/users/@pizza:example.org", hsToken, 405, "GET"},
			{"POST a legacy user query", "POST", "/users/@pizza:example.org", hsToken, 405, "GET"},
			{"DELETE a room query", "DELETE", "/_matrix/app/v1/rooms/%23a:example.org", hsToken, 405, "GET"},
			{"GET ping", "GET", pingPath, hsToken, 405, "POST"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do(tt.method, tt.path, tt.token, "")
				wantError(t, r, tt.status, appservice.ErrUnrecognized)
				if got := r.header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow %q, want %q", got, tt.allow)
				}
			})
		}
		wantEventIDs(t, db)
	})
}

func TestExtraHandler(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var extraCalls atomic.Int32
		s := &appservice.Server{DB: db, HSToken: hsToken, MaxBodyBytes: maxBody, Log: zerolog.Nop(),
			Extra: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				extraCalls.Add(1)
				w.WriteHeader(http.StatusTeapot)
			})}
		srv := httptest.NewServer(s)
		defer srv.Close()
		e := &env{t: t, db: db, srv: srv}

		if r := e.do("GET", "/health", "", ""); r.status != http.StatusTeapot {
			t.Errorf("/health: status %d, want Extra's 418", r.status)
		}
		// The Matrix namespace never falls through to Extra.
		for _, p := range []string{"/_matrix/app/v1/unknown", "/_matrix/app/v1/transactions/", "/_matrix/client/v3/sync"} {
			wantError(t, e.do("GET", p, hsToken, ""), 404, appservice.ErrUnrecognized)
		}
		// Known endpoints are not Extra's either.
		wantEmptyOK(t, e.do("POST", pingPath, hsToken, "{}"))
		if n := extraCalls.Load(); n != 1 {
			t.Errorf("Extra called %d times, want 1", n)
		}
	})
}

func TestTransactionRejected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		big := txnBody(event("$big", "!r:example.org"), `{"pad":"`+strings.Repeat("x", maxBody)+`"}`)
		tests := []struct {
			name, body string
			status     int
			code       string
		}{
			{"not JSON", `{"events": [`, 400, appservice.ErrNotJSON},
			{"empty body", ``, 400, appservice.ErrNotJSON},
			{"trailing garbage", `{"events": []} x`, 400, appservice.ErrNotJSON},
			{"no events field", `{}`, 400, appservice.ErrBadJSON},
			{"only ephemeral", `{"ephemeral": []}`, 400, appservice.ErrBadJSON},
			{"events null", `{"events": null}`, 400, appservice.ErrBadJSON},
			{"events a string", `{"events": "x"}`, 400, appservice.ErrBadJSON},
			{"events an object", `{"events": {}}`, 400, appservice.ErrBadJSON},
			{"body is an array", `[]`, 400, appservice.ErrBadJSON},
			{"body over max_body_bytes", big, 413, appservice.ErrTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantError(t, e.do("PUT", txnPath+"bad", hsToken, tt.body), tt.status, tt.code)
			})
		}
		wantEventIDs(t, db)
		// A rejected transaction is not remembered: when the homeserver
		// sends it again, fixed, it is stored and not taken for a replay.
		if got := txnIDs(t, db); len(got) != 0 {
			t.Fatalf("rejected transactions were recorded: %q", got)
		}
		wantEmptyOK(t, e.putTxn("bad", event("$fixed", "!r:example.org")))
		wantEventIDs(t, db, "$fixed")
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired %d times, want 1", n)
		}
	})
}

func TestTransactionBodyLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		// Pad a valid body with white space to exactly n bytes.
		body := func(eventID string, n int) string {
			b := txnBody(event(eventID, "!r:example.org"))
			return b + strings.Repeat(" ", n-len(b))
		}
		at := body("$at-limit", maxBody)
		if len(at) != maxBody {
			t.Fatalf("test body is %d bytes", len(at))
		}
		wantEmptyOK(t, e.do("PUT", txnPath+"limit", hsToken, at))
		wantError(t, e.do("PUT", txnPath+"over", hsToken, body("$over-limit", maxBody+1)), 413, appservice.ErrTooLarge)
		wantEventIDs(t, db, "$at-limit")
	})
}

func TestTransactionStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		create := `{"event_id":"$create","room_id":"!b:example.org","sender":"@alice:example.org","type":"m.room.create","state_key":"","origin_server_ts":5,"content":{}}`
		member := `{"event_id":"$member","room_id":"!b:example.org","sender":"@alice:example.org","type":"m.room.member","state_key":"@pizza:example.org","origin_server_ts":6,"content":{"membership":"invite"}}`
		msg := event("$msg", "!a:example.org")

		wantEmptyOK(t, e.putTxn("txn1", msg, create, member))
		rows := wantEventIDs(t, db, "$msg", "$create", "$member")
		for i, raw := range []string{msg, create, member} {
			var got, want any
			if err := json.Unmarshal([]byte(rows[i].JSON), &got); err != nil {
				t.Fatalf("stored event %s is not JSON: %v", rows[i].EventID, err)
			}
			_ = json.Unmarshal([]byte(raw), &want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("stored event %s:\n got %s\nwant %s", rows[i].EventID, rows[i].JSON, raw)
			}
			if rows[i].TxnID != "txn1" || rows[i].Status != "pending" || rows[i].Sender != "@alice:example.org" {
				t.Errorf("row %d: %+v", i, rows[i])
			}
		}
		if r := rows[0]; r.RoomID != "!a:example.org" || r.Type != "m.room.message" || r.StateKey != nil || r.OriginTS != 1700000000123 {
			t.Errorf("message row: %+v", r)
		}
		if r := rows[1]; r.RoomID != "!b:example.org" || r.Type != "m.room.create" || r.StateKey == nil || *r.StateKey != "" || r.OriginTS != 5 {
			t.Errorf("create row: %+v (an empty state_key must stay distinct from none)", r)
		}
		if r := rows[2]; r.StateKey == nil || *r.StateKey != "@pizza:example.org" {
			t.Errorf("member row: %+v", r)
		}
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired %d times, want 1", n)
		}

		// A replay answers 200 and adds nothing.
		wantEmptyOK(t, e.putTxn("txn1", msg, create, member))
		wantEventIDs(t, db, "$msg", "$create", "$member")
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired for a replay (%d calls)", n)
		}

		// Dendrite may resend a txn id with one more event: only that one is new.
		extra := event("$extra", "!a:example.org")
		wantEmptyOK(t, e.putTxn("txn1", msg, create, member, extra))
		rows = wantEventIDs(t, db, "$msg", "$create", "$member", "$extra")
		if rows[3].TxnID != "txn1" {
			t.Errorf("extra event filed under txn %q", rows[3].TxnID)
		}
		if n := e.stored.Load(); n != 2 {
			t.Errorf("Stored fired %d times, want 2 after new events in a resent txn", n)
		}

		// The same event in another transaction is stored once, under the
		// transaction that brought it first.
		wantEmptyOK(t, e.putTxn("txn2", msg, event("$new", "!a:example.org")))
		rows = wantEventIDs(t, db, "$msg", "$create", "$member", "$extra", "$new")
		if rows[0].TxnID != "txn1" || rows[4].TxnID != "txn2" {
			t.Errorf("txn ids: %q and %q", rows[0].TxnID, rows[4].TxnID)
		}
		if n := e.stored.Load(); n != 3 {
			t.Errorf("Stored fired %d times, want 3", n)
		}

		// A transaction made only of known events changes nothing.
		wantEmptyOK(t, e.putTxn("txn3", msg, extra))
		wantEventIDs(t, db, "$msg", "$create", "$member", "$extra", "$new")
		if n := e.stored.Load(); n != 3 {
			t.Errorf("Stored fired for a transaction with no new events (%d calls)", n)
		}

		// An empty transaction is fine and wakes nobody.
		wantEmptyOK(t, e.putTxn("txn4"))
		if n := e.stored.Load(); n != 3 {
			t.Errorf("Stored fired for an empty transaction (%d calls)", n)
		}
		if got := strings.Join(txnIDs(t, db), " "); got != "txn1 txn2 txn3 txn4" {
			t.Errorf("recorded txn ids %q", got)
		}
	})
}

func TestTransactionIgnoresEphemeralAndToDevice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		body := `{
			"events": [` + event("$timeline", "!r:example.org") + `],
			"ephemeral": [{"type":"m.typing","room_id":"!r:example.org","content":{"user_ids":["@alice:example.org"]}}],
			"de.sorunome.msc2409.ephemeral": [{"type":"m.receipt","room_id":"!r:example.org","content":{}}],
			"to_device": [{"type":"m.room_key_request","sender":"@alice:example.org","to_user_id":"@pizza:example.org","content":{}}],
			"de.sorunome.msc2409.to_device": [{"type":"m.dummy","sender":"@alice:example.org","content":{}}],
			"org.matrix.msc3202.device_lists": {"changed":["@alice:example.org"],"left":[]},
			"org.matrix.msc3202.device_one_time_keys_count": {"@pizza:example.org":{"DEV":{"signed_curve25519":5}}}
		}`
		wantEmptyOK(t, e.do("PUT", txnPath+"eph1", hsToken, body))
		wantEventIDs(t, db, "$timeline")

		// Ephemeral data alone, with an empty timeline: 200, nothing stored.
		wantEmptyOK(t, e.do("PUT", txnPath+"eph2", hsToken,
			`{"events":[],"ephemeral":[{"type":"m.typing","room_id":"!r:example.org","content":{"user_ids":[]}}]}`))
		wantEventIDs(t, db, "$timeline")
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired %d times, want 1", n)
		}
	})
}

func TestTransactionSkipsMalformedEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		wantEmptyOK(t, e.putTxn("mixed",
			event("$first", "!r:example.org"),
			`{"room_id":"!r:example.org","sender":"@a:example.org","type":"m.room.message","content":{}}`,
			`{"event_id":"$noroom","sender":"@a:example.org","type":"m.room.message","content":{}}`,
			`{"event_id":"$notype","room_id":"!r:example.org","sender":"@a:example.org","content":{}}`,
			`{"event_id":"","room_id":"!r:example.org","type":"m.room.message"}`,
			`{"event_id":42,"room_id":"!r:example.org","type":"m.room.message"}`,
			`42`, `"a string"`, `null`, `[]`,
			event("$last", "!r:example.org"),
		))
		wantEventIDs(t, db, "$first", "$last")
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired %d times, want 1", n)
		}
		// Only malformed events: accepted (or the homeserver would retry
		// forever), nothing stored, nobody woken.
		wantEmptyOK(t, e.putTxn("allbad", `{"room_id":"!r:example.org"}`, `7`))
		wantEventIDs(t, db, "$first", "$last")
		if n := e.stored.Load(); n != 1 {
			t.Errorf("Stored fired %d times, want 1", n)
		}
	})
}

func TestTransactionPathsAndIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		tests := []struct {
			path   string // as sent, escaped
			wantID string // as recorded
		}{
			{"/transactions/legacy1", "legacy1"},
			{txnPath + "txn%2F1", "txn/1"},
			{txnPath + "a%20b", "a b"},
			{txnPath + "caf%C3%A9", "café"},
			{txnPath + "m1700000000.42", "m1700000000.42"},
			{txnPath + "%3F%23%25", "?#%"},
		}
		var want []string
		for i, tt := range tests {
			evID := fmt.Sprintf("$ev%d", i)
			wantEmptyOK(t, e.do("PUT", tt.path, hsToken, txnBody(event(evID, "!r:example.org"))))
			want = append(want, evID)
			rows := wantEventIDs(t, db, want...)
			if got := rows[i].TxnID; got != tt.wantID {
				t.Errorf("%s: recorded txn id %q, want %q", tt.path, got, tt.wantID)
			}
		}
		recorded := len(txnIDs(t, db))
		if recorded != len(tests) {
			t.Fatalf("%d txn ids recorded, want %d", recorded, len(tests))
		}

		// The same id, spelled differently or sent on the other path, is
		// the same transaction.
		for _, p := range []string{"/_matrix/app/v1/transactions/legacy1", "/transactions/txn%2F1", txnPath + "a b", txnPath + "caf%c3%a9"} {
			wantEmptyOK(t, e.do("PUT", p, hsToken, txnBody(event("$ev0", "!r:example.org"))))
		}
		if got := len(txnIDs(t, db)); got != recorded {
			t.Errorf("re-spelled ids were recorded as new transactions: %q", txnIDs(t, db))
		}
		wantEventIDs(t, db, want...)
	})
}

func TestTransactionConcurrentRetries(t *testing.T) {
	// A homeserver that timed out may resend while the first request is
	// still being stored: every copy gets 200 and the events land once.
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		body := txnBody(event("$c1", "!r:example.org"), event("$c2", "!r:example.org"), event("$c3", "!s:example.org"))
		const n = 8
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := http.NewRequest("PUT", e.srv.URL+txnPath+"same", strings.NewReader(body))
				if err != nil {
					statuses <- -1
					return
				}
				req.Header.Set("Authorization", "Bearer "+hsToken)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					statuses <- -1
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != http.StatusOK {
				t.Errorf("a concurrent copy got status %d", s)
			}
		}
		wantEventIDs(t, db, "$c1", "$c2", "$c3")
		if got := e.stored.Load(); got != 1 {
			t.Errorf("Stored fired %d times, want 1", got)
		}
	})
}

func TestTransactionDatabaseDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		r := e.putTxn("t1", event("$lost", "!r:example.org"))
		wantError(t, r, http.StatusInternalServerError, appservice.ErrUnknown)
		if n := e.stored.Load(); n != 0 {
			t.Errorf("Stored fired although nothing was stored")
		}
		// An empty transaction must not be acknowledged either: its txn id
		// could not be recorded.
		wantError(t, e.putTxn("t2"), http.StatusInternalServerError, appservice.ErrUnknown)
	})
}

func TestPing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		wantEmptyOK(t, e.do("POST", pingPath, hsToken, `{"transaction_id":"mautrix-go_1683636478256400935_123"}`))
		wantEmptyOK(t, e.do("POST", pingPath, hsToken, `{}`))
		// The body is optional in the spec.
		wantEmptyOK(t, e.do("POST", pingPath, hsToken, ``))
		wantError(t, e.do("POST", pingPath, hsToken, `{"transaction_id":`), 400, appservice.ErrNotJSON)
		wantError(t, e.do("POST", pingPath, hsToken, `{"transaction_id":5}`), 400, appservice.ErrBadJSON)
		wantError(t, e.do("POST", pingPath, hsToken, `{"pad":"`+strings.Repeat("x", 70<<10)+`"}`), 413, appservice.ErrTooLarge)
	})
}

func TestUserQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		users := "/_matrix/app/v1/users/"
		for _, p := range []string{users + "@alice:example.org", users + "%40alice%3Aexample.org", users + "@pizza:example.com", users + "pizza", users + "@pizza", "/users/@alice:example.org"} {
			wantError(t, e.do("GET", p, hsToken, ""), 404, appservice.ErrNotFound)
		}
		if got := e.users.calls(); len(got) != 0 {
			t.Fatalf("EnsureUser called for users that are not bots: %v", got)
		}

		wantEmptyOK(t, e.do("GET", users+"%40pizza%3Aexample.org", hsToken, ""))
		wantEmptyOK(t, e.do("GET", users+"@bizbots:example.org", hsToken, ""))
		wantEmptyOK(t, e.do("GET", "/users/@pizza:example.org", hsToken, ""))
		want := []id.UserID{"@pizza:example.org", "@bizbots:example.org", "@pizza:example.org"}
		if got := e.users.calls(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("EnsureUser calls %v, want %v", got, want)
		}

		// The user must exist after a 200: if it cannot be created, say so.
		e.users.err = errors.New("homeserver unreachable")
		wantError(t, e.do("GET", users+"@pizza:example.org", hsToken, ""), 500, appservice.ErrUnknown)
	})
}

func TestUserQueryWithoutProvisioner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := httptest.NewServer(&appservice.Server{DB: db, HSToken: hsToken, MaxBodyBytes: maxBody, Log: zerolog.Nop()})
		defer srv.Close()
		e := &env{t: t, db: db, srv: srv}
		wantError(t, e.do("GET", "/_matrix/app/v1/users/@pizza:example.org", hsToken, ""), 404, appservice.ErrNotFound)
		// Stored may be nil too.
		wantEmptyOK(t, e.putTxn("t1", event("$e", "!r:example.org")))
		wantEventIDs(t, db, "$e")
	})
}

func TestRoomQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for _, p := range []string{"/_matrix/app/v1/rooms/%23shop%3Aexample.org", "/_matrix/app/v1/rooms/%23pizza:example.org", "/rooms/%23shop:example.org"} {
			wantError(t, e.do("GET", p, hsToken, ""), 404, appservice.ErrNotFound)
		}
	})
}

func TestTokensNeverLogged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		wrong := "wr0ngt0kenwr0ngt0kenwr0ngt0kenwr0ngt0ken"
		e.do("POST", pingPath, wrong, "{}")
		e.do("POST", pingPath+"?access_token="+wrong, "", "{}")
		e.do("POST", pingPath+"?access_token="+url.QueryEscape(hsToken), wrong, "{}")
		e.putTxn("t1", event("$e", "!r:example.org"))
		e.do("PUT", txnPath+"t2?access_token="+hsToken, "", txnBody(event("$f", "!r:example.org")))
		e.do("PUT", txnPath+"t3", hsToken, `{"events":`)
		e.srv.Close() // waits for handlers, so the log is complete
		logs := e.logs.String()
		if !strings.Contains(logs, "wrong hs_token") {
			t.Fatalf("expected a warning about the wrong token; logs:\n%s", logs)
		}
		for _, secret := range []string{hsToken, wrong} {
			if strings.Contains(logs, secret) {
				t.Errorf("a token was logged:\n%s", logs)
			}
		}
	})
}
