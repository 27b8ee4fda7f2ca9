package store

import (
	"errors"

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
