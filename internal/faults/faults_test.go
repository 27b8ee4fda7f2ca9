package faults_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/faults"
	"github.com/bizbots/bizbots/store"
)

// engines runs fn as a subtest per database engine.
func engines(t *testing.T, fn func(t *testing.T, engine store.Dialect)) {
	for _, e := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(e), func(t *testing.T) { fn(t, e) })
	}
}

// killPoints are where TestKillPoints kills bizbots with SIGKILL.
var killPoints = []string{"mid-intake", "after-ack", "mid-handler", "mid-commit", "mid-send", "after-store"}

// TestKillPoints kills bizbots at each chosen point of an event's way
// through it, several times each, while a stream with slow handlers and
// slow commits goes on; then every event must be handled once and every
// reply sent once, in order.
func TestKillPoints(t *testing.T) {
	engines(t, func(t *testing.T, engine store.Dialect) {
		perPoint := pick(4, 8)
		w := newWorld(t, engine, options{
			rooms: pick(12, 24), messages: pick(30, 50), perTxn: 25,
			// This scenario kills the process about every 150 ms, often
			// with the same slow event in hand each time: faster than any
			// real failure, so it would look like a poison event. Poison
			// events are TestMisbehavingHandlers' subject; here every
			// event must be answered despite the kills.
			edit: func(doc map[string]any) { faults.Section(t, doc, "dispatcher")["max_deaths"] = 1000 },
			text: func(rng *rand.Rand, _, j int) string {
				switch rng.IntN(8) {
				case 0:
					return "slow 150 m" + strconv.Itoa(j)
				case 1:
					return "slowcommit 150 m" + strconv.Itoa(j)
				}
				return "m" + strconv.Itoa(j)
			},
		})
		for _, p := range killPoints {
			w.budget[p] = perPoint
		}
		w.pusher.Sending = func(string) {
			if w.chance(3) {
				delay := time.Duration(w.rngInt(4)) * time.Millisecond
				time.AfterFunc(delay, func() { w.killAt("mid-intake") })
			}
		}
		w.pusher.Acked = func(string) {
			if w.chance(3) {
				w.killAt("after-ack")
			}
		}
		w.onProbe(func(point string) {
			if w.chance(2) {
				w.killAt("mid-" + point) // mid-handler, mid-commit
			}
		})
		w.front.BeforeSend(func() {
			if w.chance(6) {
				w.killAt("mid-send")
			}
		})
		w.front.AfterStore(func() {
			if w.chance(6) {
				w.killAt("after-store")
			}
		})
		w.run(90*time.Second, func(ctx context.Context) {
			// Keep the hooks armed until every point used its budget, or
			// a minute passed.
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && sleepCtx(ctx, 200*time.Millisecond) {
				w.mu.Lock()
				left := 0
				for _, p := range killPoints {
					left += w.budget[p] - w.kills[p]
				}
				w.mu.Unlock()
				if left == 0 {
					return
				}
			}
		})
		total := 0
		for _, p := range killPoints {
			total += w.kills[p]
			if w.kills[p] == 0 {
				t.Errorf("no kill landed at %s", p)
			}
		}
		if total < 20 {
			t.Errorf("%d kills, want at least 20", total)
		}
	})
}

// TestHomeserverFaults has the homeserver answer 429 with retry_after_ms,
// then 500s, then hang every request, then be down, while a paced stream
// keeps replies coming; no reply may be lost, doubled or reordered.
func TestHomeserverFaults(t *testing.T) {
	run := func(t *testing.T, engine store.Dialect) {
		hang, down := pick(12*time.Second, 45*time.Second), pick(15*time.Second, 2*time.Minute)
		// The stream lasts as long as the faults, and rooms open all along
		// it: invites come in while the homeserver refuses the joins.
		w := newWorld(t, engine, options{rooms: pick(8, 16), messages: pick(12, 30), perTxn: 6,
			spread: 3*time.Second + time.Second + 3*time.Second + time.Second + hang + time.Second + down, lateInvites: true})
		w.run(pick(90*time.Second, 4*time.Minute), func(ctx context.Context) {
			steps := []struct {
				f   faults.Fault
				dur time.Duration
			}{
				{faults.TooMany, 3 * time.Second}, {faults.Healthy, time.Second},
				{faults.Failing, 3 * time.Second}, {faults.Healthy, time.Second},
				{faults.Hanging, hang}, {faults.Healthy, time.Second},
				{faults.Down, down}, {faults.Healthy, 0},
			}
			for _, s := range steps {
				w.front.SetFault(s.f)
				w.procs.Note("homeserver " + s.f.String())
				if !sleepCtx(ctx, s.dur) {
					break
				}
			}
			w.front.SetFault(faults.Healthy)
		})
		for _, f := range []faults.Fault{faults.TooMany, faults.Failing, faults.Hanging, faults.Down} {
			if w.front.Faulted()[f] == 0 {
				t.Errorf("no request met the homeserver fault %s", f)
			}
		}
	}
	if full() {
		engines(t, run)
		return
	}
	t.Run(string(store.SQLite), func(t *testing.T) { run(t, store.SQLite) })
}

