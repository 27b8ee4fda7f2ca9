package store

import (
	"errors"
	"strings"
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
