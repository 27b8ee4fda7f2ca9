package dispatcher_test

import (
	"context"
	"testing"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// A conversation a person took over in the console gets no bot answers;
// the customer's messages are kept for the console; handed back, the bot
// answers again.
func TestAgentHoldSilencesTheBot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := startFlow(t, db)
		room := "!held:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.waitReply(t, room, "Welcome to Pizza!")

		if changed, err := store.SetConsoleRoom(ctx, db, botID.String(), room, store.ConvAgent, "@agent:example.org"); err != nil || !changed {
			t.Fatalf("take over: changed %v, err %v", changed, err)
		}
		held := fakehs.Message(room, alice, "is my pizza coming?")
		f.deliver(t, held)
		f.waitHandled(t, evID(held))
		if got := bodies(f.hs.SendsTo(room)); len(got) != 1 {
			t.Fatalf("the bot answered a held conversation: %q", got)
		}
		if st := f.inbox(t, evID(held)); st.status != "done" {
			t.Fatalf("held message: %+v, want done (kept for the console)", st)
		}
		msgs, err := store.ConsoleMessages(ctx, db, botID.String(), room, alice, 10)
		if err != nil || len(msgs) == 0 || msgs[len(msgs)-1].Text != "is my pizza coming?" {
			t.Fatalf("console history %+v, err %v", msgs, err)
		}

		if _, err := store.SetConsoleRoom(ctx, db, botID.String(), room, store.ConvBot, ""); err != nil {
			t.Fatal(err)
		}
		f.deliver(t, fakehs.Message(room, alice, "hello again"))
		f.waitReply(t, room, "echo: hello again")
	})
}
