package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bizbots/bizbots/internal/fakehs"
)

// Txn is one transaction of a stream. Grow > 0 makes the first attempt
// carry only the first Grow events and lose its answer, so the retry with
// the same id carries more events (Dendrite does this).
type Txn struct {
	ID     string
	Events []map[string]any
	Grow   int
}

// Pusher is the homeserver side of the appservice API: one transaction at
// a time, the same id again until 200, with backoff, as Synapse and
// Dendrite do.
type Pusher struct {
	URL, HSToken string
	// PerTxn bounds how long one transaction may take to be acknowledged.
	PerTxn time.Duration
	// Acked, if set, gets the id of each acknowledged transaction.
	Acked func(id string)
	// Sending, if set, runs as each attempt starts.
	Sending func(id string)

	Attempts, Failures atomic.Int64
}

// Push delivers one transaction; it returns an error only if it was not
// acknowledged within PerTxn or ctx ended.
func (p *Pusher) Push(ctx context.Context, t Txn) error {
	deadline := time.Now().Add(p.PerTxn)
	if t.Grow > 0 && t.Grow < len(t.Events) {
		p.Attempts.Add(1)
		_, _ = p.once(ctx, t.ID, t.Events[:t.Grow]) // its answer is "lost"
	}
	for try := 0; ; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transaction %s not acknowledged within %s (%d attempts)", t.ID, p.PerTxn, try)
		}
		p.Attempts.Add(1)
		status, err := p.once(ctx, t.ID, t.Events)
		if err == nil && status == http.StatusOK {
			if p.Acked != nil {
				p.Acked(t.ID)
			}
			return nil
		}
		p.Failures.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(min(10*time.Millisecond<<min(try, 6), 500*time.Millisecond)):
		}
	}
}

func (p *Pusher) once(ctx context.Context, id string, events []map[string]any) (int, error) {
	if p.Sending != nil {
		p.Sending(id)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return fakehs.Push(ctx, p.URL, p.HSToken, id, events)
}

// Room is one conversation of a stream: a customer and the bot they chat
// with.
type Room struct {
	ID, Customer, Bot string
	// Texts are the customer's messages, in order.
	Texts []string
}

// Stream cuts rooms' invites and messages into transactions: all invites
// first (what a homeserver queued while the appservice was down), then
// every room's messages in a random interleaving that keeps each room's
// order, in transactions of 1..maxPer events; about one in grow
// transactions gains events on its retry (0: none). With lateInvites, each
// room's invite comes just before its first message instead, so rooms
// open all along the stream.
func Stream(rng *rand.Rand, prefix string, rooms []Room, maxPer, grow int, lateInvites bool) []Txn {
	var invites, msgs []map[string]any
	for _, r := range rooms {
		if !lateInvites {
			invites = append(invites, fakehs.Invite(r.ID, r.Customer, r.Bot, true))
		}
	}
	next := make([]int, len(rooms))
	left := 0
	for _, r := range rooms {
		left += len(r.Texts)
	}
	for ; left > 0; left-- {
		i := rng.IntN(len(rooms))
		for next[i] == len(rooms[i].Texts) {
			i = (i + 1) % len(rooms)
		}
		if lateInvites && next[i] == 0 {
			msgs = append(msgs, fakehs.Invite(rooms[i].ID, rooms[i].Customer, rooms[i].Bot, true))
		}
		msgs = append(msgs, fakehs.Message(rooms[i].ID, rooms[i].Customer, rooms[i].Texts[next[i]]))
		next[i]++
	}
	var txns []Txn
	cut := func(evs []map[string]any) {
		for len(evs) > 0 {
			n := min(1+rng.IntN(maxPer), len(evs))
			t := Txn{ID: fmt.Sprintf("%s-%d", prefix, len(txns)), Events: evs[:n]}
			if grow > 0 && n > 1 && rng.IntN(grow) == 0 {
				t.Grow = 1 + rng.IntN(n-1)
			}
			txns = append(txns, t)
			evs = evs[n:]
		}
	}
	cut(invites)
	cut(msgs)
	return txns
}
