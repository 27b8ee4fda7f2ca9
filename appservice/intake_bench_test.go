package appservice_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/appservice"
	"github.com/bizbots/bizbots/internal/benchreport"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// benchTxnEvents is the size of the transactions intake is measured with:
// the most Synapse puts in one.
const benchTxnEvents = 100

const benchHSToken = "bench_hs_token_0123456789abcdef0123456789abcdef"

// BenchmarkIntake measures PUT /transactions/{txnId} through
// appservice.Server.ServeHTTP, from request to durable commit and 200,
// with 100 new m.room.message events (in 10 rooms) per transaction, one
// transaction at a time as a homeserver sends them. One op is one
// transaction; events/s is events stored per second, p50-ms and p99-ms
// the latency of one transaction.
func BenchmarkIntake(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.New(b, d)
			srv := &appservice.Server{DB: db, HSToken: benchHSToken, MaxBodyBytes: 10 << 20, Log: zerolog.Nop()}
			// A few warm-up transactions: connections open, statements cached.
			for i := 0; i < 3; i++ {
				benchPut(b, srv, fmt.Sprintf("warm-%d", i), benchBody(fmt.Sprintf("warm%d", i)))
			}
			bodies := make([][]byte, b.N)
			for i := range bodies {
				bodies[i] = benchBody(fmt.Sprintf("%d", i))
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				benchPut(b, srv, fmt.Sprintf("txn-%d", i), bodies[i])
				lat = append(lat, time.Since(t0))
			}
			elapsed := time.Since(start)
			b.StopTimer()
			benchreport.Throughput(b, b.N*benchTxnEvents, elapsed)
			benchreport.Latency(b, lat)
			benchCheckInbox(b, db, (b.N+3)*benchTxnEvents)
		})
	}
}

func benchPut(b *testing.B, srv http.Handler, txnID string, body []byte) {
	req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+benchHSToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("transaction %s: %d %s", txnID, rec.Code, rec.Body)
	}
}

// benchBody is a transaction of benchTxnEvents text messages spread over
// 10 rooms, shaped like Synapse's (unsigned age included).
func benchBody(tag string) []byte {
	events := make([]map[string]any, benchTxnEvents)
	now := time.Now().UnixMilli()
	for j := range events {
		events[j] = map[string]any{
			"event_id":         fmt.Sprintf("$bench_%s_%d", tag, j),
			"room_id":          fmt.Sprintf("!room%d:example.org", j%10),
			"sender":           fmt.Sprintf("@customer%d:example.org", j%10),
			"type":             "m.room.message",
			"origin_server_ts": now,
			"content":          map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("Two large margheritas and a cola, please (%s/%d)", tag, j)},
			"unsigned":         map[string]any{"age": 12},
		}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		panic(err)
	}
	return body
}

func benchCheckInbox(b *testing.B, db *store.DB, want int) {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM inbox`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n != want {
		b.Fatalf("inbox holds %d events, want %d", n, want)
	}
}
