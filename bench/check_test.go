package main

import (
	"strings"
	"testing"
	"time"
)

// twoTxns: messages 0..3 in room A (0, 2) and B (1, 3); transaction 0
// carries 0 and 1 and is acknowledged before transaction 1 (2 and 3) is
// sent, so 0 precedes 2 and 1 precedes 3.
func twoTxns() *ledger {
	l := newLedger(4)
	t0 := l.sent([]int{0, 1}, 1*time.Millisecond)
	l.acked(t0, 2*time.Millisecond)
	t1 := l.sent([]int{2, 3}, 3*time.Millisecond)
	l.acked(t1, 4*time.Millisecond)
	return l
}

func TestCheckDeliveryAcceptsExactlyOnceInOrder(t *testing.T) {
	d := checkDelivery(twoTxns(), []int32{1, 1, 1, 1}, map[string][]int{"A": {0, 2}, "B": {1, 3}})
	if !d.ok() {
		t.Fatalf("flagged a correct delivery: %v", d)
	}
}

func TestCheckDeliveryFlagsDuplicate(t *testing.T) {
	d := checkDelivery(twoTxns(), []int32{1, 2, 1, 1}, map[string][]int{"A": {0, 2}, "B": {1, 1, 3}})
	if d.Duplicates != 1 || d.Reorders != 0 || d.Missing != 0 {
		t.Fatalf("want exactly one duplicate, got %v", d)
	}
	if !strings.Contains(d.String(), "m 1 answered 2 times") {
		t.Fatalf("report does not name the duplicate: %v", d)
	}
}

func TestCheckDeliveryFlagsReorder(t *testing.T) {
	d := checkDelivery(twoTxns(), []int32{1, 1, 1, 1}, map[string][]int{"A": {2, 0}, "B": {1, 3}})
	if d.Reorders != 1 || d.Duplicates != 0 || d.Missing != 0 {
		t.Fatalf("want exactly one reorder, got %v", d)
	}
	if !strings.Contains(d.String(), "A: reply to m 0 after reply to m 2") {
		t.Fatalf("report does not name the reorder: %v", d)
	}
}

func TestCheckDeliveryFlagsReorderWithinTransaction(t *testing.T) {
	l := newLedger(2)
	l.acked(l.sent([]int{0, 1}, time.Millisecond), 2*time.Millisecond)
	if d := checkDelivery(l, []int32{1, 1}, map[string][]int{"A": {1, 0}}); d.Reorders != 1 {
		t.Fatalf("want the reorder inside one transaction flagged, got %v", d)
	}
}

func TestCheckDeliveryFlagsMissing(t *testing.T) {
	d := checkDelivery(twoTxns(), []int32{1, 1, 0, 1}, map[string][]int{"A": {0}, "B": {1, 3}})
	if d.Missing != 1 || d.ok() {
		t.Fatalf("want one missing, got %v", d)
	}
}

// Transactions in flight together (the second sent before the first was
// acknowledged) have no order: either arrival order is correct.
func TestCheckDeliveryAllowsAnyOrderOfConcurrentTransactions(t *testing.T) {
	l := newLedger(2)
	t0 := l.sent([]int{0}, 1*time.Millisecond)
	t1 := l.sent([]int{1}, 2*time.Millisecond)
	l.acked(t1, 3*time.Millisecond)
	l.acked(t0, 4*time.Millisecond)
	if d := checkDelivery(l, []int32{1, 1}, map[string][]int{"A": {1, 0}}); !d.ok() {
		t.Fatalf("flagged concurrent transactions: %v", d)
	}
}
