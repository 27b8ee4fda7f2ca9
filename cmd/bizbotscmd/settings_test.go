package bizbotscmd

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// Two processes on one Postgres database: a price an owner changes in the
// console served by one is applied by the other's running bot at once
// (without a config reload), through the notification the save sends.
func TestConsoleSettingsReachOtherProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbs := storetest.Processes(t, 2)
	a, b := dbs[0], dbs[1]
	const pizza = id.UserID("@pizza:example.org")
	shop, err := ordering.New(ordering.Config{Shop: "Pizza Place"}, b)
	if err != nil {
		t.Fatal(err)
	}
	disp := dispatcher.New(b, []*dispatcher.Bot{{UserID: pizza, Handler: shop}}, "@bizbots:example.org", nil,
		dispatcher.Options{}, zerolog.New(zerolog.NewTestWriter(t)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		followConsoleSettings(ctx, b, disp, zerolog.New(zerolog.NewTestWriter(t)))
	}()
	defer func() { cancel(); <-done }()
	price := func() int64 {
		p, _ := shop.Catalog(ctx).Item("margherita").PriceOf("large")
		return int64(p)
	}
	if p := price(); p != 1250 {
		t.Fatalf("price before %d", p)
	}
	// What the console of process A commits when the owner saves. B's
	// listener needs a moment to connect: save again until B applies it
	// (each save is a complete, idempotent change).
	deadline := time.Now().Add(20 * time.Second)
	for price() != 1350 {
		if time.Now().After(deadline) {
			t.Fatalf("process B's bot still sells at %d after the save in process A", price())
		}
		err := a.Tx(ctx, func(tx store.Tx) error {
			if err := store.SetBotSetting(ctx, tx, pizza.String(), "item.margherita.size.large.price", "13.50", "@owner:example.org"); err != nil {
				return err
			}
			return a.NotifySettings(ctx, tx, pizza.String())
		})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(100*time.Millisecond, func() bool { return price() == 1350 })
	}
}

// waitUntil polls cond for at most d.
func waitUntil(d time.Duration, cond func() bool) {
	end := time.Now().Add(d)
	for !cond() && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
}
