// Package sender delivers the outbox to the homeserver, as each row's bot.
//
// Each room's rows go out in order (a room is leased, like the inbox);
// many rooms are sent in parallel over one pooled transport. The Matrix
// transaction id of a row is derived from the row, so a resend after a
// crash or a lost lease is deduplicated by the homeserver and the customer
// sees every reply exactly once. 429 (honouring retry_after_ms), 5xx and
// network failures are retried with capped exponential backoff; any other
// 4xx marks the row failed with the homeserver's reason. The sender never
// decides what to say: only handlers (through the dispatcher) fill the
// outbox.
package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/store"
)

var (
	sends = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_sender_events_total",
		Help: "Outbox rows processed, by result (sent, retry, failed).",
	}, []string{"result"})
	sendSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "bizbots_sender_send_seconds",
		Help:    "Duration of one send request to the homeserver.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	queueDelay = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "bizbots_sender_queue_seconds",
		Help:    "Time from a reply's commit to its delivery.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	})
)

// Options tune the sender.
type Options struct {
	Workers      int
	MaxAttempts  int
	RetryBase    time.Duration
	MaxBackoff   time.Duration
	LeaseTimeout time.Duration
	PollInterval time.Duration
}

// Transport delivers one event as a bot. *hsclient.Client is the real
// one; the playground prints to a terminal instead.
type Transport interface {
	Send(ctx context.Context, bot id.UserID, room id.RoomID, eventType, txnID string, content json.RawMessage) (id.EventID, error)
}

// Sender delivers outbox rows.
type Sender struct {
	db    *store.DB
	hs    Transport
	opts  Options
	owner string
	log   zerolog.Logger
	queue *roomqueue.Queue
}

// New returns a sender.
func New(db *store.DB, hs Transport, opts Options, log zerolog.Logger) *Sender {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 12
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.LeaseTimeout <= 0 {
		opts.LeaseTimeout = 2 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	s := &Sender{db: db, hs: hs, opts: opts, log: log, owner: roomqueue.OwnerID("send")}
	s.queue = &roomqueue.Queue{
		Name: "outbox", Workers: opts.Workers, Poll: opts.PollInterval, Log: log,
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			return db.PendingRooms(ctx, store.QueueOutbox, limit)
		},
		Work: s.sendRoom,
	}
	return s
}

// Wake tells the sender new rows may be waiting. It never blocks.
func (s *Sender) Wake() { s.queue.Wake() }

// Drain handles, in the caller's goroutine, everything due now.
func (s *Sender) Drain(ctx context.Context) error { return s.queue.Drain(ctx) }

// Run sends until ctx is cancelled, then waits for in-flight sends.
func (s *Sender) Run(ctx context.Context) error {
	s.log.Info().Int("workers", s.opts.Workers).Msg("sender started")
	s.queue.Run(ctx)
	return nil
}

const roomBatch = 50

// sendRoom sends a room's due rows in order. It returns false when the
// room cannot move now (another process holds it, a row waits for its
// retry, or the database failed), so the queue leaves the room alone until
// its next poll.
func (s *Sender) sendRoom(ctx context.Context, room string) bool {
	return roomqueue.Leased(ctx, s.db, store.QueueOutbox, room, s.owner, s.opts.LeaseTimeout, s.log,
		func() bool { return s.sendLeasedRoom(ctx, room) })
}

// sendLeasedRoom sends a room's due rows while this process holds its
// lease.
func (s *Sender) sendLeasedRoom(ctx context.Context, room string) bool {
	for i := 0; i < roomBatch && ctx.Err() == nil; i++ {
		// Sends can be slow; keep the room ours for the whole batch.
		if i > 0 {
			if err := store.RenewLease(ctx, s.db, store.QueueOutbox, room, s.owner, s.opts.LeaseTimeout.Milliseconds()); err != nil {
				if ctx.Err() == nil {
					s.log.Warn().Err(err).Str("room_id", room).Msg("lost the room's send lease; another process continues")
				}
				return false
			}
		}
		row, err := s.db.NextOutboxRow(ctx, room)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error().Err(err).Str("room_id", room).Msg("cannot read room's next reply")
			}
			return false
		}
		if row == nil {
			return true
		}
		if row.RetryAt > store.Now() {
			return false
		}
		if !s.send(ctx, row) {
			return false
		}
	}
	return true
}

// SentFinder is implemented by transports that can look for an event a
// bot already sent with a given txn id (hsclient.Client does).
type SentFinder interface {
	FindSent(ctx context.Context, bot id.UserID, room id.RoomID, txnID string) (id.EventID, bool, error)
}

// sendTimeout bounds one send. Sends are not cut off by shutdown: a send
// aborted mid-request may still be stored by the homeserver without its
// txn id being remembered, which would let the resend duplicate it.
const sendTimeout = 30 * time.Second

