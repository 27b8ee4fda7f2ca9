package dispatcher

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

// Early handling. Intake offers a transaction's events to the dispatcher
// before it stores them (Early); the events routed by the time intake
// commits (Ready, within Options.IntakeWait) are stored done, their
// effects written in that same commit (store.StoreHandled): one durable
// write for an event and its outcome instead of two, and no wait for a
// worker. The rest are settled as soon as their routing ends, after the
// commit, as a worker would have: a handler runs once either way.
//
// Only a room's first event in the transaction is taken, and only when
// the room is idle in this process (no worker in it, none queued, none
// stuck), its lease already held, and the event one a plain route reads
// (messages, stickers, reactions, poll answers, encrypted events). The
// commit then checks that no event of the room is pending, so the room's
// order holds; an event that finds one waits for the dispatcher, and its
// handler runs again then (the one case, with an event stored twice at
// once, where early handling runs a handler twice).

// earlyEvents counts what became of the events handled at intake.
var earlyEvents = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "bizbots_dispatcher_early_events_total",
	Help: "Events handled as intake received them, by result: committed (with their transaction), settled (right after it), handed_back (an earlier event of the room was pending: handled again in turn), not_stored (known already, or the transaction failed).",
}, []string{"result"})

// EarlyBatch is one transaction's events in early handling.
type EarlyBatch struct {
	d     *Dispatcher
	items []*earlyItem
}

// earlyItem is one event being routed early.
type earlyItem struct {
	index int // in the transaction
	// alone: the only event of its room in the transaction. Otherwise the
	// room's later events go to a worker, whose read receipt, for the
	// last of them, stands for this one too.
	alone   bool
	ev      *store.InboxEvent
	ctx     context.Context
	release func()
	start   time.Time
	log     zerolog.Logger
	routed  chan struct{} // closed when routing ended
	out     *outcome
	err     error
}

// Early starts routing the events of a transaction that intake is about
// to store; nil when none can be (early handling off, the dispatcher not
// running, every room busy). The caller must call Stored once it stored
// the events, or failed to.
func (d *Dispatcher) Early(ctx context.Context, events []store.IncomingEvent) *EarlyBatch {
	if d.opts.IntakeWait <= 0 {
		return nil
	}
	b := &EarlyBatch{d: d}
	count := make(map[string]int, len(events))
	for i := range events {
		count[events[i].RoomID]++
	}
	seen := make(map[string]bool, len(events))
	var ids, rooms []string
	now := store.Now()
	for i := range events {
		e := &events[i]
		first := !seen[e.RoomID]
		seen[e.RoomID] = true
		if !first || !earlyKind(e) {
			continue
		}
		wctx, release, ok := d.queue.Claim(e.RoomID)
		if !ok {
			continue
		}
		if !d.leases.HoldHeld(e.RoomID) {
			release()
			continue
		}
		ev := &store.InboxEvent{EventID: e.EventID, RoomID: e.RoomID, Sender: e.Sender, Type: e.Type,
			StateKey: e.StateKey, OriginTS: e.OriginTS, JSON: e.JSON, ReceivedAt: now, Origin: store.OriginHomeserver}
		b.items = append(b.items, &earlyItem{index: i, alone: count[e.RoomID] == 1, ev: ev, ctx: wctx, release: release, routed: make(chan struct{}),
			log: d.log.With().Str("room_id", ev.RoomID).Str("event_id", ev.EventID).Str("type", ev.Type).Logger()})
		ids, rooms = append(ids, e.EventID), append(rooms, e.RoomID)
	}
	if len(b.items) == 0 {
		return nil
	}
	// A replayed transaction, or an event sent again in another one, was
	// handled already (or is pending): its handler must not run again. A
	// room with an event pending (waiting for a retry, or stored by
	// another process) has its turn first.
	known, busy, err := d.db.InboxHas(ctx, ids, rooms)
	if err != nil {
		b.log().Warn().Err(err).Msg("cannot check for known events; the transaction is handled the usual way")
		known, busy = ids, nil
	}
	b.drop(known, busy)
	if len(b.items) == 0 {
		return nil
	}
	for _, it := range b.items {
		it.start = time.Now()
		go func() {
			defer close(it.routed)
			it.out, it.err = d.safeRoute(it.ctx, it.ev, it.log)
		}()
	}
	return b
}

func (b *EarlyBatch) log() *zerolog.Logger { return &b.d.log }

