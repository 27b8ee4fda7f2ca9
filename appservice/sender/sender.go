// Package sender delivers the outbox to the homeserver, as each row's bot.
//
// Each room's rows go out in order (a room is leased, like the inbox);
// many rooms are sent in parallel over one pooled transport. The Matrix
// transaction id of a row is derived from the row, so a resend after a
// crash or a lost lease is deduplicated by the homeserver and the customer
// sees every reply exactly once.
//
// A reply is never given up because the homeserver is unreachable,
// overloaded or failing: 429 (honouring retry_after_ms), 5xx, timeouts and
// network failures are retried for as long as it takes, with capped,
// jittered exponential backoff, and the room's later replies wait behind
// it so they arrive in order (Synapse's own appservice sender does the
// same). Only a permanent refusal (see hsclient.Classify) marks a row
// failed, with the homeserver's reason; an admin can re-queue it (`bizbots
// retry`). Each request has its own timeout, well under the room's lease,
// and its outcome is recorded under a fresh deadline; a room waiting for
// its retry holds no worker, so one hung room cannot starve the others.
// The sender never decides what to say: only handlers (through the
// dispatcher) fill the outbox.
package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/internal/backoff"
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

// Options tune the sender. There is deliberately no attempt limit: an
// outage of any length must not turn into lost replies.
type Options struct {
	Workers    int
	RetryBase  time.Duration
	MaxBackoff time.Duration
	// RequestTimeout bounds one homeserver request (a send, or the look-up
	// for an earlier delivery). It is kept to at most a third of
	// LeaseTimeout, so the look-up and the send of one row both fit in the
	// room's lease with room to spare.
	RequestTimeout time.Duration
	LeaseTimeout   time.Duration
	PollInterval   time.Duration
	// Encrypter, when set, seals rows bound for encrypted rooms (see
	// encrypt.go).
	Encrypter Encrypter
}

// DefaultRequestTimeout is Options.RequestTimeout when unset.
const DefaultRequestTimeout = 20 * time.Second

// recordTimeout bounds each database update that records a send's
// outcome; it starts when the update does, never shared with the request.
const recordTimeout = 10 * time.Second

// Transport delivers one event as a bot. *hsclient.Client is the real
// one; the playground prints to a terminal instead.
type Transport interface {
	Send(ctx context.Context, bot id.UserID, room id.RoomID, eventType, txnID string, content json.RawMessage) (id.EventID, error)
}

// Sender delivers outbox rows.
type Sender struct {
	db      *store.DB
	hs      Transport
	opts    Options
	owner   string
	log     zerolog.Logger
	queue   *roomqueue.Queue
	leases  *roomqueue.Leases
	backoff backoff.Policy
	mu      sync.Mutex
	// unrecorded are the rows whose attempt's outcome this process could
	// not record (the database failed): they may have been delivered.
	unrecorded map[int64]bool
	// takenOver are the rooms taken over from a sender that died: their
	// first pending reply may have been delivered.
	takenOver map[string]bool
	// retrying holds a token for each worker busy with a row that may
	// have been attempted before. Retries may use only half the workers:
	// a homeserver that hangs on some rooms must not hold every worker
	// with their retries while rooms it answers wait for one.
	retrying chan struct{}
}

// New returns a sender.
func New(db *store.DB, hs Transport, opts Options, log zerolog.Logger) *Sender {
	if opts.Workers < 1 {
		opts.Workers = 1
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
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	opts.RequestTimeout = min(opts.RequestTimeout, opts.LeaseTimeout/3)
	s := &Sender{db: db, hs: hs, opts: opts, log: log, owner: roomqueue.OwnerID("send"),
		backoff:    backoff.Policy{Base: opts.RetryBase, Max: opts.MaxBackoff},
		unrecorded: map[int64]bool{},
		takenOver:  map[string]bool{},
		retrying:   make(chan struct{}, max(1, opts.Workers/2))}
	s.leases = &roomqueue.Leases{DB: db, Queue: store.QueueOutbox, Owner: s.owner, TTL: opts.LeaseTimeout, Log: log,
		TookOver: func(room string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.takenOver[room] = true
		}}
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

// WakeRooms tells the sender these rooms have new rows (none named: look
// everywhere, as Wake). It never blocks.
func (s *Sender) WakeRooms(rooms ...string) {
	if len(rooms) == 0 {
		s.Wake()
		return
	}
	s.queue.WakeRooms(rooms...)
}

// Drain handles, in the caller's goroutine, everything due now.
func (s *Sender) Drain(ctx context.Context) error {
	defer s.leases.ReleaseAll(ctx)
	return s.queue.Drain(ctx)
}

// Run sends until ctx is cancelled, then waits for in-flight sends.
func (s *Sender) Run(ctx context.Context) error {
	s.log.Info().Int("workers", s.opts.Workers).Dur("request_timeout", s.opts.RequestTimeout).Msg("sender started")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.leases.Run(ctx)
	}()
	s.queue.Run(ctx)
	<-done
	s.leases.ReleaseAll(ctx)
	return nil
}

const roomBatch = 50

// sendRoom sends a room's due rows in order, read in one batch. It is
// Stuck when the room cannot move now (another process holds it, a row
// waits for its retry, or the database failed), so the queue leaves the
// room alone until its next poll.
func (s *Sender) sendRoom(ctx context.Context, room string) roomqueue.Outcome {
	if !s.leases.Hold(ctx, room) {
		return roomqueue.Stuck
	}
	defer s.leases.Done(room)
	rows, err := s.db.PendingOutboxRows(ctx, room, roomBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error().Err(err).Str("room_id", room).Msg("cannot read room's next replies")
		}
		return roomqueue.Stuck
	}
	// Rows sent in this batch, for the rows after them that relate to
	// them (the parent's event id was not known when they were read).
	sent := map[int64]id.EventID{}
	for i, row := range rows {
		// Sends can be slow; keep the room ours for the whole batch.
		if ctx.Err() != nil || !s.leases.Hold(ctx, room) {
			return roomqueue.Stuck
		}
		if row.RetryAt > store.Now() {
			return roomqueue.Stuck
		}
		withParent(row, sent)
		var ahead *sealAhead
		if i+1 < len(rows) && s.sealsAhead(rows[i+1]) {
			ahead = &sealAhead{row: rows[i+1], sent: sent}
		}
		eventID, ok := s.sendRow(ctx, row, ahead)
		if !ok {
			return roomqueue.Stuck
		}
		sent[row.ID] = eventID
	}
	if len(rows) == roomBatch {
		return roomqueue.Again
	}
	return roomqueue.Emptied
}

