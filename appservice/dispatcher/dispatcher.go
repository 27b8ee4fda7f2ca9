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
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/backoff"
	"github.com/bizbots/bizbots/store"
)

var (
	eventsHandled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_dispatcher_events_total",
		Help: "Inbox events finished by the dispatcher, by outcome (handled, ignored, handler_error, retry, deferred, parked).",
	}, []string{"outcome"})
	// eventsRefused counts events a customer or another bot sent that
	// bizbots ignores on purpose, by reason: reserved_type (an event of
	// bizbots' own org.bizbots. namespace not made by bizbots), notice
	// (an m.notice from someone else: bots do not answer bots),
	// forged_membership (a membership of our bot not sent by it or by
	// whoever may change it).
	eventsRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_dispatcher_refused_events_total",
		Help: "Events ignored on purpose because of who sent them, by reason (reserved_type, notice, forged_membership).",
	}, []string{"reason"})
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

// PowerLevels is implemented by homeservers that can tell a room's power
// levels (staff authority: handlers.Conversation.PowerLevel).
type PowerLevels interface {
	PowerLevels(ctx context.Context, bot id.UserID, room id.RoomID) (*event.PowerLevelsEventContent, error)
}

// Registrar registers bot users on the homeserver (the provisioner). The
// dispatcher asks it before acting as a bot, so an event for a bot that
// is not registered yet waits for it instead of failing for good.
type Registrar interface {
	// EnsureUser registers user unless it is known to exist.
	EnsureUser(ctx context.Context, user id.UserID) error
	// Unregistered says the homeserver does not know user after all.
	Unregistered(user id.UserID)
}

// Presence is implemented by homeservers that take read receipts and
// typing notifications (best effort: failures are only logged at debug).
type Presence interface {
	MarkRead(ctx context.Context, bot id.UserID, room id.RoomID, eventID id.EventID) error
	Typing(ctx context.Context, bot id.UserID, room id.RoomID, typing bool, timeout time.Duration) error
}

// Options tune the dispatcher.
type Options struct {
	Workers     int
	MaxAttempts int
	// MaxDeaths is how many tries of one event may end with the process
	// gone (killed, out of memory, a fatal error) before the event is
	// parked as a poison event without running again. It is larger than
	// MaxAttempts because a process stopped from outside (a deploy, an
	// operator, an OOM kill caused elsewhere) takes every event in hand
	// with it; default max(2×MaxAttempts, 10).
	MaxDeaths    int
	LeaseTimeout time.Duration
	PollInterval time.Duration
	// HandlerTimeout bounds one handler call.
	HandlerTimeout time.Duration
	// RetryBase is the first retry delay; it doubles up to RetryMax.
	RetryBase, RetryMax time.Duration
	// ShutdownGrace is how long, once Run's ctx is cancelled, the events
	// in hand may take to finish and commit before their handlers' ctx
	// is cancelled too (an event cut off is handled again after restart).
	// Zero: no grace.
	ShutdownGrace time.Duration
	// Clock is the time conversations see (state expiry, timers, first
	// and last seen); handler tests move it. Default time.Now.
	Clock func() time.Time
	// Encryption: decrypting encrypted rooms' events (see encrypted.go).
	Encryption Encryption
}

// Dispatcher runs handlers for inbox events.
type Dispatcher struct {
	db     *store.DB
	bots   registry
	sender id.UserID
	hs     Homeserver
	opts   Options
	owner  string
	log    zerolog.Logger
	queue  *roomqueue.Queue
	leases *roomqueue.Leases
	// bg owns best-effort background calls (receipts, typing).
	bg sync.WaitGroup

	// OnOutbox is called after a commit added outbox rows, with the rooms
	// they go to when known (wakes the sender). May be nil.
	OnOutbox func(rooms ...string)
	// Users registers bots on demand. Nil: bots are taken as registered.
	Users Registrar
	// Upcoming reports whether a user not served as a bot is one being
	// added at run time (stored, not served by this process yet). May be
	// nil. Set before Run.
	Upcoming func(ctx context.Context, uid id.UserID) (bool, error)
}

