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
	"strings"
	"testing"
	"time"
)

// DefaultBots are the bots `bizbots init` configures: the demo businesses
// (ordering, taxi, support) and the echo bot that checks an install.
var DefaultBots = []string{"pizza", "taxi", "support", "echo"}

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
	// LogLevel is bizbots' logging.level (trace, debug, info, warn,
	// error); empty leaves what `bizbots init` wrote (info). StartStackT
	// defaults it to $E2E_BIZBOTS_LOG_LEVEL, else debug. Ignored when the
	// config has no logging.level line.
	LogLevel string
	// Config overrides values in the bizbots.yaml written by `bizbots
	// init`, before anything starts: "section.key" -> YAML value, e.g.
	// {"dispatcher.lease_timeout": "5s"}. The key must already be in the
	// file (a two-level key of a top-level section).
	Config map[string]string
	// AfterInit, if set, runs after `bizbots init` (and the Config and
	// LogLevel edits), before Dendrite starts: the place to add bots
	// (AddBot), set their config blocks (SetBotConfig) and regenerate the
	// registration (s.RunBizbots(ctx, "", "generate-registration",
	// "--force")), which Dendrite reads at start. s.Dendrite and s.Bizbots
	// are nil.
	AfterInit func(ctx context.Context, s *Stack) error
	// BeforeServe, if set, runs once Dendrite is up, before the first
	// `bizbots serve`: the place to create users and rooms whose ids go
	// into the config (a staff room). s.Bizbots is nil.
	BeforeServe func(ctx context.Context, s *Stack) error
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

	bizbotsBin string
	asAddr     string
	env        []string
	log        io.Writer
	starts     int
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
		bizbotsBin:       o.BizbotsBin,
		asAddr:           "127.0.0.1:" + strconv.Itoa(o.ASPort),
		env:              o.Env,
		log:              o.Log,
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
	if err := EditConfig(s.ConfigPath, o.Config); err != nil {
		return nil, err
	}
	if o.LogLevel != "" {
		// Best effort: a stand-in bizbots (the harness self-tests' fake)
		// may write a config without logging.level.
		err := EditConfig(s.ConfigPath, map[string]string{"logging.level": o.LogLevel})
		if err != nil && !errors.Is(err, ErrNoConfigKey) {
			return nil, err
		}
	}

	if o.AfterInit != nil {
		if err := o.AfterInit(ctx, s); err != nil {
			return nil, fmt.Errorf("harness: AfterInit: %w", err)
		}
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

	if o.BeforeServe != nil {
		if err := o.BeforeServe(ctx, s); err != nil {
			return nil, fmt.Errorf("harness: BeforeServe: %w", err)
		}
	}
	if err := s.StartBizbots(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, bot := range o.WaitBots {
		if err := s.Dendrite.WaitProfile(wctx, s.Dendrite.UserID(bot), s.Bizbots.Done()); err != nil {
			return nil, s.withLog(err)
		}
	}
	return s, nil
}

// StartBizbots starts `bizbots serve --config s.ConfigPath` (the same
// config and database every time; its output is appended to bizbots.log)
// and waits up to 60s for the appservice port. StartStack calls it once;
// call it again after KillBizbots or StopBizbots to restart bizbots.
func (s *Stack) StartBizbots(ctx context.Context) error {
	if s.Bizbots != nil {
		select {
		case <-s.Bizbots.Done():
		default:
			return errors.New("harness: bizbots is still running; stop or kill it first")
		}
	}
	s.starts++
	logPath := filepath.Join(s.Dir, "bizbots.log")
	if s.starts > 1 {
		appendMarker(logPath, fmt.Sprintf("harness: starting bizbots serve again (start #%d)", s.starts))
	}
	p, err := StartProcess(logPath, s.log, s.env, s.bizbotsBin, "serve", "--config", s.ConfigPath)
	if err != nil {
		return err
	}
	s.Bizbots = p
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitTCP(wctx, s.asAddr, p.Done()); err != nil {
		return s.withLog(fmt.Errorf("bizbots serve: %w (exit: %v)", err, p.ExitErr()))
	}
	return nil
}

// KillBizbots kills `bizbots serve` with SIGKILL (a crash: nothing is
// flushed, nothing released) and waits up to 10s for it to be gone.
func (s *Stack) KillBizbots() error {
	if s.Bizbots == nil {
		return errors.New("harness: bizbots was never started")
	}
	appendMarker(s.Bizbots.LogPath, "harness: SIGKILL to bizbots serve")
	err := s.Bizbots.Kill(10 * time.Second)
	_ = s.Bizbots.Stop(0) // gone already: this only closes its log file
	return err
}

// StopBizbots stops `bizbots serve` with SIGTERM (a graceful shutdown),
// then SIGKILL after grace.
func (s *Stack) StopBizbots(grace time.Duration) error {
	if s.Bizbots == nil {
		return errors.New("harness: bizbots was never started")
	}
	appendMarker(s.Bizbots.LogPath, "harness: SIGTERM to bizbots serve")
	return s.Bizbots.Stop(grace)
}

// RunBizbots runs the bizbots binary once with args plus --config
// s.ConfigPath (e.g. "generate-registration", "--force", or "chat",
// "coffee", "--as", "@ana:localhost"), stdin as its input, and returns
// what it printed. It is bounded by ctx and, at most, 2 minutes.
func (s *Stack) RunBizbots(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args = append(append([]string{}, args...), "--config", s.ConfigPath)
	cmd := exec.CommandContext(ctx, s.bizbotsBin, args...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("harness: bizbots %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}

// appendMarker appends one line to a log, so a reader can see where the
// harness stopped or restarted a process. Errors are ignored.
func appendMarker(path, msg string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s %s ===\n", time.Now().UTC().Format(time.RFC3339Nano), msg)
}

// ErrNoConfigKey: EditConfig found no line for a key.
var ErrNoConfigKey = errors.New("harness: key not in the config")

// EditConfig sets values in a YAML config written by `bizbots init`:
// edits maps "section.key" to the new value, which replaces the value of
// the line "  key: ..." inside the top-level "section:" block. A key that
// is not there is an error (this is a line edit, not a YAML library).
func EditConfig(path string, edits map[string]string) error {
	if len(edits) == 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for k, v := range edits {
		section, key, ok := strings.Cut(k, ".")
		if !ok || section == "" || key == "" || strings.Contains(key, ".") {
			return fmt.Errorf("harness: config edit %q: want section.key", k)
		}
		in, done := false, false
		for i, line := range lines {
			if line != "" && line[0] != ' ' && line[0] != '#' {
				in = strings.TrimSpace(line) == section+":"
				continue
			}
			if in && strings.HasPrefix(line, "  "+key+":") {
				lines[i] = "  " + key + ": " + v
				done = true
				break
			}
		}
		if !done {
			return fmt.Errorf("%w: config edit %q: no line %q in section %q of %s", ErrNoConfigKey, k, "  "+key+":", section, path)
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600)
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
// fails (is skipped with E2E_ALLOW_SKIP=1).
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
	if err := BuildBizbots(ctx, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// BuildBizbots runs `go build -tags goolm -o out ./cmd/bizbots` in the
// repository (goolm: the pure-Go Olm, as releases are built; see
// docs/encryption.md). A package's TestMain can build once and set
// $BIZBOTS_BIN for its tests.
func BuildBizbots(ctx context.Context, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "goolm", "-o", out, "./cmd/bizbots")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bizbots: %w\n%s", err, msg)
	}
	return nil
}

// keptDir is base/<test name>, emptied first, for E2E_WORK_DIR: the work
// dir (logs, databases, configs) survives the test for a post-mortem.
func keptDir(t testing.TB, base string) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, t.Name())
	dir, err := filepath.Abs(filepath.Join(base, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("work dir (E2E_WORK_DIR, kept): %s", dir)
	return dir
}

// StartStackT is StartStack for a test: Dendrite binaries missing means
// failure (skip with E2E_ALLOW_SKIP=1), the dir is t.TempDir() unless set, and
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
	if o.LogLevel == "" {
		o.LogLevel = os.Getenv("E2E_BIZBOTS_LOG_LEVEL")
		if o.LogLevel == "" {
			o.LogLevel = "debug"
		}
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
		if base := os.Getenv("E2E_WORK_DIR"); base != "" {
			o.Dir = keptDir(t, base)
		}
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
