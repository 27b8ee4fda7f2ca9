package faults

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bizbots/bizbots/internal/loopport"
)

// Supervisor runs, kills and restarts `bizbots serve` on one config, and
// notices when the process exits by itself (a crash): with Restart set it
// starts it again a second later, as systemd would, a bounded number of
// times.
type Supervisor struct {
	T                     testing.TB
	Bin, CfgPath, LogPath string
	// Restart makes the supervisor start bizbots again after it exited by
	// itself, at most MaxRestarts times.
	Restart     bool
	MaxRestarts int
	// Env is added to the process's environment.
	Env []string

	mu       sync.Mutex
	closed   bool
	cmd      *exec.Cmd
	exited   chan struct{}
	ending   bool // we killed or stopped it: the exit is expected
	started  time.Time
	n        int
	crashes  []string
	restarts int
	cpu      atomic.Int64 // user+system ns of the processes that ended
}

// Start starts bizbots; it is an error if it runs already.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startLocked()
}

func (s *Supervisor) startLocked() error {
	if s.closed {
		return errors.New("the test is over")
	}
	if s.cmd != nil {
		return errors.New("bizbots is already running")
	}
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.n++
	fmt.Fprintf(logf, "=== faults: start #%d at %s\n", s.n, time.Now().Format(time.StampMilli))
	cmd := exec.Command(s.Bin, "serve", "--config", s.CfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bizbots: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited, s.started, s.ending = cmd, exited, time.Now(), false
	go s.wait(cmd, exited)
	return nil
}

// wait owns one process: it reaps it and, if nobody asked it to end,
// records a crash and maybe restarts it.
func (s *Supervisor) wait(cmd *exec.Cmd, exited chan struct{}) {
	err := cmd.Wait()
	s.cpu.Add(int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()))
	close(exited)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != cmd || s.ending {
		return
	}
	s.cmd = nil
	s.crashes = append(s.crashes, fmt.Sprintf("#%d exited by itself after %s: %v",
		s.n, time.Since(s.started).Round(time.Millisecond), err))
	if s.Restart && s.restarts < s.MaxRestarts && !s.closed {
		s.restarts++
		time.AfterFunc(time.Second, func() { // systemd's RestartSec, shortened
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.cmd == nil && !s.closed {
				_ = s.startLocked()
			}
		})
	}
}

// Crashes lists the exits nobody asked for.
func (s *Supervisor) Crashes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.crashes...)
}

// GaveUp says whether bizbots kept dying until the restarts ran out.
func (s *Supervisor) GaveUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd == nil && s.Restart && s.restarts >= s.MaxRestarts && len(s.crashes) > s.MaxRestarts
}

// Running says whether a process is up.
func (s *Supervisor) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Starts is how many processes were started.
func (s *Supervisor) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// CPU is the CPU time the ended processes used.
func (s *Supervisor) CPU() time.Duration { return time.Duration(s.cpu.Load()) }

// Kill sends SIGKILL, waits for the process to be gone and says how long
// it had run (0 if none ran).
func (s *Supervisor) Kill() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	s.ending = true
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	up := time.Since(s.started)
	s.cmd = nil
	s.note(fmt.Sprintf("kill -9 #%d after %s", s.n, up))
	return up
}

// Note writes a marker line into the bizbots log.
func (s *Supervisor) Note(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.note(msg)
}

func (s *Supervisor) note(msg string) {
	if f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintf(f, "=== faults: %s at %s\n", msg, time.Now().Format(time.StampMilli))
		f.Close()
	}
}

// Stop asks for a clean shutdown (SIGTERM), killing after 20 s.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.ending = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.T.Errorf("bizbots did not stop within 20 s of SIGTERM (goroutine dump in %s)", s.LogPath)
		_ = s.cmd.Process.Signal(syscall.SIGQUIT) // Go dumps its goroutines and exits
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.exited
		}
	}
	s.cmd = nil
}

// StopNow kills whatever runs and refuses later starts (test cleanup).
func (s *Supervisor) StopNow() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.closed, s.ending = nil, true, true
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
	tmpDirs []string
)

// Binary builds the main package pkg once per test binary run and returns
// its path. Call Cleanup from TestMain to remove the builds.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "bizbots-faults-")
	if err != nil {
		t.Fatal(err)
	}
	tmpDirs = append(tmpDirs, dir)
	bin := filepath.Join(dir, "bizbots")
	// goolm: the pure-Go Olm, as releases are built (docs/encryption.md).
	out, err := exec.Command(goTool(), "build", "-tags", "goolm", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Cleanup removes the binaries Binary built.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	for _, d := range tmpDirs {
		os.RemoveAll(d)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// FreeAddr returns a loopback address with a port free right now, outside
// the ephemeral range: bizbots is started again on it after every kill.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopport.Free()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
