package queuemetrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/internal/queuemetrics"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			out[name] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestGaugesFollowTheQueues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		reg.MustRegister(&queuemetrics.Collector{DB: db, Log: zerolog.Nop()})
		g := gauges(t, reg)
		for _, name := range []string{"bizbots_queue_waiting/inbox", "bizbots_queue_waiting/outbox",
			"bizbots_inbox_parked_events", "bizbots_outbox_failed_replies", "bizbots_queue_oldest_waiting_seconds/outbox"} {
			if v, ok := g[name]; !ok || v != 0 {
				t.Fatalf("empty database: %s = %v (present %v)", name, v, ok)
			}
		}
		var ids []int64
		err := db.Tx(ctx, func(tx store.Tx) error {
			var err error
			ids, err = store.AppendOutbox(ctx, tx, []store.OutgoingEvent{
				{RoomID: "!a:x", BotUserID: "@b:x", Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1},
				{RoomID: "!a:x", BotUserID: "@b:x", Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MarkOutboxFailed(ctx, ids[0], 1, "403"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.StoreTransaction(ctx, "t", []store.IncomingEvent{{EventID: "$1", RoomID: "!a:x", Sender: "@u:x",
			Type: "m.room.message", OriginTS: 1, JSON: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		g = gauges(t, reg)
		if g["bizbots_queue_waiting/outbox"] != 1 || g["bizbots_outbox_failed_replies"] != 1 ||
			g["bizbots_queue_waiting/inbox"] != 1 || g["bizbots_inbox_parked_events"] != 0 {
			t.Fatalf("gauges %v", g)
		}
		db.Close()
		if g := gauges(t, reg); len(g) != 0 {
			t.Fatalf("a database that does not answer still reports %v", g)
		}
	})
}
