package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrWriterRunning means another process already serves a SQLite
// database: SQLite takes one writer process (Postgres takes many).
var ErrWriterRunning = errors.New("another bizbots process is serving this SQLite database")

// WriterRunningError is ErrWriterRunning with the holder's details.
type WriterRunningError struct {
	PID      string // as written in the lock file
	LockFile string
}

func (e *WriterRunningError) Error() string {
	return fmt.Sprintf("%v (pid %s holds %s); stop it first, or move to Postgres to run several processes", ErrWriterRunning, e.PID, e.LockFile)
}

func (e *WriterRunningError) Unwrap() error { return ErrWriterRunning }

// LockWriter makes this process the only one serving the SQLite database
// at uri, with an exclusive lock on a file next to it (uri + ".lock",
// holding the pid). The lock goes away with the process, even on kill -9.
// For Postgres it does nothing: leases coordinate several processes there.
func LockWriter(uri string) (release func(), err error) {
	path, ok := sqlitePath(uri)
	if !ok {
		return func() {}, nil
	}
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, &WriterRunningError{PID: pid, LockFile: lockPath}
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// sqlitePath returns the file of a sqlite: URI.
func sqlitePath(uri string) (string, bool) {
	for _, prefix := range []string{"sqlite3:", "sqlite:"} {
		if p, ok := strings.CutPrefix(uri, prefix); ok {
			return p, true
		}
	}
	return "", false
}
