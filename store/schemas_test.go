package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// A schema brought by a service outside the core: two steps, the second
// with a dialect difference.
func init() {
	store.RegisterSchema("schematest", fstest.MapFS{
		"01-notes.sql": {Data: []byte(`CREATE TABLE schematest_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);`)},
		"02-tags.sql": {Data: []byte(`ALTER TABLE schematest_notes ADD COLUMN tag TEXT NOT NULL DEFAULT '';
CREATE INDEX schematest_notes_tag ON schematest_notes (tag); -- only: postgres
CREATE INDEX schematest_notes_tag2 ON schematest_notes (tag); -- only: sqlite`)},
	}, ".")
}

func TestServiceSchemaAppliedWithItsOwnVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		v, err := db.SchemaVersion(ctx, "schematest")
		if err != nil || v != 2 {
			t.Fatalf("schema version %d, %v; want 2", v, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schematest_notes (id, body, tag) VALUES (1, 'hi', 'x')`); err != nil {
			t.Fatalf("the service's table is not there: %v", err)
		}
		// Upgrading again is a no-op that keeps the data.
		if _, _, err := db.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schematest_notes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows after a second upgrade: %d, %v", n, err)
		}
		if err := db.Prepare(ctx); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	})
}

func TestServiceSchemaUpgradesInPlaceAndRefusesNewer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// As if the database was migrated by a binary that knew step 1 only.
		if _, err := db.ExecContext(ctx, `DROP INDEX schematest_notes_tag`+map[store.Dialect]string{store.SQLite: "2"}[db.Dialect]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `DROP TABLE schematest_notes`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE schematest_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schematest_notes (id, body) VALUES (7, 'kept')`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE bb_schema_versions SET version = 1 WHERE name = 'schematest'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Prepare(ctx); err == nil || !strings.Contains(err.Error(), "schematest") || !strings.Contains(err.Error(), "bizbots migrate") {
			t.Fatalf("prepare on an old service schema: want a hint naming it and migrate, got %v", err)
		}
		if _, _, err := db.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		var tag string
		if err := db.QueryRowContext(ctx, `SELECT tag FROM schematest_notes WHERE id = 7`).Scan(&tag); err != nil {
			t.Fatalf("row kept through the upgrade: %v", err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE bb_schema_versions SET version = 9 WHERE name = 'schematest'`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.Upgrade(ctx); !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("upgrade with a newer service schema: want ErrSchemaTooNew, got %v", err)
		}
		if err := db.Prepare(ctx); !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("prepare with a newer service schema: want ErrSchemaTooNew, got %v", err)
		}
	})
}

func TestRegisterSchemaRefusesBadFiles(t *testing.T) {
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "without gaps") {
			t.Fatalf("want a panic about the numbering, got %v", p)
		}
	}()
	store.RegisterSchema("gappy", fstest.MapFS{"01-a.sql": {Data: []byte("")}, "03-c.sql": {Data: []byte("")}}, ".")
}