// withParent fills in the event id of row's parent when the batch sent
// it (sent: outbox id → event id).
func withParent(row *store.OutboxRow, sent map[int64]id.EventID) {
	if row.ParentID != nil && row.ParentEventID == "" {
		if ev, ok := sent[*row.ParentID]; ok {
			row.ParentEventID, row.ParentStatus = ev.String(), "sent"
		}
	}
}

// sealsAhead reports whether row may be sealed in the commit that records
// the row before it as sent: a first attempt, due, not sealed yet, and
// encryption on (whether its room is encrypted is asked then).
func (s *Sender) sealsAhead(row *store.OutboxRow) bool {
	return s.opts.Encrypter != nil && row.Attempts == 0 && row.RetryAt <= store.Now() && row.Type != encryptedType
}

// sendRow sends a row, first taking a retry token if it may have been
// attempted before. A retry that finds every token taken gives the room
// back (false): it is listed again at the next poll, and the worker goes
// to another room. ahead: the row that this one's sent commit seals too
// (nil: none; see sealAhead).
func (s *Sender) sendRow(ctx context.Context, row *store.OutboxRow, ahead *sealAhead) (id.EventID, bool) {
	attempted := s.maybeAttempted(row)
	if attempted {
		select {
		case s.retrying <- struct{}{}:
			defer func() { <-s.retrying }()
		default:
			return "", false
		}
	}
	return s.send(ctx, row, attempted, ahead)
}

// maybeAttempted reports whether an earlier attempt of row may have
// reached the homeserver: one failed, this process could not record one's
// outcome, or row is the first pending reply of a room taken over from a
// sender that died (rows go out in order, so the first one sendRoom
// meets is the one that may have been in flight).
func (s *Sender) maybeAttempted(row *store.OutboxRow) bool {
	if row.Attempts > 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unrecorded[row.ID] || s.takenOver[row.RoomID]
}

// SentFinder is implemented by transports that can look for an event a
// bot already sent with a given txn id (hsclient.Client does).
type SentFinder interface {
	FindSent(ctx context.Context, bot id.UserID, room id.RoomID, txnID string) (id.EventID, bool, error)
}