// ready makes sure the homeserver lets the appservice act as bot. A bot
// it cannot register now makes the event wait (not a failed attempt):
// that is no fault of the event, and it must not be parked for it.
func (d *Dispatcher) ready(ctx context.Context, bot id.UserID) error {
	if d.Users == nil {
		return nil
	}
	if err := d.Users.EnsureUser(ctx, bot); err != nil {
		return &waitError{reason: fmt.Sprintf("bot %s is not registered on the homeserver yet: %v", bot, err)}
	}
	return nil
}

// New makes a dispatcher for bots; sender is the appservice's own user.
func New(db *store.DB, bots []*Bot, sender id.UserID, hs Homeserver, opts Options, log zerolog.Logger) *Dispatcher {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.MaxAttempts < 1 {
		opts.MaxAttempts = 5
	}
	if opts.MaxDeaths < 1 {
		opts.MaxDeaths = max(2*opts.MaxAttempts, 10)
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
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	d := &Dispatcher{
		db: db, sender: sender, hs: hs, opts: opts, log: log,
		owner: roomqueue.OwnerID("dispatch"),
	}
	for _, b := range bots {
		d.AddBot(b)
	}
	d.leases = &roomqueue.Leases{DB: db, Queue: store.QueueInbox, Owner: d.owner, TTL: opts.LeaseTimeout, Log: log}
	d.queue = &roomqueue.Queue{
		Name: "inbox", Workers: opts.Workers, Poll: opts.PollInterval, Log: log, Grace: opts.ShutdownGrace,
		Pending: func(ctx context.Context, limit int) ([]string, error) {
			return db.PendingRoomsAt(ctx, store.QueueInbox, opts.Clock().UnixMilli(), limit)
		},
		Work: d.processRoom,
	}
	return d
}

// registry is the bots the dispatcher serves. Bots added at run time join
// it and removed ones leave it while rooms are being handled, so every
// lookup goes through its lock.
type registry struct {
	mu   sync.RWMutex
	bots map[id.UserID]*Bot
	// handlers are the bots' handlers with the built-in middleware
	// (understanding, forget me) around them.
	handlers map[id.UserID]handlers.Handler
}

// AddBot starts serving b, replacing a bot with the same user id. An
// event being handled by the old handler finishes with it.
func (d *Dispatcher) AddBot(b *Bot) {
	r := &d.bots
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bots == nil {
		r.bots, r.handlers = map[id.UserID]*Bot{}, map[id.UserID]handlers.Handler{}
	}
	r.bots[b.UserID] = b
	r.handlers[b.UserID] = handlers.Chain(b.Handler, handlers.Subscriptions(), handlers.Understand(), handlers.ForgetMe())
}

// RemoveBot stops serving a bot: its events are ignored from now on,
// like those of a bot removed from the config.
func (d *Dispatcher) RemoveBot(uid id.UserID) {
	r := &d.bots
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.bots, uid)
	delete(r.handlers, uid)
}

// Bot returns a served bot.
func (d *Dispatcher) Bot(uid id.UserID) (*Bot, bool) {
	d.bots.mu.RLock()
	defer d.bots.mu.RUnlock()
	b, ok := d.bots.bots[uid]
	return b, ok
}

// BotIDs lists the bots served now.
func (d *Dispatcher) BotIDs() []id.UserID {
	d.bots.mu.RLock()
	defer d.bots.mu.RUnlock()
	out := make([]id.UserID, 0, len(d.bots.bots))
	for uid := range d.bots.bots {
		out = append(out, uid)
	}
	return out
}

func (d *Dispatcher) handlerOf(uid id.UserID) handlers.Handler {
	d.bots.mu.RLock()
	defer d.bots.mu.RUnlock()
	return d.bots.handlers[uid]
}

// Wake tells the dispatcher new work may be waiting. It never blocks.
func (d *Dispatcher) Wake() { d.queue.Wake() }

