package appservice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mevent "maunium.net/go/mautrix/event"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// rawEvent is an m.room.message with the given JSON fragments spliced in
// (already JSON-encoded values).
func rawEvent(eventID, roomID, sender, ts, body string) string {
	s := `{"event_id":` + eventID + `,"room_id":` + roomID + `,"type":"m.room.message"`
	if sender != "" {
		s += `,"sender":` + sender
	}
	return s + `,"origin_server_ts":` + ts + `,"content":{"msgtype":"m.text","body":` + body + `}}`
}

// parsed decodes a stored event the way the dispatcher does.
func parsed(t *testing.T, r inboxRow) *mevent.Event {
	t.Helper()
	if !utf8.ValidString(r.JSON) || strings.Contains(r.JSON, `\u0000`) {
		t.Errorf("stored event %s is not clean text: %q", r.EventID, r.JSON)
	}
	evt := &mevent.Event{}
	if err := json.Unmarshal([]byte(r.JSON), evt); err != nil {
		t.Fatalf("stored event %s cannot be read by the dispatcher: %v\n%s", r.EventID, err, r.JSON)
	}
	_ = evt.Content.ParseRaw(evt.Type)
	return evt
}

// NUL and invalid UTF-8 in content and display names are stored cleaned
// (U+FFFD) on both engines: on Postgres they used to fail every commit of
// the room, and the message was lost after the retries.
func TestTransactionCleansContent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		member := `{"event_id":"$m","room_id":"!r:example.org","sender":"@eve:example.org","type":"m.room.member",` +
			`"state_key":"@eve:example.org","origin_server_ts":1,"content":{"membership":"join","displayname":"E\u0000ve <b>"}}`
		wantEmptyOK(t, e.putTxn("t1",
			rawEvent(`"$nul"`, `"!r:example.org"`, `"@alice:example.org"`, "1700000000123", `"hello a\u0000b"`),
			rawEvent(`"$utf8"`, `"!r:example.org"`, `"@alice:example.org"`, "1700000000124", "\"caf\xe9 \xff\""),
			member,
		))
		rows := wantEventIDs(t, db, "$nul", "$utf8", "$m")
		if got := parsed(t, rows[0]).Content.AsMessage().Body; got != "hello a\uFFFDb" {
			t.Errorf("body with NUL stored as %q", got)
		}
		if got := parsed(t, rows[1]).Content.AsMessage().Body; got != "caf\uFFFD \uFFFD" {
			t.Errorf("body with invalid UTF-8 stored as %q", got)
		}
		if got := parsed(t, rows[2]).Content.AsMember().Displayname; got != "E\uFFFDve <b>" {
			t.Errorf("display name with NUL stored as %q", got)
		}
		if rows[0].OriginTS != 1700000000123 || parsed(t, rows[0]).Timestamp != 1700000000123 {
			t.Errorf("re-encoding changed the time: %d", rows[0].OriginTS)
		}
	})
}

// Events whose ids the Matrix grammar does not allow are dropped alone, on
// both engines alike; the transaction is acknowledged so the homeserver
// does not resend it forever, and the good events in it are stored.
func TestTransactionDropsInvalidIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		long := `"$` + strings.Repeat("x", 300) + `"`
		room, alice, ts, body := `"!r:example.org"`, `"@alice:example.org"`, "1", `"hi"`
		wantEmptyOK(t, e.putTxn("t1",
			rawEvent(`"$ok1"`, room, alice, ts, body),
			rawEvent(`"$a\u0000b"`, room, alice, ts, body),               // NUL in the event id
			rawEvent(`"$a"`, room, alice, ts, body),                      // would collide with the one above on SQLite
			rawEvent(long, room, alice, ts, body),                        // over 255 bytes
			rawEvent(`"nosigil"`, room, alice, ts, body),                 // no $
			rawEvent(`"$r1"`, "\"!r\xff:example.org\"", alice, ts, body), // invalid UTF-8 in the room id
			rawEvent(`"$s1"`, room, `"@al\u0000ice:example.org"`, ts, body),
			rawEvent(`"$s2"`, room, "\"@al\xffice:example.org\"", ts, body),
			rawEvent(`"$nosender"`, room, "", ts, body),
			rawEvent(`"$emptysender"`, room, `""`, ts, body),
			`{"event_id":"$sk","room_id":"!r:example.org","sender":"@a:example.org","type":"m.room.member","state_key":"@a\u0000","content":{}}`,
			`{"event_id":"$ty","room_id":"!r:example.org","sender":"@a:example.org","type":"`+strings.Repeat("t", 300)+`","content":{}}`,
			rawEvent(`"$ok2"`, room, alice, ts, body),
		))
		wantEventIDs(t, db, "$ok1", "$a", "$ok2")
		logs := e.logs.String()
		for _, reason := range []string{`"invalid_id":8`, `"no_sender":2`} {
			if !strings.Contains(logs, reason) {
				t.Errorf("log does not count %s: %s", reason, logs)
			}
		}
		for _, r := range inbox(t, db) {
			if r.Sender == "" {
				t.Errorf("event %s stored with no sender", r.EventID)
			}
		}
	})
}

