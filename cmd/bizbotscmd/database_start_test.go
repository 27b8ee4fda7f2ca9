package bizbotscmd

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
)

// A start step that fails because Postgres went away (a restart while
// bizbots migrates) is run again once it is back, instead of ending
// serve; a real error, or SQLite, ends it at once.
func TestStartStepsWaitForPostgresToComeBack(t *testing.T) {
	const pg = "postgres://bizbots@127.0.0.1/bizbots"
	log := zerolog.New(zerolog.NewTestWriter(t))
	calls := 0
	err := whileReachable(context.Background(), pg, "migrate", log, func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("upgrade to v8 (indexes): read schema version: %w", driver.ErrBadConn)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	wrong := errors.New(`pq: syntax error at or near "SELEC"`)
	calls = 0
	if err := whileReachable(context.Background(), pg, "migrate", log, func() error { calls++; return wrong }); !errors.Is(err, wrong) || calls != 1 {
		t.Fatalf("a statement error: %v after %d calls, want it returned at once", err, calls)
	}
	calls = 0
	if err := whileReachable(context.Background(), "sqlite:x.db", "migrate", log, func() error { calls++; return driver.ErrBadConn }); err == nil || calls != 1 {
		t.Fatalf("sqlite: %v after %d calls, want the error at once", err, calls)
	}
}
