package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// DefaultBots are the bots `bizbots init` configures.
var DefaultBots = []string{"pizza", "taxi", "support"}

// StackOptions configure StartStack.
type StackOptions struct {
	BizbotsBin     string // the bizbots binary
	Dir            string // work dir: bizbots.yaml, registration.yaml, bizbots.db, bizbots.log, dendrite/
	HSPort         int    // Dendrite's port on 127.0.0.1; 0 picks one
	ASPort         int    // bizbots' appservice port on 127.0.0.1; 0 picks one
	DendriteBinDir string // empty means DendriteBinDir()
	// WaitBots are localparts whose profiles must exist (registered by
	// `bizbots serve`) before StartStack returns; nil means DefaultBots.
	WaitBots []string
	// Log, if set, also receives bizbots' and Dendrite's output.
	Log io.Writer
	// Env is added to bizbots' environment.
	Env []string
	// OpenRegistration lets clients register accounts on Dendrite.
	OpenRegistration bool
}

// Stack is Dendrite plus `bizbots serve`, wired together with the
// registration written by `bizbots init`.
type Stack struct {
	Dendrite         *Dendrite
	Bizbots          *Process
	ConfigPath       string
	RegistrationPath string
	ASURL            string
	Dir              string
}

// StartStack runs `bizbots init`, starts Dendrite with the registration,
// starts `bizbots serve`, and waits for its port and for the bot users.
// On error everything started so far is stopped.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	if o.BizbotsBin == "" {
		return nil, errors.New("harness: BizbotsBin is required")
	}
	if o.Dir == "" {
		return nil, errors.New("harness: Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, p := range []*int{&o.HSPort, &o.ASPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	if o.HSPort == o.ASPort {
		return nil, errors.New("harness: HSPort and ASPort are the same")
	}
	if o.WaitBots == nil {
		o.WaitBots = DefaultBots
	}
	s := &Stack{
		Dir:              dir,
		ConfigPath:       filepath.Join(dir, "bizbots.yaml"),
		RegistrationPath: filepath.Join(dir, "registration.yaml"),
		ASURL:            "http://127.0.0.1:" + strconv.Itoa(o.ASPort),
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	initArgs := []string{"init",
		"--config", s.ConfigPath,
		"--registration", s.RegistrationPath,
		"--homeserver-url", "http://127.0.0.1:" + strconv.Itoa(o.HSPort),
		"--domain", "localhost",
		"--listen", "127.0.0.1:" + strconv.Itoa(o.ASPort),
		"--database", "sqlite:" + filepath.Join(dir, "bizbots.db"),
		"--force",
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	out, err := exec.CommandContext(ictx, o.BizbotsBin, initArgs...).CombinedOutput()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("harness: %s %v: %w\n%s", o.BizbotsBin, initArgs, err, out)
	}

	s.Dendrite, err = StartDendrite(ctx, Options{
		BinDir:           o.DendriteBinDir,
		WorkDir:          filepath.Join(dir, "dendrite"),
		Port:             o.HSPort,
		Registrations:    []string{s.RegistrationPath},
		Stdout:           o.Log,
		OpenRegistration: o.OpenRegistration,
	})
	if err != nil {
		return nil, err
	}

	s.Bizbots, err = StartProcess(filepath.Join(dir, "bizbots.log"), o.Log, o.Env, o.BizbotsBin, "serve", "--config", s.ConfigPath)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitTCP(wctx, "127.0.0.1:"+strconv.Itoa(o.ASPort), s.Bizbots.Done()); err != nil {
		return nil, s.withLog(fmt.Errorf("bizbots serve: %w (exit: %v)", err, s.Bizbots.ExitErr()))
	}
	for _, bot := range o.WaitBots {
		if err := s.Dendrite.WaitProfile(wctx, s.Dendrite.UserID(bot), s.Bizbots.Done()); err != nil {
			return nil, s.withLog(err)
		}
	}
	return s, nil
}

func (s *Stack) withLog(err error) error {
	if s.Bizbots == nil {
		return err
	}
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, s.Bizbots.LogPath, TailFile(s.Bizbots.LogPath, 40))
}

// Stop stops bizbots, then Dendrite. It returns the first error.
func (s *Stack) Stop() error {
	var first error
	if s.Bizbots != nil {
		first = s.Bizbots.Stop(15 * time.Second)
	}
	if s.Dendrite != nil {
		if err := s.Dendrite.Stop(); first == nil {
			first = err
		}
	}
	return first
}

// WaitProfile waits until GET /_matrix/client/v3/profile/{userID} answers
// 200, i.e. the account exists; exited (may be nil) aborts the wait.
func (d *Dendrite) WaitProfile(ctx context.Context, userID string, exited <-chan struct{}) error {
	path := "/_matrix/client/v3/profile/" + url.PathEscape(userID)
	for attempt := 1; ; attempt++ {
		err := d.Do(ctx, http.MethodGet, path, "", nil, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not registered after %d attempts (last: %v): %w", userID, attempt, err, ctx.Err())
		case <-exited:
			return fmt.Errorf("harness: process exited before %s was registered", userID)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// BizbotsBin returns a bizbots binary for a test: $BIZBOTS_BIN, or one built
// with `go build ./cmd/bizbots` into a temp dir. Without cmd/bizbots the test
// is skipped (failed with E2E_REQUIRE=1).
func BizbotsBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BIZBOTS_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "bizbots")); err != nil {
		SkipOrFail(t, "no cmd/bizbots to build: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "bizbots")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bizbots")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/bizbots: %v\n%s", err, out)
	}
	return bin
}

// StartStackT is StartStack for a test: Dendrite binaries missing means
// skip (fail with E2E_REQUIRE=1), the dir is t.TempDir() unless set, and
// everything is stopped in t.Cleanup, with log tails on failure.
func StartStackT(t testing.TB, o StackOptions) *Stack {
	t.Helper()
	if o.DendriteBinDir == "" {
		dir, err := DendriteBinDir()
		if err != nil {
			t.Fatal(err)
		}
		o.DendriteBinDir = dir
	}
	if err := CheckBinaries(o.DendriteBinDir); err != nil {
		SkipOrFail(t, "%v", err)
	}
	if o.BizbotsBin == "" {
		o.BizbotsBin = BizbotsBin(t)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := StartStack(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("--- tail of %s ---\n%s", s.Bizbots.LogPath, TailFile(s.Bizbots.LogPath, 80))
			t.Logf("--- tail of %s ---\n%s", s.Dendrite.LogPath, TailFile(s.Dendrite.LogPath, 40))
		}
	})
	return s
}