// send delivers one row and records the result. It returns false when the
// room must wait (a retry is scheduled).
func (s *Sender) send(ctx context.Context, row *store.OutboxRow) bool {
	log := s.log.With().Int64("outbox_id", row.ID).Str("room_id", row.RoomID).Str("bot", row.BotUserID).Logger()
	// Results are recorded even while shutting down.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	defer cancel()
	txnID := s.db.MatrixTxnID(row.ID)
	bot, room := id.UserID(row.BotUserID), id.RoomID(row.RoomID)
	content, err := s.content(row, txnID)
	if err != nil {
		s.finish(ctx, log, s.db.MarkOutboxFailed(wctx, row.ID, err.Error()), "failed")
		log.Error().Err(err).Msg("reply can never be sent")
		return true
	}
	if row.Attempts > 0 {
		// An earlier attempt may have been stored although we never
		// heard back (crash, timeout): look before sending again.
		if f, ok := s.hs.(SentFinder); ok {
			eventID, found, err := f.FindSent(wctx, bot, room, txnID)
			switch {
			case err != nil:
				log.Debug().Str("reason", hsclient.Classify(err).Reason).Msg("cannot check for an earlier delivery; relying on the txn id")
			case found:
				s.finish(ctx, log, s.db.MarkOutboxSent(wctx, row.ID, eventID.String()), "sent")
				log.Info().Str("event_id", eventID.String()).Str("txn_id", txnID).Msg("reply was already delivered by an earlier attempt")
				return true
			}
		}
	}
	if err := s.db.MarkOutboxAttempt(wctx, row.ID); err != nil {
		log.Error().Err(err).Msg("cannot count the send attempt; will try later")
		return false
	}
	attempt := row.Attempts + 1
	start := time.Now()
	eventID, err := s.hs.Send(wctx, bot, room, row.Type, txnID, content)
	sendSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		queueDelay.Observe(time.Since(time.UnixMilli(row.CreatedAt)).Seconds())
		s.finish(ctx, log, s.db.MarkOutboxSent(wctx, row.ID, eventID.String()), "sent")
		log.Debug().Str("event_id", eventID.String()).Str("txn_id", txnID).Msg("reply sent")
		return true
	}
	v := hsclient.Classify(err)
	if !v.Retry {
		s.finish(ctx, log, s.db.MarkOutboxFailed(wctx, row.ID, v.Reason), "failed")
		log.Error().Str("reason", v.Reason).Msg("homeserver refused the reply; marked failed")
		return true
	}
	if attempt >= s.opts.MaxAttempts {
		reason := fmt.Sprintf("gave up after %d attempts: %s", attempt, v.Reason)
		s.finish(ctx, log, s.db.MarkOutboxFailed(wctx, row.ID, reason), "failed")
		log.Error().Str("reason", v.Reason).Int("attempts", attempt).Msg("reply could not be delivered; marked failed")
		return true
	}
	delay := hsclient.Backoff(attempt-1, s.opts.RetryBase, s.opts.MaxBackoff, v.After)
	s.finish(ctx, log, s.db.RetryOutboxRow(wctx, row.ID, store.Now()+delay.Milliseconds(), v.Reason), "retry")
	log.Warn().Str("reason", v.Reason).Int("attempt", attempt).Dur("retry_in", delay).Msg("send failed; will retry")
	return false
}

func (s *Sender) finish(ctx context.Context, log zerolog.Logger, err error, result string) {
	sends.WithLabelValues(result).Inc()
	if err != nil && ctx.Err() == nil {
		// The row stays pending and is sent again with the same txn id:
		// the homeserver deduplicates it.
		log.Error().Err(err).Str("result", result).Msg("cannot record send result")
	}
}

// content returns the row's content stamped with its txn id (see
// hsclient.TxnMarkerKey), with m.relates_to.event_id filled in from its
// parent row's sent event.
func (s *Sender) content(row *store.OutboxRow, txnID string) (json.RawMessage, error) {
	var c map[string]any
	if err := json.Unmarshal(row.Content, &c); err != nil || c == nil {
		return nil, fmt.Errorf("content is not a JSON object: %v", err)
	}
	c[hsclient.TxnMarkerKey] = txnID
	if row.ParentID != nil {
		if row.ParentEventID == "" {
			return nil, fmt.Errorf("the message it relates to (outbox %d) was not sent (%s)", *row.ParentID, row.ParentStatus)
		}
		rel, _ := c["m.relates_to"].(map[string]any)
		if rel == nil {
			rel = map[string]any{}
		}
		rel["event_id"] = row.ParentEventID
		c["m.relates_to"] = rel
	}
	return json.Marshal(c)
}
