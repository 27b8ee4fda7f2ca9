package roomqueue_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/bizbots/bizbots/appservice/roomqueue"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func TestStaleOwner(t *testing.T) {
	host, _ := os.Hostname()
	// A process that has exited: its pid no longer runs.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	live := roomqueue.OwnerID("dispatch")
	for owner, want := range map[string]bool{
		live: false, // ours, in use
		fmt.Sprintf("dispatch/%s/%d/00000000", host, os.Getpid()):  true,  // our pid, an earlier incarnation
		fmt.Sprintf("dispatch/%s/%d/00000000", host, dead):         true,  // gone
		fmt.Sprintf("dispatch/%s/%d/00000000", host, 1):            false, // init runs
		fmt.Sprintf("dispatch/%s/%d/00000000", "other-host", dead): false, // not ours to judge
		"garbage": false,
	} {
		if got := roomqueue.StaleOwner(owner); got != want {
			t.Errorf("StaleOwner(%q) = %v, want %v", owner, got, want)
		}
	}
}

func TestReleaseStaleLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		host, _ := os.Hostname()
		gone := fmt.Sprintf("dispatch/%s/%d/dead", host, os.Getpid())
		live := roomqueue.OwnerID("dispatch")
		for i, o := range []string{gone, gone, live} {
			if ok, err := db.AcquireLease(ctx, store.QueueInbox, fmt.Sprintf("!r%d:x", i), o, 60_000); err != nil || !ok {
				t.Fatalf("lease %d: %v %v", i, ok, err)
			}
		}
		n, err := db.ReleaseStaleLeases(ctx, roomqueue.StaleOwner)
		if err != nil || n != 2 {
			t.Fatalf("released %d (%v), want the dead owner's 2", n, err)
		}
		if ok, _ := db.AcquireLease(ctx, store.QueueInbox, "!r0:x", live, 60_000); !ok {
			t.Fatal("a released room could not be taken at once")
		}
		if ok, _ := db.AcquireLease(ctx, store.QueueInbox, "!r2:x", roomqueue.OwnerID("dispatch"), 60_000); ok {
			t.Fatal("a live owner's lease was released")
		}
	})
}
