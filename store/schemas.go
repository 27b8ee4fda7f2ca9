package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// A Schema is the tables of one part that is not the core: a service
// (webhook deliveries, a third party's own tables) or an optional
// component (the Send API). It registers its numbered upgrade files with
// RegisterSchema in its init(), the way services register themselves, and
// `bizbots migrate` and `serve` apply them after the core schema, each
// with its own version row in bb_schema_versions. So a service written
// outside this repository brings its tables without a change here.
//
// Files are named NN-name.sql, numbered 1..n without gaps, and use the
// same dialect markers as the core upgrades ("-- only: postgres").
type Schema struct {
	Name     string
	Upgrades []Upgrade
}

var (
	schemasMu sync.RWMutex
	schemas   = map[string]Schema{}
)

// RegisterSchema makes the upgrade files in dir of files (typically an
// embed.FS and "schema") the schema of part name. Registering a name
// twice, or files badly named or numbered, is a programming error and
// panics.
func RegisterSchema(name string, files fs.FS, dir string) {
	ups, err := readUpgrades(files, dir)
	if err != nil {
		panic(fmt.Sprintf("store: schema %s: %v", name, err))
	}
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if _, dup := schemas[name]; dup {
		panic("store: schema " + name + " registered twice")
	}
	schemas[name] = Schema{Name: name, Upgrades: ups}
}

// Schemas lists the registered schemas, by name.
func Schemas() []Schema {
	schemasMu.RLock()
	defer schemasMu.RUnlock()
	out := make([]Schema, 0, len(schemas))
	for _, s := range schemas {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// readUpgrades reads NN-name.sql files from dir of files, checking the
// numbering.
func readUpgrades(files fs.FS, dir string) ([]Upgrade, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, err
	}
	var ups []Upgrade
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "-")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad upgrade file name %s (want NN-name.sql)", e.Name())
		}
		data, err := fs.ReadFile(files, strings.TrimPrefix(dir+"/"+e.Name(), "./"))
		if err != nil {
			return nil, err
		}
		ups = append(ups, Upgrade{Version: v, Name: name, SQL: string(data)})
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Version < ups[j].Version })
	for i, u := range ups {
		if u.Version != i+1 {
			return nil, fmt.Errorf("upgrade files must be numbered 1..n without gaps; found %d at position %d", u.Version, i+1)
		}
	}
	if len(ups) == 0 {
		return nil, errors.New("no upgrade files")
	}
	return ups, nil
}

// SchemaVersion reads the version of a registered schema (0 when it was
// never applied).
func (db *DB) SchemaVersion(ctx context.Context, name string) (int, error) {
	return db.schemaVersionOf(ctx, db.DB, name)
}

func (db *DB) schemaVersionOf(ctx context.Context, q Querier, name string) (int, error) {
	var exists bool
	var err error
	if db.Dialect == Postgres {
		err = q.QueryRowContext(ctx, `SELECT to_regclass('bb_schema_versions') IS NOT NULL`).Scan(&exists)
	} else {
		err = q.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'bb_schema_versions'`).Scan(&exists)
	}
	if err != nil || !exists {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT version FROM bb_schema_versions WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read version of schema %s: %w", name, err)
	}
	return v, nil
}

// upgradeSchemas applies every registered schema's missing steps, one
// transaction per step, and refuses a schema newer than this binary.
func (db *DB) upgradeSchemas(ctx context.Context) error {
	for _, s := range Schemas() {
		if err := db.upgradeSchema(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) upgradeSchema(ctx context.Context, s Schema) error {
	cur, err := db.SchemaVersion(ctx, s.Name)
	if err != nil {
		return err
	}
	if cur > len(s.Upgrades) {
		return fmt.Errorf("%w: schema %s is at version %d, this binary knows up to %d; upgrade bizbots", ErrSchemaTooNew, s.Name, cur, len(s.Upgrades))
	}
	for _, u := range s.Upgrades[cur:] {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if db.Dialect == Postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7319041)`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bb_schema_versions (
				name TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
				return err
			}
			v, err := db.schemaVersionOf(ctx, tx, s.Name)
			if err != nil || v >= u.Version {
				return err // another process got here first
			}
			if _, err := tx.ExecContext(ctx, ForDialect(u.SQL, db.Dialect)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO bb_schema_versions (name, version) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET version = excluded.version`, s.Name, u.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("upgrade schema %s to v%d (%s): %w", s.Name, u.Version, u.Name, err)
		}
	}
	return nil
}

// checkSchemas refuses to run when a registered schema is not at this
// binary's version.
func (db *DB) checkSchemas(ctx context.Context) error {
	for _, s := range Schemas() {
		v, err := db.SchemaVersion(ctx, s.Name)
		if err != nil {
			return err
		}
		switch latest := len(s.Upgrades); {
		case v > latest:
			return fmt.Errorf("%w: schema %s is at version %d, this binary knows up to %d", ErrSchemaTooNew, s.Name, v, latest)
		case v < latest:
			return fmt.Errorf("schema %s is at version %d, this binary needs %d: run `bizbots migrate`", s.Name, v, latest)
		}
	}
	return nil
}