// WakeRooms tells the dispatcher these rooms have new events (none named:
// look everywhere, as Wake). It never blocks.
func (d *Dispatcher) WakeRooms(rooms ...string) {
	if len(rooms) == 0 {
		d.Wake()
		return
	}
	d.queue.WakeRooms(rooms...)
}

// Drain handles, in the caller's goroutine, everything due now.
func (d *Dispatcher) Drain(ctx context.Context) error {
	// A handled event may set a timer that is already due (a timer turn
	// chaining the next one); keep going until none fires. Bounded.
	defer d.leases.ReleaseAll(ctx)
	for range 100 {
		if err := d.queue.Drain(ctx); err != nil {
			return err
		}
		n, err := d.fireTimers(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// fireTimers moves due timers into the inbox.
func (d *Dispatcher) fireTimers(ctx context.Context) (int, error) {
	total := 0
	for range 100 { // bounded: 100 batches of 100 per call
		n, err := d.db.FireDueTimers(ctx, d.opts.Clock().UnixMilli(), 100)
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
	return total, nil
}

// Run dispatches until ctx is cancelled, then lets the rooms in hand
// finish and commit their current event (within ShutdownGrace) and
// returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info().Int("workers", d.opts.Workers).Str("owner", d.owner).Msg("dispatcher started")
	d.bg.Add(2)
	go func() {
		defer d.bg.Done()
		d.timerLoop(ctx)
	}()
	go func() {
		defer d.bg.Done()
		d.leases.Run(ctx)
	}()
	d.queue.Run(ctx)
	d.leases.ReleaseAll(ctx)
	d.bg.Wait()
	return nil
}

// timerLoop fires due timers every poll interval.
func (d *Dispatcher) timerLoop(ctx context.Context) {
	ticker := time.NewTicker(d.opts.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n, err := d.fireTimers(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error().Err(err).Msg("cannot fire timers; will retry")
		}
		if n > 0 {
			d.Wake()
		}
	}
}

// typingDelay is how long a handler runs before the bot shows as typing.
const typingDelay = 300 * time.Millisecond

// presence shows the bot typing if the handler takes a while; the
// returned func ends it. Best effort: it never delays the handler.
func (d *Dispatcher) presence(bot id.UserID, room id.RoomID, m *handlers.Message) (stop func()) {
	p, ok := d.hs.(Presence)
	if !ok || m.ID == "" || m.Kind == handlers.KindTimer {
		return func() {}
	}
	var typing atomic.Bool
	timer := time.AfterFunc(typingDelay, func() {
		typing.Store(true)
		d.background(func(ctx context.Context) error { return p.Typing(ctx, bot, room, true, 30*time.Second) })
	})
	return func() {
		if !timer.Stop() && typing.Load() {
			d.background(func(ctx context.Context) error { return p.Typing(ctx, bot, room, false, 0) })
		}
	}
}

// background runs fn with a short deadline in a goroutine Run waits for.
func (d *Dispatcher) background(fn func(ctx context.Context) error) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fn(ctx); err != nil {
			d.log.Debug().Err(err).Msg("receipt or typing notification failed")
		}
	}()
}

// roomBatch bounds how many events one claim of a room handles before the
// room goes back to the queue, so a busy room cannot starve others.
const roomBatch = 50

// processRoom handles a room's due events in order. It is Stuck when the
// room cannot move now (another process holds it, an event waits for its
// retry, the lease was lost or the database failed), so the queue leaves
// the room alone until its next poll.
func (d *Dispatcher) processRoom(ctx context.Context, room string) roomqueue.Outcome {
	if !d.leases.Hold(ctx, room) {
		return roomqueue.Stuck
	}
	defer d.leases.Done(room)
	return d.processLeasedRoom(ctx, room)
}

// markRead sends, in the background, each bot's read receipt for the last
// customer event it handled in room (one per bot per visit, not one per
// message). Best effort.
func (d *Dispatcher) markRead(room string, reads map[id.UserID]id.EventID) {
	p, ok := d.hs.(Presence)
	if !ok {
		return
	}
	for bot, ev := range reads {
		d.background(func(ctx context.Context) error { return p.MarkRead(ctx, bot, id.RoomID(room), ev) })
	}
}

// processLeasedRoom handles a room's due events while this process holds
// its lease. Once the run is stopping it takes no new event.
func (d *Dispatcher) processLeasedRoom(ctx context.Context, room string) roomqueue.Outcome {
	reads := map[id.UserID]id.EventID{}
	defer d.markRead(room, reads)
	// next is the room's following event, read by the commit of the one
	// before.
	var next *store.InboxEvent
	for i := 0; i < roomBatch; i++ {
		if roomqueue.Stopping(ctx) {
			return roomqueue.Stuck
		}
		ev := next
		next = nil
		if ev == nil {
			now := d.opts.Clock().UnixMilli()
			var err error
			ev, err = d.db.NextInboxEvent(ctx, room)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Error().Err(err).Str("room_id", room).Msg("cannot read room's next event")
				}
				return roomqueue.Stuck
			}
			if ev == nil {
				return roomqueue.Emptied
			}
			if ev.RetryAt > now {
				return roomqueue.Stuck
			}
		}
		ok, following, looked := d.processEvent(ctx, ev, reads)
		if !ok {
			return roomqueue.Stuck
		}
		if looked && following == nil {
			// The commit looked for the room's next due event and found
			// none: nothing to read again. An event stored since wakes
			// the room anew.
			return roomqueue.Emptied
		}
		next = following
	}
	return roomqueue.Again
}

