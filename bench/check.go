package main

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// ledger is what the fake homeserver's sending side knows about each
// message: the transaction that carried it, when that transaction was
// first sent and when it was finally acknowledged (durations since the
// homeserver started). It defines the order a room's replies must keep:
// message a comes before message b of the same room when both are in one
// transaction and a is earlier in it, or when a's transaction was
// acknowledged before b's was first sent. Transactions in flight at the
// same time have no order between them, as on a real homeserver, which
// sends one at a time.
type ledger struct {
	mu       sync.Mutex
	msgTxn   []int32 // per message; -1: never sent
	txnSent  []time.Duration
	txnAcked []time.Duration // 0: never acknowledged
}

func newLedger(messages int) *ledger {
	l := &ledger{msgTxn: make([]int32, messages)}
	for i := range l.msgTxn {
		l.msgTxn[i] = -1
	}
	return l
}

// sent records a transaction's first attempt carrying msgs; it returns
// the transaction's index.
func (l *ledger) sent(msgs []int, at time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := len(l.txnSent)
	l.txnSent = append(l.txnSent, at)
	l.txnAcked = append(l.txnAcked, 0)
	for _, n := range msgs {
		l.msgTxn[n] = int32(t)
	}
	return t
}

func (l *ledger) acked(txn int, at time.Duration) {
	l.mu.Lock()
	l.txnAcked[txn] = at
	l.mu.Unlock()
}

// mustPrecede says whether message a must be answered before message b
// (both of one room).
func (l *ledger) mustPrecede(a, b int) bool {
	ta, tb := l.msgTxn[a], l.msgTxn[b]
	if ta < 0 || tb < 0 {
		return false
	}
	if ta == tb {
		return a < b
	}
	return l.txnAcked[ta] != 0 && l.txnAcked[ta] < l.txnSent[tb]
}

// delivery is the verdict on what the homeserver received: every message
// answered exactly once, and each room's replies in its messages' order.
type delivery struct {
	Missing, Duplicates, Reorders int
	Examples                      []string // a few of each, for the report
}

func (d delivery) ok() bool { return d.Missing == 0 && d.Duplicates == 0 && d.Reorders == 0 }

func (d delivery) String() string {
	if d.ok() {
		return "exactly once, in order"
	}
	return fmt.Sprintf("%d missing, %d duplicated, %d out of order (%v)", d.Missing, d.Duplicates, d.Reorders, d.Examples)
}

// checkDelivery compares the replies the homeserver got (counts per
// message, and per room the answered message numbers in arrival order)
// with the ledger. Only messages the ledger saw sent are expected.
func checkDelivery(l *ledger, counts []int32, roomLog map[string][]int) delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d delivery
	note := func(format string, args ...any) {
		if len(d.Examples) < 6 {
			d.Examples = append(d.Examples, fmt.Sprintf(format, args...))
		}
	}
	for n, c := range counts {
		switch {
		case n < len(l.msgTxn) && l.msgTxn[n] >= 0 && c == 0:
			d.Missing++
			note("m %d unanswered", n)
		case c > 1:
			d.Duplicates++
			note("m %d answered %d times", n, c)
		}
	}
	rooms := make([]string, 0, len(roomLog))
	for r := range roomLog {
		rooms = append(rooms, r)
	}
	sort.Strings(rooms)
	for _, r := range rooms {
		log := roomLog[r]
		// A reply out of order: an earlier-arrived reply answers a message
		// that had to come after this one. Quadratic in a room's replies,
		// which the bench keeps in the hundreds.
		for j := 1; j < len(log); j++ {
			for i := 0; i < j; i++ {
				if l.mustPrecede(log[j], log[i]) {
					d.Reorders++
					note("%s: reply to m %d after reply to m %d", r, log[j], log[i])
					break
				}
			}
		}
	}
	return d
}

// delivery checks what h received against l.
func (h *homeserver) delivery(l *ledger) delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return checkDelivery(l, h.replyCount, h.roomLog)
}
