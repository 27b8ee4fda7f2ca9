package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func TestFreshMigrationReachesLatest(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Empty(t, d)
			from, to, err := db.Upgrade(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if from != 0 || to != store.LatestVersion() {
				t.Fatalf("upgrade went %d→%d, want 0→%d", from, to, store.LatestVersion())
			}
			if len(db.InstallID) != 32 {
				t.Fatalf("install id %q: want 32 hex chars", db.InstallID)
			}
			// A second run is a no-op and keeps the install id.
			id := db.InstallID
			from, to, err = db.Upgrade(ctx)
			if err != nil || from != to || db.InstallID != id {
				t.Fatalf("second upgrade: %d→%d, id %q→%q, err %v", from, to, id, db.InstallID, err)
			}
			if err := db.Prepare(ctx); err != nil {
				t.Fatalf("prepare after migration: %v", err)
			}
		})
	}
}

func TestUpgradeInPlaceKeepsData(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.Empty(t, d)
			prev := store.LatestVersion() - 1
			if _, _, err := db.UpgradeTo(ctx, prev); err != nil {
				t.Fatal(err)
			}
			if err := db.Prepare(ctx); err == nil || !strings.Contains(err.Error(), "bizbots migrate") {
				t.Fatalf("prepare on an old schema: want a hint to run migrate, got %v", err)
			}
			_, err := db.ExecContext(ctx, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at)
				VALUES ('$e1', '!r:x', '@a:x', 'm.room.message', 1, '{}', 't1', 1)`)
			if err != nil {
				t.Fatal(err)
			}
			id := db.InstallID
			from, to, err := db.Upgrade(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if from != prev || to != store.LatestVersion() {
				t.Fatalf("upgrade went %d→%d", from, to)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE event_id = '$e1'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("inbox row after upgrade: n=%d err=%v", n, err)
			}
			if db.InstallID != id {
				t.Fatal("install id changed on upgrade")
			}
			// The new version's tables exist and work.
			if _, err := db.ExecContext(ctx, `INSERT INTO customers (bot_user_id, user_id, first_seen, last_seen) VALUES ('@b:x', '@a:x', 1, 1)`); err != nil {
				t.Fatalf("table from the new version: %v", err)
			}
		})
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db := storetest.New(t, d)
			if _, err := db.ExecContext(ctx, `UPDATE bb_version SET version = $1`, store.LatestVersion()+1); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.Upgrade(ctx); !errors.Is(err, store.ErrSchemaTooNew) {
				t.Fatalf("upgrade of a newer schema: want ErrSchemaTooNew, got %v", err)
			}
			if err := db.Prepare(ctx); !errors.Is(err, store.ErrSchemaTooNew) {
				t.Fatalf("prepare on a newer schema: want ErrSchemaTooNew, got %v", err)
			}
		})
	}
}

func TestForDialect(t *testing.T) {
	in := "a INT, -- only: postgres\nb INT -- only: sqlite\nc INT"
	if got := store.ForDialect(in, store.Postgres); got != "a INT, \nc INT" {
		t.Fatalf("postgres: %q", got)
	}
	if got := store.ForDialect(in, store.SQLite); got != "b INT \nc INT" {
		t.Fatalf("sqlite: %q", got)
	}
}

func TestIsUniqueViolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		insert := `INSERT INTO bots (user_id, registered_at) VALUES ('@a:x', 1)`
		if _, err := db.ExecContext(ctx, insert); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, insert)
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate key not recognised: %v", err)
		}
		_, err = db.ExecContext(ctx, `INSERT INTO bots (user_id) VALUES ('@b:x')`) // NOT NULL, not unique
		if err == nil || store.IsUniqueViolation(err) {
			t.Fatalf("a NOT NULL failure taken for a unique violation: %v", err)
		}
	})
}

// A migration reports its steps as it goes (bizbots migrate shows them).
func TestUpgradeReportsProgress(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Empty(t, d)
			var seen [][2]int
			db.UpgradeProgress = func(done, total int) { seen = append(seen, [2]int{done, total}) }
			if _, _, err := db.Upgrade(context.Background()); err != nil {
				t.Fatal(err)
			}
			n := store.LatestVersion()
			if len(seen) != n+1 || seen[0] != [2]int{0, n} || seen[n] != [2]int{n, n} {
				t.Errorf("progress %v, want 0/%d … %d/%d", seen, n, n, n)
			}
		})
	}
}

// AutovacuumOff reads the server's own setting on Postgres; SQLite has no
// vacuum to miss.
func TestAutovacuumOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		off, err := db.AutovacuumOff(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := false
		if db.Dialect == store.Postgres {
			var setting string
			if err := db.QueryRowContext(ctx, `SELECT setting FROM pg_settings WHERE name = 'autovacuum'`).Scan(&setting); err != nil {
				t.Fatal(err)
			}
			want = setting != "on"
		}
		if off != want {
			t.Fatalf("AutovacuumOff = %v, want %v", off, want)
		}
	})
}