// send delivers one row and records the result, and returns the event id
// the homeserver gave it ("" if it failed for good). It returns false when
// the room must wait (a retry is scheduled, or the result could not be
// recorded). attempted: an earlier attempt of row may have reached the
// homeserver (see maybeAttempted); ahead is sendRow's.
//
// No attempt is recorded before the send: a reply costs one commit, the
// one that records it sent. Should this process die during the send, the
// sender that takes the room over (see store.TakeLease) looks for the
// reply before sending it again.
func (s *Sender) send(ctx context.Context, row *store.OutboxRow, attempted bool, ahead *sealAhead) (id.EventID, bool) {
	log := s.log.With().Int64("outbox_id", row.ID).Str("room_id", row.RoomID).Str("bot", row.BotUserID).Logger()
	txnID := s.db.MatrixTxnID(row.ID)
	bot, room := id.UserID(row.BotUserID), id.RoomID(row.RoomID)
	content, err := s.content(row, txnID)
	if err != nil {
		return "", s.failed(ctx, log, row, row.Attempts, err.Error())
	}
	if s.opts.Encrypter != nil && row.Type != encryptedType {
		sctx, cancel := s.requestContext(ctx)
		content, err = s.seal(sctx, row, content, txnID, log)
		cancel()
		if err != nil {
			return "", s.retryLater(ctx, log, row, false, hsclient.Verdict{Retry: true, Reason: "cannot encrypt yet: " + err.Error()})
		}
	}
	if attempted {
		// An earlier attempt may have been stored although we never
		// heard back (crash, timeout): look before sending again.
		if f, ok := s.hs.(SentFinder); ok {
			rctx, cancel := s.requestContext(ctx)
			eventID, found, err := f.FindSent(rctx, bot, room, txnID)
			cancel()
			switch {
			case err != nil:
				log.Debug().Str("reason", hsclient.Classify(err).Reason).Msg("cannot check for an earlier delivery; relying on the txn id")
			case found:
				if !s.record(ctx, log, row, "sent", func(c context.Context) error {
					return s.db.MarkOutboxSent(c, row.ID, eventID.String())
				}) {
					return "", false
				}
				log.Info().Str("event_id", eventID.String()).Str("txn_id", txnID).Msg("reply was already delivered by an earlier attempt")
				return eventID, true
			}
		}
	}
	attempt := row.Attempts + 1
	start := time.Now()
	rctx, cancel := s.requestContext(ctx)
	eventID, err := s.hs.Send(rctx, bot, room, row.Type, txnID, content)
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	sendSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		queueDelay.Observe(time.Since(time.UnixMilli(row.CreatedAt)).Seconds())
		if ahead != nil && s.sealNext(ctx, row, eventID, ahead, log) {
			s.settled(row)
			log.Debug().Str("event_id", eventID.String()).Str("txn_id", txnID).Msg("reply sent")
			return eventID, true
		}
		if !s.record(ctx, log, row, "sent", func(c context.Context) error {
			return s.db.MarkOutboxSent(c, row.ID, eventID.String())
		}) {
			return "", false
		}
		log.Debug().Str("event_id", eventID.String()).Str("txn_id", txnID).Msg("reply sent")
		return eventID, true
	}
	v := hsclient.Classify(err)
	if timedOut {
		v = hsclient.Verdict{Retry: true, Reason: fmt.Sprintf("no answer from the homeserver within %s", s.opts.RequestTimeout)}
	}
	if !v.Retry {
		return "", s.failed(ctx, log, row, attempt, v.Reason)
	}
	return "", s.retryLater(ctx, log, row, true, v)
}

// retryLater schedules a row's next attempt (with backoff, never sooner
// than v.After) and returns false: the room waits. sent says the failed
// attempt was a send, which the row's attempts count; a step before the
// send that cannot go on yet (encryption keys not there) calls it too,
// with false.
func (s *Sender) retryLater(ctx context.Context, log zerolog.Logger, row *store.OutboxRow, sent bool, v hsclient.Verdict) bool {
	failures, attempts := row.Attempts+1, row.Attempts
	if sent {
		attempts = failures
	}
	delay := max(s.backoff.Delay(failures), v.After)
	if !s.record(ctx, log, row, "retry", func(c context.Context) error {
		return s.db.RetryOutboxRow(c, row.ID, attempts, store.Now()+delay.Milliseconds(), v.Reason)
	}) {
		return false
	}
	ev := log.Warn()
	if failures > 1 && failures%10 != 0 {
		// An outage retries every room for as long as it lasts: say so
		// at the first failure and every tenth, not at each attempt.
		ev = log.Debug()
	}
	ev.Str("reason", v.Reason).Int("attempt", failures).Dur("retry_in", delay).Msg("send failed; will retry")
	return false
}

// failed records that a row can never be sent, after attempts attempts.
// It returns whether the room may move on (the failure was recorded).
func (s *Sender) failed(ctx context.Context, log zerolog.Logger, row *store.OutboxRow, attempts int, reason string) bool {
	if !s.record(ctx, log, row, "failed", func(c context.Context) error { return s.db.MarkOutboxFailed(c, row.ID, attempts, reason) }) {
		return false
	}
	log.Error().Str("reason", reason).Msg("reply can never be sent; marked failed (bizbots retry re-queues it)")
	return true
}

// requestContext bounds one homeserver request. It is not cut off by
// shutdown: a send aborted mid-request may still be stored by the
// homeserver without its txn id being remembered, which would let the
// resend duplicate it.
func (s *Sender) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.RequestTimeout)
}

// record runs one database update of a send's outcome under its own
// deadline (even while shutting down, and however long the request took)
// and counts it. It returns false, having logged why, when the update
// failed: the row then stays pending, and this process remembers that it
// may have reached the homeserver (the next attempt looks for it first).
// The room's lease is let go without being given back: it expires, and a
// process that takes the room over looks for the reply before sending it.
func (s *Sender) record(ctx context.Context, log zerolog.Logger, row *store.OutboxRow, result string, update func(context.Context) error) bool {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := update(rctx); err != nil {
		log.Error().Err(err).Str("result", result).Msg("cannot record send result; the reply stays pending")
		s.mu.Lock()
		s.unrecorded[row.ID] = true
		s.mu.Unlock()
		s.leases.Lost(row.RoomID)
		return false
	}
	s.settled(row)
	sends.WithLabelValues(result).Inc()
	return true
}

// settled notes that row's outcome is recorded: the room's later rows
// were never attempted.
func (s *Sender) settled(row *store.OutboxRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.unrecorded, row.ID)
	delete(s.takenOver, row.RoomID)
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