// errGaveUp is the cause recorded for an event whose earlier attempts all
// ended without an outcome: the process died handling it (a crash, an
// out-of-memory kill, a fatal runtime error), so it is not run again.
var errGaveUp = errors.New("earlier attempts ended without an outcome (the process died while handling this event)")

// processEvent handles one event (its attempts count those that failed,
// and the deaths of processes that were handling it) and commits the
// outcome. It returns false when the room must stop for now (a retry is
// scheduled, the lease was lost, or the database failed), and the room's
// next event when the commit could read it (looked: the commit looked for
// one, so a nil next means none was due).
// Once committed, the customer events it handled are noted in reads.
func (d *Dispatcher) processEvent(ctx context.Context, ev *store.InboxEvent, reads map[id.UserID]id.EventID) (ok bool, next *store.InboxEvent, looked bool) {
	start := time.Now()
	log := d.log.With().Str("room_id", ev.RoomID).Str("event_id", ev.EventID).Str("type", ev.Type).Logger()
	if ev.Attempts >= max(d.opts.MaxDeaths, d.opts.MaxAttempts) {
		return d.fail(ctx, ev, nil, errGaveUp, log), nil, false
	}
	out, err := d.safeRoute(ctx, ev, log)
	now := d.opts.Clock()
	if err != nil {
		var wait *waitError
		switch {
		case ctx.Err() != nil:
			d.putBack(ctx, ev, 0, "stopped before the event was handled", log)
			return false, nil, false // shutting down: the event stays pending
		case errors.As(err, &wait):
			d.putBack(ctx, ev, d.opts.RetryBase, wait.Error(), log)
			return false, nil, false
		}
		var later *handlers.RetryError
		if errors.As(err, &later) && out != nil && out.deferred != nil {
			return d.deferEvent(ctx, ev, out, later, log), nil, false
		}
		return d.fail(ctx, ev, out, err, log), nil, false
	}
	// The commit shares its transaction with other rooms' commits of the
	// moment (group commit): one fsync for many events.
	err = d.db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
		// Commit code runs services' closures (OnCommit, ForgetCustomer):
		// a panic there is a failed attempt, rolled back, not a crash.
		defer catch(&err, "commit")
		// On Postgres, one statement finishes the events of the whole
		// group, at its end; next is set then.
		err = d.db.FinishInboxEventLater(ctx, tx, ev.RoomID, d.owner, ev.Seq, out.note, d.opts.Clock().UnixMilli(), &next)
		if err != nil {
			return err
		}
		return out.apply(ctx, tx, now, log)
	})
	switch {
	case err == nil:
	case errors.Is(err, store.ErrAlreadyHandled):
		log.Debug().Msg("event was already handled elsewhere")
		return true, nil, false
	case errors.Is(err, store.ErrLeaseLost):
		d.leases.Lost(ev.RoomID)
		log.Warn().Msg("room lease lost before commit; another process will handle the event")
		return false, nil, false
	default:
		if ctx.Err() != nil {
			d.putBack(ctx, ev, 0, "stopped before the event was committed", log)
			return false, nil, false
		}
		return d.fail(ctx, ev, out, fmt.Errorf("commit: %w", err), log), nil, false
	}
	for _, r := range out.reads {
		reads[r.bot] = r.event
	}
	eventsHandled.WithLabelValues(out.outcome).Inc()
	handleSeconds.Observe(time.Since(start).Seconds())
	log.Debug().Str("outcome", out.outcome).Int("replies", out.sent).Dur("took", time.Since(start)).Msg("event handled")
	if out.sent > 0 && d.OnOutbox != nil {
		d.OnOutbox(out.rooms...)
	}
	return true, next, true
}

