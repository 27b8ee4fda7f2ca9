package appservice_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// FuzzTransaction sends arbitrary transaction bodies and ids to intake
// (SQLite): the answer is 200 or a 4xx with a Matrix errcode, never a 5xx
// the homeserver would retry forever, and sending the same again gets the
// same status.
func FuzzTransaction(f *testing.F) {
	ev := func(extra string) string {
		return `{"event_id":"$e1","room_id":"!r:example.org","sender":"@c:example.org","type":"m.room.message","origin_server_ts":1` +
			extra + `,"content":{"msgtype":"m.text","body":"hi"}}`
	}
	for _, seed := range []struct{ id, body string }{
		{"t1", `{"events":[` + ev("") + `]}`},
		{"t2", `{"events":[]}`},
		{"t3", `{"events":[` + ev(`,"state_key":""`) + `,` + ev("") + `]}`},
		{"t4", `{"events":[{"event_id":"$x","room_id":"!r:e","type":"m.room.message","origin_server_ts":1.5}]}`},
		{"t5", `{"events":[1,"x",null,{}],"ephemeral":[{"type":"m.typing"}],"to_device":[]}`},
		{"t6", `{"events":{}}`},
		{"t7", `{"events":[` + ev("") + `]`},
		{"a b/c", `{"events":[]}`},
		{"nul\x00id", `{"events":[]}`},
		{"t8", "{\"events\":[{\"event_id\":\"$\xff\",\"room_id\":\"!r:e\",\"type\":\"m.room.message\"}]}"},
		{"t9", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`},
		{"", ``},
	} {
		f.Add(seed.id, []byte(seed.body))
	}
	db := storetest.New(f, store.SQLite)
	srv := &appservice.Server{DB: db, HSToken: hsToken, MaxBodyBytes: 64 << 10, Log: zerolog.Nop()}
	put := func(txnID string, body []byte) (int, string) {
		req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+url.PathEscape(txnID), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+hsToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var e struct {
			Errcode string `json:"errcode"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		return rec.Code, e.Errcode
	}
	f.Fuzz(func(t *testing.T, txnID string, body []byte) {
		status, errcode := put(txnID, body)
		switch {
		case status >= 500:
			t.Fatalf("txn %q body %q: %d %s; a homeserver would retry it forever", txnID, body, status, errcode)
		case status != http.StatusOK && errcode == "":
			t.Fatalf("txn %q body %q: %d without an errcode", txnID, body, status)
		}
		if again, _ := put(txnID, body); again != status {
			t.Fatalf("txn %q body %q: %d, then %d on the retry", txnID, body, status, again)
		}
	})
}