// TestPostgresOutage cuts bizbots off its Postgres through a proxy: a
// restart (connections dropped), bizbots started while the database is
// unreachable, an outage, and a database that stops answering.
func TestPostgresOutage(t *testing.T) {
	outage := pick(10*time.Second, 30*time.Second)
	w := newWorld(t, store.Postgres, options{proxy: true, rooms: pick(8, 16), messages: pick(15, 30), perTxn: 8,
		pace: pick(400*time.Millisecond, time.Second)})
	w.run(pick(90*time.Second, 3*time.Minute), func(ctx context.Context) {
		sleepCtx(ctx, 2*time.Second)
		w.procs.Note("postgres restarted (connections cut for 3 s)")
		w.proxy.Cut()
		sleepCtx(ctx, 3*time.Second)
		w.proxy.Thaw()
		sleepCtx(ctx, 2*time.Second)

		w.procs.Note("postgres unreachable, bizbots restarted meanwhile")
		w.proxy.Cut()
		w.procs.Kill()
		w.kills["start-while-db-down"]++
		if err := w.procs.Start(); err != nil {
			t.Error(err)
		}
		sleepCtx(ctx, outage)
		w.proxy.Thaw()
		sleepCtx(ctx, 3*time.Second)

		w.procs.Note("postgres stops answering")
		w.proxy.Freeze()
		sleepCtx(ctx, outage)
		w.proxy.Thaw()
	})
}

// TestSQLiteDiskFull puts the SQLite database on a small tmpfs and fills
// it while the stream goes on: intake must refuse (the homeserver
// retries), nothing is lost or corrupted, and all flows once space is
// back.
func TestSQLiteDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("this scenario mounts a 16 MB tmpfs to fill (needs root or CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	full := pick(6*time.Second, 20*time.Second)
	w := newWorld(t, store.SQLite, options{dbURI: "sqlite:" + filepath.Join(dir, "bizbots.db"),
		rooms: pick(8, 16), messages: pick(15, 30), perTxn: 8, pace: 300 * time.Millisecond})
	filled := false
	w.run(90*time.Second, func(ctx context.Context) {
		sleepCtx(ctx, 2*time.Second)
		filler := filepath.Join(dir, "filler")
		w.procs.Note("disk full")
		filled = fill(t, filler)
		sleepCtx(ctx, full)
		w.procs.Note("disk space back")
		if err := os.Remove(filler); err != nil {
			t.Error(err)
		}
	})
	if !filled {
		t.Error("the disk never got full")
	}
	if n := w.pusher.Failures.Load(); n == 0 {
		t.Error("no transaction was refused while the disk was full: the fault did not bite")
	}
}

// fill writes path until the filesystem is full (bounded at 64 MB).
func fill(t *testing.T, path string) bool {
	f, err := os.Create(path)
	if err != nil {
		return errors.Is(err, syscall.ENOSPC)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := 0; i < 1024; i++ {
		if _, err := f.Write(buf); err != nil {
			return errors.Is(err, syscall.ENOSPC)
		}
	}
	t.Errorf("wrote 64 MB to %s without the disk filling up", path)
	return false
}

// TestMisbehavingHandlers streams messages that make the handler slow,
// panic, or panic in its commit code, among ordinary ones in many rooms:
// the panics end in one apology each, the process stays up, the other
// rooms flow, nothing is doubled.
func TestMisbehavingHandlers(t *testing.T) {
	engines(t, func(t *testing.T, engine store.Dialect) {
		w := newWorld(t, engine, options{rooms: pick(8, 16), messages: pick(15, 30), perTxn: 10,
			// Poison events park after three attempts (2 s + 4 s of backoff).
			edit: func(doc map[string]any) { faults.Section(t, doc, "dispatcher")["max_attempts"] = 3 },
			text: func(rng *rand.Rand, room, j int) string {
				n := " m" + strconv.Itoa(j)
				switch {
				case room == 0 && j%4 == 0:
					return "slow 2000" + n
				case rng.IntN(12) == 0:
					return "panic" + n
				case rng.IntN(12) == 0:
					return "commitpanic" + n
				}
				return "m" + strconv.Itoa(j)
			}})
		w.run(pick(2*time.Minute, 4*time.Minute), nil)
	})
}
