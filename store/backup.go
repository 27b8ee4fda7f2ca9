package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/mattn/go-sqlite3"
)

// backupStepPages is how many pages one step of an online backup copies
// (512 KiB at SQLite's default 4 KiB pages); writers wait at most one step.
const backupStepPages = 128

// BackupSQLite copies the SQLite database db into a new file dest while it
// stays in use (SQLite's online backup: the copy is one consistent
// snapshot). progress, if not nil, is called after each step with the
// pages done and the total. dest must not exist.
func BackupSQLite(ctx context.Context, db *DB, dest string, progress func(done, total int)) error {
	if db.Dialect != SQLite {
		return errors.New("BackupSQLite: not a SQLite database (for Postgres use pg_dump; see docs/admin.md)")
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s exists; not overwriting a backup", dest)
	}
	destDB, err := sql.Open("sqlite3", "file:"+dest)
	if err != nil {
		return err
	}
	defer destDB.Close()
	dconn, err := destDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("create %s: %w", dest, err)
	}
	defer dconn.Close()
	sconn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer sconn.Close()
	return dconn.Raw(func(dc any) error {
		return sconn.Raw(func(sc any) error {
			dst, ok1 := dc.(*sqlite3.SQLiteConn)
			if g, ok := sc.(*gatedConn); ok {
				sc = g.Unwrap()
			}
			src, ok2 := sc.(*sqlite3.SQLiteConn)
			if !ok1 || !ok2 {
				return errors.New("backup: not a go-sqlite3 connection")
			}
			b, err := dst.Backup("main", src, "main")
			if err != nil {
				return fmt.Errorf("start backup: %w", err)
			}
			for {
				if err := ctx.Err(); err != nil {
					_ = b.Close()
					return err
				}
				done, err := b.Step(backupStepPages)
				if err != nil {
					_ = b.Close()
					return fmt.Errorf("backup step: %w", err)
				}
				if progress != nil {
					total := b.PageCount()
					progress(total-b.Remaining(), total)
				}
				if done {
					return b.Finish()
				}
			}
		})
	})
}
