package harness

import (
	"context"
	"os"
	"testing"
	"time"
)

// Required reports whether E2E_REQUIRE=1: missing prerequisites (Dendrite
// binaries, the Python client) fail the test instead of skipping it. CI sets
// it after running scripts/build-dendrite.sh and scripts/install-client-deps.sh.
func Required() bool { return os.Getenv("E2E_REQUIRE") == "1" }

// SkipOrFail skips the test, or fails it when E2E_REQUIRE=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set E2E_REQUIRE=1 to make this a failure)", args...)
}

// Start runs Dendrite for a test: it skips (or fails, with E2E_REQUIRE=1)
// when the binaries are missing, uses t.TempDir() as the work dir unless
// opts.WorkDir is set, stops Dendrite in t.Cleanup and, if the test failed,
// logs the tail of Dendrite's log.
func Start(t testing.TB, opts Options) *Dendrite {
	t.Helper()
	if opts.BinDir == "" {
		dir, err := DendriteBinDir()
		if err != nil {
			t.Fatal(err)
		}
		opts.BinDir = dir
	}
	if err := CheckBinaries(opts.BinDir); err != nil {
		SkipOrFail(t, "%v", err)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d, err := StartDendrite(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop dendrite: %v", err)
		}
		if t.Failed() {
			t.Logf("--- tail of %s ---\n%s", d.LogPath, TailFile(d.LogPath, 60))
		}
	})
	return d
}

// StartProcessT is StartProcess for a test: the process is stopped in
// t.Cleanup and, if the test failed, the tail of its log is logged.
func StartProcessT(t testing.TB, logPath string, env []string, name string, args ...string) *Process {
	t.Helper()
	p, err := StartProcess(logPath, nil, env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(15 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("--- tail of %s ---\n%s", logPath, TailFile(logPath, 60))
		}
	})
	return p
}
