// Package dispatcher turns inbox rows into handler calls. It claims rooms
// (a lease per room in the database, so several bizbots processes can share
// one inbox), handles each room's events strictly in order while many rooms
// run in parallel, decides which bot an event concerns, and commits each
// event's effects (replies into the outbox, state, the inbox row marked
// done) in one database transaction. It never sends anything itself: the
// sender delivers the outbox.
package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

var (
	eventsHandled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_dispatcher_events_total",
		Help: "Inbox events finished by the dispatcher, by outcome (handled, ignored, handler_error, retry, parked).",
	}, []string{"outcome"})
	handleSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "bizbots_dispatcher_event_seconds",
		Help:    "Time to handle and commit one inbox event.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
)

// Bot is a configured bot with its handler.
type Bot struct {
	UserID  id.UserID
	Config  config.Bot
	Handler handlers.Handler
}

// Homeserver is what the dispatcher asks of the homeserver directly (the
// rest goes through the outbox).
type Homeserver interface {
	Join(ctx context.Context, bot id.UserID, room id.RoomID) error
	JoinedMembers(ctx context.Context, bot id.UserID, room id.RoomID) (map[id.UserID]string, error)
}

// Options tune the dispatcher.
type Options struct {
	Workers      int
	MaxAttempts  int
	LeaseTimeout time.Duration
	PollInterval time.Duration
	// HandlerTimeout bounds one handler call.
	HandlerTimeout time.Duration
	// RetryBase is the first retry delay; it doubles up to RetryMax.
	RetryBase, RetryMax time.Duration
}

// Dispatcher runs handlers for inbox events.
type Dispatcher struct {
	db     *store.DB
	bots   map[id.UserID]*Bot
	sender id.UserID
	hs     Homeserver
	opts   Options
	owner  string
	log    zerolog.Logger
	queue  *roomqueue.Queue

	// OnOutbox is called after a commit added outbox rows (wakes the
	// sender). May be nil.
	OnOutbox func()
}

// New makes a dispatcher for bots; sender is the appservice's own user.
func New(db *store.DB, bots []*Bot, sender id.UserID, hs Homeserver, opts Options, log zerolog.Logger) *Dispatcher {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 5
	}
	if opts.LeaseTimeout <= 0 {
		opts.LeaseTimeout = 2 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 60 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 2 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	m := make(map[id.UserID]*Bot, len(bots))
	for _, b := range bots {
		m[b.UserID] = b
	}
	d := &Dispatcher{
		db: db, bots: m, sender: sender, hs: hs, opts: opts, log: log,
		owner: roomqueue.OwnerID("dispatch"),
	}
	d.queue = &roomqueue.Queue{
		Name: "inbox", Workers: opts.Workers, Poll: opts.PollInterval, Log: log,
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			return db.PendingRooms(ctx, store.QueueInbox, limit)
		},
		Work: d.processRoom,
	}
	return d
}

// Wake tells the dispatcher new work may be waiting. It never blocks.
func (d *Dispatcher) Wake() { d.queue.Wake() }

// Drain handles, in the caller's goroutine, everything due now.
func (d *Dispatcher) Drain(ctx context.Context) error { return d.queue.Drain(ctx) }

// Run dispatches until ctx is cancelled, then waits for the rooms in hand
// to finish their current event.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info().Int("workers", d.opts.Workers).Str("owner", d.owner).Msg("dispatcher started")
	d.queue.Run(ctx)
	return nil
}

// roomBatch bounds how many events one claim of a room handles before the
// room goes back to the queue, so a busy room cannot starve others.
const roomBatch = 50

func (d *Dispatcher) processRoom(ctx context.Context, room string) {
	ok, err := d.db.AcquireLease(ctx, store.QueueInbox, room, d.owner, d.opts.LeaseTimeout.Milliseconds())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error().Err(err).Str("room_id", room).Msg("cannot claim room")
		}
		return
	}
	if !ok {
		return // another process has it
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.db.ReleaseLease(rctx, store.QueueInbox, room, d.owner); err != nil {
			d.log.Warn().Err(err).Str("room_id", room).Msg("cannot release room lease; it will expire")
		}
	}()
	for i := 0; i < roomBatch && ctx.Err() == nil; i++ {
		ev, err := d.db.NextInboxEvent(ctx, room)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error().Err(err).Str("room_id", room).Msg("cannot read room's next event")
			}
			return
		}
		if ev == nil || ev.RetryAt > store.Now() {
			return
		}
		if !d.processEvent(ctx, ev) {
			return
		}
	}
}

