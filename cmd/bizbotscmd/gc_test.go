package bizbotscmd

import (
	"runtime/debug"
	"testing"
)

// Not parallel: the GC target is the process's.
func TestServeRaisesTheGCTargetUnlessGOGCIsSet(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if got := setGCPercent(func(string) string { return "" }); got != gcPercent {
		t.Errorf("without GOGC: reported %d, want %d", got, gcPercent)
	}
	if now := debug.SetGCPercent(100); now != gcPercent {
		t.Errorf("without GOGC: the runtime's target is %d, want %d", now, gcPercent)
	}

	// The runtime read GOGC=70 at start; serve must leave it alone.
	debug.SetGCPercent(70)
	gogc := func(k string) string {
		if k == "GOGC" {
			return "70"
		}
		return ""
	}
	if got := setGCPercent(gogc); got != 70 {
		t.Errorf("with GOGC=70: reported %d, want 70", got)
	}
	if now := debug.SetGCPercent(100); now != 70 {
		t.Errorf("with GOGC=70: the runtime's target is %d, want 70 (the operator's)", now)
	}
}
