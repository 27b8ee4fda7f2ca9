package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Process is a child process (e.g. `bizbots serve`) whose output goes to a
// log file, stopped with SIGTERM then SIGKILL.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string

	logFile *os.File
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts name with args, its stdout and stderr appended to
// logPath (and copied to also, if not nil). env entries are added to the
// current environment.
func StartProcess(logPath string, also io.Writer, env []string, name string, args ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	var out io.Writer = f
	if also != nil {
		out = io.MultiWriter(f, also)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &Process{Cmd: cmd, LogPath: logPath, logFile: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is the result of Wait once Done is closed.
func (p *Process) ExitErr() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs. Safe to call twice.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() {
		p.stopErr = StopProcess(p.Cmd, p.done, grace)
		p.logFile.Close()
	})
	return p.stopErr
}

// Kill sends SIGKILL and waits up to wait for the process to be gone. After
// it, Stop does nothing more than close the log.
func (p *Process) Kill(wait time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Kill(); err != nil {
		select {
		case <-p.done:
			return nil
		default:
			return fmt.Errorf("harness: kill %s: %w", p.Cmd.Path, err)
		}
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("harness: %s (pid %d) still running %s after SIGKILL", p.Cmd.Path, p.Cmd.Process.Pid, wait)
	}
}

// WaitTCP waits until addr (host:port) accepts a TCP connection, the
// process exits, or ctx ends. Attempts are 100ms apart.
func WaitTCP(ctx context.Context, addr string, exited <-chan struct{}) error {
	for attempt := 1; ; attempt++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not accepting connections after %d attempts: %w", addr, attempt, ctx.Err())
		case <-exited:
			return fmt.Errorf("harness: process exited before %s accepted connections", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