// Any transaction id the homeserver uses is acknowledged and deduplicated:
// one over Postgres' index limit, or with NUL or invalid UTF-8 in it, used
// to get 500 on every retry and hold up every later transaction.
func TestTransactionOddIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		for i, id := range []string{strings.Repeat("t", 3000), "a\x00b", "a\xffb", "a\x00c"} {
			path := txnPath + url.PathEscape(id)
			ev := event(fmt.Sprintf("$odd%d", i), "!r:example.org")
			wantEmptyOK(t, e.do(http.MethodPut, path, hsToken, txnBody(ev)))
			// The replay is recognised as one.
			wantEmptyOK(t, e.do(http.MethodPut, path, hsToken, txnBody(ev)))
		}
		wantEventIDs(t, db, "$odd0", "$odd1", "$odd2", "$odd3")
		if ids := txnIDs(t, db); len(ids) != 4 {
			t.Fatalf("recorded txn ids %q, want 4 distinct", ids)
		}
		for _, r := range inbox(t, db) {
			if len(r.TxnID) > 255 || !utf8.ValidString(r.TxnID) || strings.ContainsRune(r.TxnID, 0) {
				t.Errorf("event %s recorded with txn id %q", r.EventID, r.TxnID)
			}
		}
	})
}

// An origin_server_ts that is a float, negative, huge or not a number is
// accepted and made a whole number of milliseconds the dispatcher can
// read; the event used to be dropped silently.
func TestTransactionNormalisesTimestamps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		room, alice, body := `"!r:example.org"`, `"@alice:example.org"`, `"hi"`
		before := store.Now()
		wantEmptyOK(t, e.putTxn("t1",
			rawEvent(`"$float"`, room, alice, "1700000000123.9", body),
			rawEvent(`"$exp"`, room, alice, "1.7e12", body),
			rawEvent(`"$neg"`, room, alice, "-5", body),
			rawEvent(`"$huge"`, room, alice, "1e300", body),
			rawEvent(`"$str"`, room, alice, `"yesterday"`, body),
		))
		after := store.Now()
		rows := wantEventIDs(t, db, "$float", "$exp", "$neg", "$huge", "$str")
		want := map[string]int64{"$float": 1700000000123, "$exp": 1700000000000}
		for _, r := range rows {
			ts := parsed(t, r).Timestamp
			if ts != r.OriginTS {
				t.Errorf("%s: stored ts %d, event says %d", r.EventID, r.OriginTS, ts)
			}
			if w, ok := want[r.EventID]; ok && ts != w {
				t.Errorf("%s: ts %d, want %d", r.EventID, ts, w)
			}
			if _, ok := want[r.EventID]; !ok && (ts < before || ts > after) {
				t.Errorf("%s: ts %d, want the time it was received", r.EventID, ts)
			}
		}
	})
}

// A database that stops answering gets the homeserver a 500 within a few
// seconds, so it retries, instead of holding the request for the whole
// outage; once the database answers again the retry is stored.
func TestTransactionDatabaseSilent(t *testing.T) {
	uri, proxy := storetest.PostgresViaProxy(t)
	db, err := store.OpenWith(context.Background(), uri, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db)
	wantEmptyOK(t, e.putTxn("t0", event("$before", "!r:example.org")))
	proxy.Freeze()
	start := time.Now()
	r := e.putTxn("t1", event("$during", "!r:example.org"))
	wantError(t, r, http.StatusInternalServerError, appservice.ErrUnknown)
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("intake answered after %v with the database silent", took)
	}
	proxy.Thaw()
	waitFor(t, "the retried transaction to be stored", func() bool {
		return e.putTxn("t1", event("$during", "!r:example.org")).status == http.StatusOK
	})
	wantEventIDs(t, db, "$before", "$during")
}

// waitFor polls cond until it holds, failing the test after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