// drop gives back the items whose events are in ids or whose rooms are
// in rooms (those rooms have work waiting: they are woken).
func (b *EarlyBatch) drop(ids, rooms []string) {
	if len(ids) == 0 && len(rooms) == 0 {
		return
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	busy := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		busy[r] = true
	}
	kept := b.items[:0]
	for _, it := range b.items {
		if busy[it.ev.RoomID] {
			b.d.leases.Done(it.ev.RoomID)
			it.release()
			b.d.queue.WakeRooms(it.ev.RoomID)
			continue
		}
		if gone[it.ev.EventID] {
			b.d.leases.Done(it.ev.RoomID)
			it.release()
			continue
		}
		kept = append(kept, it)
	}
	b.items = kept
}

// earlyKind says whether an event is one early handling takes: those
// whose routing only reads.
func earlyKind(e *store.IncomingEvent) bool {
	if e.StateKey != nil {
		return false
	}
	t := event.Type{Type: e.Type, Class: event.MessageEventType}
	switch {
	case t == event.EventMessage, t == event.EventSticker, t == event.EventReaction, t == event.EventEncrypted:
		return true
	}
	return handlers.IsPollResponse(t)
}

// Ready waits, at most Options.IntakeWait, for the events to be routed,
// and returns those routed without error, for StoreHandled.
func (b *EarlyBatch) Ready(ctx context.Context) []store.Handled {
	if b == nil {
		return nil
	}
	wait := time.NewTimer(b.d.opts.IntakeWait)
	defer wait.Stop()
	var ready []store.Handled
	waiting := true
	for _, it := range b.items {
		if waiting {
			select {
			case <-it.routed:
			case <-wait.C:
				waiting = false
			case <-ctx.Done():
				waiting = false
			}
		}
		if !waiting {
			// Time is up: take the events routed by now, wait no more.
			select {
			case <-it.routed:
			default:
				continue
			}
		}
		if it.err != nil {
			continue
		}
		out, log := it.out, it.log
		ready = append(ready, store.Handled{Index: it.index, Owner: b.d.owner, Note: out.note,
			Apply: func(ctx context.Context, tx store.Tx) (err error) {
				defer catch(&err, "commit")
				return out.apply(ctx, tx, b.d.opts.Clock(), log)
			}})
	}
	return ready
}

// Stored tells the batch what became of its events: res as StoreHandled
// returned it, or err when the transaction was not stored. Events stored
// done are counted and their replies handed to the sender; events stored
// pending are settled once routed, as a worker would; the others' rooms
// are given back. It does not wait for routing to end.
func (b *EarlyBatch) Stored(res store.StoreResult, err error) {
	if b == nil {
		return
	}
	for _, it := range b.items {
		var seq int64
		done := false
		if err == nil && it.index < len(res.Seqs) {
			seq, done = res.Seqs[it.index], res.Done[it.index]
		}
		switch {
		case done:
			earlyEvents.WithLabelValues("committed").Inc()
			reads := map[id.UserID]id.EventID{}
			b.d.handled(it.out, it.start, it.log, reads)
			if it.alone {
				b.d.markRead(it.ev.RoomID, reads)
			}
			b.d.leases.Done(it.ev.RoomID)
			it.release()
		case seq > 0:
			ev := *it.ev
			ev.Seq = seq
			go b.d.settleEarly(it, &ev)
		default:
			// Not stored, or stored by someone else: the room may have
			// work of its own.
			earlyEvents.WithLabelValues("not_stored").Inc()
			go func() {
				<-it.routed
				b.d.leases.Done(it.ev.RoomID)
				it.release()
				b.d.queue.WakeRooms(it.ev.RoomID)
			}()
		}
	}
}

// settleEarly commits an early event that was stored pending, once its
// routing ended: what it gave is committed as the room's worker would,
// if the event is still the room's next; otherwise the room is left to
// the workers, which route the event again in its turn.
func (d *Dispatcher) settleEarly(it *earlyItem, ev *store.InboxEvent) {
	<-it.routed
	defer func() {
		d.leases.Done(ev.RoomID)
		it.release()
	}()
	head, err := d.db.NextInboxEvent(it.ctx, ev.RoomID)
	if err != nil || head == nil || head.Seq != ev.Seq {
		if err != nil && it.ctx.Err() == nil {
			it.log.Error().Err(err).Msg("cannot read room's next event")
		}
		earlyEvents.WithLabelValues("handed_back").Inc()
		d.queue.WakeRooms(ev.RoomID)
		return
	}
	earlyEvents.WithLabelValues("settled").Inc()
	reads := map[id.UserID]id.EventID{}
	ok, next, looked := d.settle(it.ctx, head, it.out, it.err, it.start, it.log, reads)
	if it.alone {
		d.markRead(ev.RoomID, reads)
	}
	if !ok || next != nil || !looked {
		d.queue.WakeRooms(ev.RoomID)
	}
}