// processEvent handles one event and commits the outcome. It returns
// false when the room must stop for now (a retry is scheduled, the lease
// was lost, or the database failed).
func (d *Dispatcher) processEvent(ctx context.Context, ev *store.InboxEvent) bool {
	start := time.Now()
	log := d.log.With().Str("room_id", ev.RoomID).Str("event_id", ev.EventID).Str("type", ev.Type).Logger()
	out, err := d.route(ctx, ev, log)
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down: the event stays pending
		}
		return d.fail(ctx, ev, out, err, log)
	}
	err = d.db.Tx(ctx, func(tx store.Tx) error {
		if err := store.RenewLease(ctx, tx, store.QueueInbox, ev.RoomID, d.owner, d.opts.LeaseTimeout.Milliseconds()); err != nil {
			return err
		}
		if err := store.MarkInboxDone(ctx, tx, ev.Seq, out.note); err != nil {
			return err
		}
		return out.apply(ctx, tx)
	})
	switch {
	case err == nil:
	case errors.Is(err, store.ErrAlreadyHandled):
		log.Debug().Msg("event was already handled elsewhere")
		return true
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn().Msg("room lease lost before commit; another process will handle the event")
		return false
	default:
		if ctx.Err() != nil {
			return false
		}
		return d.fail(ctx, ev, out, fmt.Errorf("commit: %w", err), log)
	}
	eventsHandled.WithLabelValues(out.outcome).Inc()
	handleSeconds.Observe(time.Since(start).Seconds())
	log.Debug().Str("outcome", out.outcome).Int("replies", len(out.replies)).Dur("took", time.Since(start)).Msg("event handled")
	if len(out.replies) > 0 && d.OnOutbox != nil {
		d.OnOutbox()
	}
	return true
}

// fail records a failed attempt: retry later with backoff, or, after
// MaxAttempts, park the event with its reason (and apologise to the
// customer if it was a message to a bot) so the room flows again.
func (d *Dispatcher) fail(ctx context.Context, ev *store.InboxEvent, out *outcome, cause error, log zerolog.Logger) bool {
	attempt := ev.Attempts + 1
	park := attempt >= d.opts.MaxAttempts
	delay := backoff(attempt-1, d.opts.RetryBase, d.opts.RetryMax)
	var apology []store.OutgoingEvent
	if park && out != nil && out.conv != nil {
		ref := newRef()
		out.conv.Reset()
		out.conv.Notice(apologyText(ref))
		apology = outgoing(out.conv, id.EventID(ev.EventID))
		log = log.With().Str("ref", ref).Logger()
	}
	err := d.db.Tx(ctx, func(tx store.Tx) error {
		if err := store.RenewLease(ctx, tx, store.QueueInbox, ev.RoomID, d.owner, d.opts.LeaseTimeout.Milliseconds()); err != nil {
			return err
		}
		if err := store.RetryInboxEvent(ctx, tx, ev.Seq, store.Now()+delay.Milliseconds(), cause.Error(), park); err != nil {
			return err
		}
		if len(apology) > 0 {
			_, err := store.AppendOutbox(ctx, tx, apology)
			return err
		}
		return nil
	})
	if err != nil {
		log.Error().Err(err).AnErr("cause", cause).Msg("cannot record failed event; it stays pending")
		return false
	}
	if park {
		eventsHandled.WithLabelValues("parked").Inc()
		log.Error().Err(cause).Int("attempts", attempt).Msg("event parked after repeated failures")
		if len(apology) > 0 && d.OnOutbox != nil {
			d.OnOutbox()
		}
		return true // the room moves on
	}
	eventsHandled.WithLabelValues("retry").Inc()
	log.Warn().Err(cause).Int("attempt", attempt).Dur("retry_in", delay).Msg("event failed; will retry")
	return false
}

func backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

func newRef() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func apologyText(ref string) string {
	return "Sorry, something went wrong on our side and I could not handle that. Please try again in a moment. (ref " + ref + ")"
}