// safeRoute is route with a panic anywhere in it (a service's Watches,
// a malformed event tripping a parser) turned into a failed attempt.
func (d *Dispatcher) safeRoute(ctx context.Context, ev *store.InboxEvent, log zerolog.Logger) (out *outcome, err error) {
	defer catch(&err, "routing")
	return d.route(ctx, ev, log)
}

// catch turns a panic into *err; call it deferred.
func catch(err *error, where string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s panicked: %v\n%s", where, p, debug.Stack())
	}
}

// waitError is a reason an event cannot be handled yet that is no fault
// of the event (its bot is not registered on the homeserver yet): it is
// retried without counting an attempt, so it is never parked for it.
type waitError struct{ reason string }

func (e *waitError) Error() string { return e.reason }

// putBack keeps ev, which was not really tried, pending for at least
// after, counting no attempt. It runs even when ctx is cancelled (the
// process is stopping).
func (d *Dispatcher) putBack(ctx context.Context, ev *store.InboxEvent, after time.Duration, reason string, log zerolog.Logger) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := store.PostponeInboxEvent(uctx, d.db, ev.Seq, store.Now()+after.Milliseconds(), reason); err != nil {
		log.Warn().Err(err).Msg("cannot put the event back; it is handled again at once")
		return
	}
	log.Debug().Str("reason", reason).Dur("retry_in", after).Msg("event put back, not counted as an attempt")
}

