// Package queuemetrics exposes the depth of bizbots' durable queues as
// Prometheus gauges, read from the database at each scrape: how much work
// waits in the inbox and the outbox and how old the oldest is, how many
// events are parked and how many replies failed. These are what an alert
// watches during a homeserver outage (waiting replies and their age grow,
// failed stays 0) and after a bad deploy (parked grows). It reads only
// aggregates; the per-bot detail is `bizbots status`.
package queuemetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/store"
)

var (
	waitingDesc = prometheus.NewDesc("bizbots_queue_waiting",
		"Rows waiting in a queue: events not yet handled (inbox), replies not yet sent (outbox), retries included.",
		[]string{"queue"}, nil)
	oldestDesc = prometheus.NewDesc("bizbots_queue_oldest_waiting_seconds",
		"Age of the oldest waiting row of a queue (0 when none waits).",
		[]string{"queue"}, nil)
	parkedDesc = prometheus.NewDesc("bizbots_inbox_parked_events",
		"Events parked after repeated handler failures; `bizbots retry` re-queues them.", nil, nil)
	failedDesc = prometheus.NewDesc("bizbots_outbox_failed_replies",
		"Replies the homeserver refused for good; `bizbots retry` re-queues them.", nil, nil)
)

// scrapeTimeout bounds the queries of one scrape: a slow database must
// not hang the metrics endpoint.
const scrapeTimeout = 3 * time.Second

// Collector reads the queue gauges from a database.
type Collector struct {
	DB  *store.DB
	Log zerolog.Logger
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- waitingDesc
	ch <- oldestDesc
	ch <- parkedDesc
	ch <- failedDesc
}

// Collect implements prometheus.Collector. When the database does not
// answer it reports nothing (the gauges go absent, which alerts can see)
// rather than failing the whole scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	in, out, err := c.DB.QueueDepths(ctx)
	if err != nil {
		c.Log.Warn().Err(err).Msg("cannot read queue depths for metrics")
		return
	}
	for _, q := range []struct {
		name string
		s    store.QueueSummary
	}{{store.QueueInbox, in}, {store.QueueOutbox, out}} {
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(q.s.Waiting), q.name)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, q.s.OldestWaitingSeconds, q.name)
	}
	ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(in.Stuck))
	ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.GaugeValue, float64(out.Stuck))
}
