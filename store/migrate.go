package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
)

//go:embed upgrades/*.sql
var upgradeFiles embed.FS

// Upgrade is one numbered schema step.
type Upgrade struct {
	Version int
	Name    string
	SQL     string // raw, both dialects
}

// Upgrades lists the embedded schema steps in order.
func Upgrades() []Upgrade {
	ups, err := readUpgrades(upgradeFiles, "upgrades")
	if err != nil {
		panic(err) // embedded at build time; cannot fail at run time
	}
	return ups
}

// LatestVersion is the schema version this binary knows.
func LatestVersion() int { return len(Upgrades()) }

// ErrSchemaTooNew means the database was migrated by a newer bizbots.
var ErrSchemaTooNew = errors.New("database schema is newer than this bizbots")

// ForDialect keeps the lines of an upgrade meant for d: a line ending in
// "-- only: postgres" or "-- only: sqlite" is kept for that engine only.
func ForDialect(sqlText string, d Dialect) string {
	var out []string
	for _, line := range strings.Split(sqlText, "\n") {
		if i := strings.LastIndex(line, "-- only: "); i >= 0 {
			if Dialect(strings.TrimSpace(line[i+len("-- only: "):])) != d {
				continue
			}
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Version reads the schema version (0 for an empty database).
func (db *DB) Version(ctx context.Context) (int, error) {
	return db.schemaVersion(ctx, db.DB)
}

func (db *DB) schemaVersion(ctx context.Context, q Querier) (int, error) {
	// Ask the catalog first: on Postgres a failed SELECT would abort the
	// surrounding migration transaction.
	var exists bool
	var err error
	if db.Dialect == Postgres {
		err = q.QueryRowContext(ctx, `SELECT to_regclass('bb_version') IS NOT NULL`).Scan(&exists)
	} else {
		err = q.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'bb_version'`).Scan(&exists)
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT version FROM bb_version`).Scan(&v); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Upgrade migrates the schema to the newest version, one transaction per
// step, then the registered schemas of services and components (see
// RegisterSchema), and loads InstallID. It returns the core versions
// before and after.
func (db *DB) Upgrade(ctx context.Context) (from, to int, err error) {
	from, to, err = db.UpgradeTo(ctx, LatestVersion())
	if err != nil {
		return from, to, err
	}
	return from, to, db.upgradeSchemas(ctx)
}

// UpgradeTo migrates to exactly version target (tests use it to build an
// old schema). It refuses a database newer than this binary.
func (db *DB) UpgradeTo(ctx context.Context, target int) (from, to int, err error) {
	ups := Upgrades()
	if target > len(ups) {
		return 0, 0, fmt.Errorf("no schema version %d (latest is %d)", target, len(ups))
	}
	from, err = db.Version(ctx)
	if err != nil {
		return 0, 0, err
	}
	if from > len(ups) {
		return from, from, fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade bizbots", ErrSchemaTooNew, from, len(ups))
	}
	to = from
	// A step may rewrite or index a big table: it runs without the
	// per-call timeouts (statement_timeout, read deadline).
	if db.readTimeout != nil {
		prev := db.readTimeout.Swap(0)
		defer db.readTimeout.Store(prev)
	}
	for to < target {
		if db.UpgradeProgress != nil {
			db.UpgradeProgress(to-from, target-from)
		}
		u := ups[to]
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if db.Dialect == Postgres {
				// Several processes may start at once: one migrates, the
				// others wait here and then find nothing left to do.
				if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319041)`); err != nil {
					return err
				}
			}
			cur, err := db.schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if cur >= u.Version {
				return nil
			}
			if cur != u.Version-1 {
				return fmt.Errorf("schema moved to version %d while migrating", cur)
			}
			if _, err := tx.ExecContext(ctx, ForDialect(u.SQL, db.Dialect)); err != nil {
				return err
			}
			if cur == 0 {
				_, err = tx.ExecContext(ctx, `CREATE TABLE bb_version (version INTEGER NOT NULL)`)
				if err == nil {
					_, err = tx.ExecContext(ctx, `INSERT INTO bb_version (version) VALUES ($1)`, u.Version)
				}
			} else {
				_, err = tx.ExecContext(ctx, `UPDATE bb_version SET version = $1`, u.Version)
			}
			return err
		})
		if err != nil {
			return from, to, fmt.Errorf("upgrade to v%d (%s): %w", u.Version, u.Name, err)
		}
		to = u.Version
	}
	if db.UpgradeProgress != nil && to > from {
		db.UpgradeProgress(to-from, target-from)
	}
	if err := db.loadInstallID(ctx); err != nil {
		return from, to, err
	}
	return from, to, nil
}

func (db *DB) loadInstallID(ctx context.Context) error {
	err := db.QueryRowContext(ctx, `SELECT value FROM bb_meta WHERE key = 'install_id'`).Scan(&db.InstallID)
	if err != nil {
		return fmt.Errorf("read install id: %w", err)
	}
	return nil
}

// Prepare loads what a running service needs from an already migrated
// database and refuses one that is not at this binary's version.
func (db *DB) Prepare(ctx context.Context) error {
	v, err := db.Version(ctx)
	if err != nil {
		return err
	}
	switch latest := LatestVersion(); {
	case v > latest:
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d", ErrSchemaTooNew, v, latest)
	case v < latest:
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run `bizbots migrate`", v, latest)
	}
	if err := db.checkSchemas(ctx); err != nil {
		return err
	}
	return db.loadInstallID(ctx)
}

// AutovacuumOff reports whether the Postgres server runs without
// autovacuum (never on SQLite). Every message leaves dead row versions in
// the inbox and the outbox; without vacuum the queue indexes keep them
// and every claim walks past them, so each message costs more than the
// one before.
func (db *DB) AutovacuumOff(ctx context.Context) (bool, error) {
	if db.Dialect != Postgres {
		return false, nil
	}
	var on string
	if err := db.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&on); err != nil {
		return false, fmt.Errorf("read the server's autovacuum setting: %w", err)
	}
	return on != "on", nil
}
