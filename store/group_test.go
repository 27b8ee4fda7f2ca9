package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Callers sharing group transactions each get their own outcome: the
// writes of those that succeed are committed, the writes of one that
// fails or panics are not, and its error is its own.
func TestGroupTxGivesEachCallerItsOwnOutcome(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		errBoom := errors.New("boom")
		const callers = 200
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ('g', $1, 'me', 0)`,
						fmt.Sprintf("k%d", i)); err != nil {
						return err
					}
					switch i % 50 {
					case 7:
						return errBoom
					case 13:
						panic("exploded")
					}
					return nil
				})
			}()
		}
		wg.Wait()
		want := 0
		for i, err := range errs {
			switch i % 50 {
			case 7:
				if !errors.Is(err, errBoom) {
					t.Errorf("caller %d: %v, want its own error", i, err)
				}
			case 13:
				if err == nil {
					t.Errorf("caller %d panicked but got no error", i)
				}
			default:
				want++
				if err != nil {
					t.Errorf("caller %d: %v, want success (another caller failed, not it)", i, err)
				}
			}
		}
		var got int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM room_lease WHERE queue = 'g'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%d rows committed, want %d (the successful callers' only)", got, want)
		}
		var stray int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM room_lease WHERE queue = 'g' AND (room_id = 'k7' OR room_id = 'k13')`).Scan(&stray); err != nil || stray != 0 {
			t.Fatalf("failed callers' writes committed: %d (%v)", stray, err)
		}
	})
}
