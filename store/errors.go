package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/lib/pq"
	"github.com/mattn/go-sqlite3"
)

// IsUniqueViolation reports whether err is a unique or primary-key
// constraint failure on either engine: the sign that a concurrent writer
// won a race (services wrap it in handlers.ErrConflict).
func IsUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	var liteErr sqlite3.Error
	if errors.As(err, &liteErr) {
		return liteErr.ExtendedCode == sqlite3.ErrConstraintUnique || liteErr.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// IsUnreachable reports whether err says the database could not be
// reached or the connection was lost (a restart, a network cut, a
// failover), not that a statement was wrong: trying again later may
// succeed.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		// Class 08: connection exception; 57P01-57P03: the server is
		// shutting down or starting.
		code := string(pqErr.Code)
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// ErrCorrupt means a stored value cannot be read back (a JSON column that
// is not JSON): an error to report, never a value to replace silently.
var ErrCorrupt = errors.New("stored data is corrupt")

// Clean makes text from outside (event content, display names) storable
// on both engines: invalid UTF-8 and NUL, which Postgres refuses in text
// and SQLite would cut a C string at, become U+FFFD.
func Clean(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
