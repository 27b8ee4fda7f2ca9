package harness

import (
	"context"
	"os"
	"testing"
	"time"
)

// AllowSkipEnv is the variable that lets end-to-end tests skip when a
// prerequisite is missing. Only the exact value "1" counts.
const AllowSkipEnv = "E2E_ALLOW_SKIP"

// Required reports whether missing prerequisites (the Dendrite build, a
// Python with matrix-nio, cmd/bizbots) fail the test. That is the default,
// so that CI can never pass by skipping; only E2E_ALLOW_SKIP=1 turns it off
// (for a quick local `go test ./...` on a machine without the set-up).
// `make deps` (scripts/build-dendrite.sh, scripts/install-client-deps.sh,
// scripts/install-js-client.sh) provides everything.
func Required() bool { return os.Getenv(AllowSkipEnv) != "1" }

// SkipOrFail fails the test because a prerequisite is missing, or skips
// it when E2E_ALLOW_SKIP=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("missing end-to-end prerequisite: "+format+
			" (run `make deps`, i.e. scripts/build-dendrite.sh, scripts/install-client-deps.sh and scripts/install-js-client.sh;"+
			" or set "+AllowSkipEnv+"=1 to skip instead of failing)", args...)
	}
	t.Skipf("skipped ("+AllowSkipEnv+"=1): missing end-to-end prerequisite: "+format, args...)
}

// Start runs Dendrite for a test: it fails (skips with E2E_ALLOW_SKIP=1)
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