// fail records a failed attempt (counted now): retry later with backoff,
// or, after MaxAttempts, park the event with its reason (and apologise to
// the customer if it was a message to a bot) so the room flows again.
func (d *Dispatcher) fail(ctx context.Context, ev *store.InboxEvent, out *outcome, cause error, log zerolog.Logger) bool {
	var kw *errKeyWait
	if errors.As(cause, &kw) {
		return d.deferForKey(ctx, ev, kw, log)
	}
	attempt := ev.Attempts + 1
	park := attempt >= d.opts.MaxAttempts
	delay := backoff.Policy{Base: d.opts.RetryBase, Max: d.opts.RetryMax}.Delay(attempt)
	if errors.Is(cause, handlers.ErrConflict) {
		delay = 0 // lost a race: handle again now, against the new state
	}
	var apology []store.OutgoingEvent
	if park {
		var conv *handlers.Conversation
		if out != nil {
			conv = out.conv
		}
		if conv == nil {
			conv = d.apologyConversation(ctx, ev)
		}
		if conv != nil {
			ref := newRef()
			conv.Reset()
			conv.Notice(apologyText(ref))
			rows, err := outboxRows(ctx, d.db, conv, id.EventID(ev.EventID), log)
			if err != nil {
				log.Error().Err(err).AnErr("cause", cause).Msg("cannot prepare the apology; the event stays pending")
				return false
			}
			apology = rows
			log = log.With().Str("ref", ref).Logger()
			cause = fmt.Errorf("%w (ref %s)", cause, ref)
		}
	}
	err := d.db.Tx(ctx, func(tx store.Tx) error {
		if err := store.RenewLease(ctx, tx, store.QueueInbox, ev.RoomID, d.owner, d.opts.LeaseTimeout.Milliseconds()); err != nil {
			return err
		}
		if err := store.FailInboxEvent(ctx, tx, ev.Seq, d.opts.Clock().UnixMilli()+delay.Milliseconds(), cause.Error(), park); err != nil {
			return err
		}
		if park && out != nil && out.seen != nil {
			if err := out.seen(ctx, tx); err != nil {
				return err
			}
		}
		if len(apology) > 0 {
			_, err := store.AppendOutbox(ctx, tx, apology)
			return err
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.leases.Lost(ev.RoomID)
		}
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

// apologyConversation is where the apology for a parked event goes when
// routing never got as far as a conversation (it panicked, or the event
// killed the process): a customer's message, reaction, poll vote or timer
// in a room with exactly one of our bots. Anything else gets no apology.
func (d *Dispatcher) apologyConversation(ctx context.Context, ev *store.InboxEvent) *handlers.Conversation {
	sender := id.UserID(ev.Sender)
	if d.isOurs(sender) {
		return nil
	}
	switch {
	case ev.Type == event.EventMessage.Type, ev.Type == event.EventSticker.Type, ev.Type == event.EventReaction.Type,
		ev.Type == event.EventEncrypted.Type, ev.Origin == store.OriginTimer, handlers.IsPollResponse(event.Type{Type: ev.Type}):
	default:
		return nil
	}
	inRoom, err := d.db.BotsInRoom(ctx, ev.RoomID)
	if err != nil || len(inRoom) != 1 {
		return nil
	}
	bot, ok := d.Bot(id.UserID(inRoom[0].BotUserID))
	if !ok {
		return nil
	}
	return handlers.NewConversation(bot.UserID, id.RoomID(ev.RoomID), handlers.Customer{ID: sender}, id.EventID(ev.EventID))
}

// deferEvent commits what a handler queued before asking for its event
// again at a time of its choosing (handlers.RetryAt), and leaves the event
// pending until then: the room waits, in order, and the event does not
// count toward MaxAttempts, since the handler owns that schedule.
func (d *Dispatcher) deferEvent(ctx context.Context, ev *store.InboxEvent, out *outcome, later *handlers.RetryError, log zerolog.Logger) bool {
	t := out.deferred
	// Contact and the message's history entry are recorded once, when the
	// event is finally handled.
	t.touch, t.logText = false, false
	now := d.opts.Clock()
	sent := 0
	err := d.db.Tx(ctx, func(tx store.Tx) error {
		if err := store.RenewLease(ctx, tx, store.QueueInbox, ev.RoomID, d.owner, d.opts.LeaseTimeout.Milliseconds()); err != nil {
			return err
		}
		// No attempt is counted: the handler owns this event's schedule,
		// so it never counts toward parking.
		if err := store.PostponeInboxEvent(ctx, tx, ev.Seq, later.At.UnixMilli(), later.Error()); err != nil {
			return err
		}
		// What the event already did (a bot that joined on an invite) is
		// recorded; the writes are idempotent, so the retry may repeat them.
		if out.seen != nil {
			if err := out.seen(ctx, tx); err != nil {
				return err
			}
		}
		for _, w := range out.writes {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		rooms, err := t.commit(ctx, tx, now, log)
		sent = len(rooms)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.leases.Lost(ev.RoomID)
		}
		if ctx.Err() == nil {
			log.Error().Err(err).AnErr("cause", later.Err).Msg("cannot defer the event; it stays pending")
		}
		return false
	}
	eventsHandled.WithLabelValues("deferred").Inc()
	log.Info().Err(later.Err).Time("retry_at", later.At).Int("replies", sent).Msg("handler deferred the event")
	if sent > 0 && d.OnOutbox != nil {
		d.OnOutbox()
	}
	return false
}

func newRef() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func apologyText(ref string) string {
	return "Sorry, something went wrong on our side and I could not handle that. Please try again in a moment. (ref " + ref + ")"
}
