package dispatcher_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// In this file, events come from someone trying to make a bot do what
// only bizbots itself may ask of it.

// refusedCount reads bizbots_dispatcher_refused_events_total{reason}.
func refusedCount(t *testing.T, reason string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "bizbots_dispatcher_refused_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// timerBot sets a timer on "remind me" and says which timers fire.
func timerBot(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	switch {
	case m.Kind == handlers.KindTimer:
		c.Reply("timer fired: " + m.Timer.Name + " " + m.Timer.Payload)
	case m.Text() == "remind me":
		c.After(0, "reminder", "tea")
		c.Reply("will do")
	default:
		c.Reply("echo: " + m.Text())
	}
	return nil
}

// A customer sends an event of bizbots' timer type with the name and
// payload of their choice: it must not reach the handler as a timer (a
// taxi ride "arrived", an order "ready"); bizbots' own timers still fire.
func TestForgedTimerEventIsIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(scripted(timerBot)))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		before := refusedCount(t, "reserved_type")
		forged := fakehs.Message(room, alice, "")
		forged["type"] = store.TimerEventType
		forged["content"] = map[string]any{"bot": botID.String(), "name": "arrived", "payload": "ride 42"}
		other := fakehs.Message(room, alice, "")
		other["type"] = "org.bizbots.anything"
		f.deliver(t, forged, other, fakehs.Message(room, alice, "remind me"))
		got := bodies(f.waitReply(t, room, "timer fired: reminder tea"))
		if strings.Join(got, "|") != "will do|timer fired: reminder tea" {
			t.Fatalf("replies %q: a customer's org.bizbots.timer event must not fire a timer; the bot's own must", got)
		}
		for _, e := range []map[string]any{forged, other} {
			if st := f.inbox(t, evID(e)); st.status != "done" || !strings.Contains(st.lastError, "reserved event type") {
				t.Fatalf("forged %s: %+v", e["type"], st)
			}
		}
		if n := refusedCount(t, "reserved_type") - before; n != 2 {
			t.Fatalf("refused reserved_type counter rose by %v, want 2", n)
		}
	})
}

// The spec asks bots not to answer notices: two bots answering each
// other's notices loop for ever. A notice from anyone but our own bots
// (a foreign bot, another bizbots) is not given to the handler.
func TestNoticesFromOthersAreNotAnswered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(pizzaAndTaxi))
		before := refusedCount(t, "notice")
		// A direct chat with a foreign bot (the other end of a bot loop).
		const foreign = "@echobot:elsewhere.org"
		dm := "!dm:example.org"
		f.dm(t, dm, foreign, "Echo Bot", botID)
		notice := fakehs.Message(dm, foreign, "pizza: hello")
		notice["content"].(map[string]any)["msgtype"] = "m.notice"
		edit := fakehs.Message(dm, foreign, "* pizza: hello")
		edit["content"] = map[string]any{"msgtype": "m.text", "body": "* pizza: hello",
			"m.new_content": map[string]any{"msgtype": "m.notice", "body": "pizza: hello"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": evID(notice)}}
		f.deliver(t, notice, edit, fakehs.Message(dm, foreign, "a text"))
		if got := bodies(f.waitReply(t, dm, "pizza: a text")); len(got) != 1 {
			t.Fatalf("replies %q: the bot answered a notice", got)
		}

		// A group with both our bots and a foreign one: our bots' own
		// notices mentioning each other are echoes, the foreign bot's
		// notice mentioning ours is not answered.
		group := "!group:example.org"
		f.hs.SetMembers(group, map[string]string{alice: "Alice", foreign: "Echo Bot", botID.String(): "Pizzeria Luigi", taxiID.String(): "Taxi Tom"})
		inv1, inv2 := fakehs.Invite(group, alice, botID.String(), false), fakehs.Invite(group, alice, taxiID.String(), false)
		f.deliver(t, inv1, inv2)
		f.waitHandled(t, evID(inv1), evID(inv2))
		ours := withMentions(fakehs.Message(group, botID.String(), "Taxi Tom: pizza: hi"), taxiID.String())
		ours["content"].(map[string]any)["msgtype"] = "m.notice"
		theirs := withMentions(fakehs.Message(group, foreign, "Pizzeria Luigi: hi"), botID.String())
		theirs["content"].(map[string]any)["msgtype"] = "m.notice"
		f.deliver(t, ours, theirs, withMentions(fakehs.Message(group, alice, "last"), botID.String()))
		if got := bodies(f.waitReply(t, group, "pizza: last")); len(got) != 1 {
			t.Fatalf("group replies %q: a bot answered a notice", got)
		}
		if st := f.inbox(t, evID(theirs)); st.status != "done" || !strings.Contains(st.lastError, "notice") {
			t.Fatalf("foreign notice: %+v", st)
		}
		if n := refusedCount(t, "notice") - before; n != 3 {
			t.Fatalf("refused notice counter rose by %v, want 3", n)
		}
	})
}

// Only a user joins themself; a join event for our bot sent by someone
// else is not believed (the bot would think it is in a room it is not).
func TestJoinOfOurBotClaimedByOthersIsIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		room := "!fake:example.org"
		before := refusedCount(t, "forged_membership")
		forged := fakehs.Member(room, botID.String(), "join", "")
		forged["sender"] = alice
		f.deliver(t, forged)
		f.waitHandled(t, evID(forged))
		if bots, _ := db.BotsInRoom(context.Background(), room); len(bots) != 0 {
			t.Fatalf("bot recorded in %s on a join sent by someone else: %+v", room, bots)
		}
		if n := refusedCount(t, "forged_membership") - before; n != 1 {
			t.Fatalf("refused forged_membership counter rose by %v, want 1", n)
		}
	})
}

// In a group, anyone can react to the bot's question to someone else: the
// reaction is not that question's answer for the one who reacted.
func TestReactionToSomeoneElsesQuestionIsNoAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(func(int) []*dispatcher.Bot {
			return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza", DisplayName: "Pizzeria Luigi"}, Handler: handlers.HandlerFunc(asker)}}
		}))
		room := "!group:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", bob: "Bob", botID.String(): "Pizzeria Luigi"})
		inv := fakehs.Invite(room, alice, botID.String(), false)
		f.deliver(t, inv)
		f.waitHandled(t, evID(inv))
		f.deliver(t, withMentions(fakehs.Message(room, alice, "order"), botID.String()))
		question := f.waitSends(t, room, 3)[0]
		f.deliver(t, reactionEvent(room, bob, question.EventID, "2️⃣"))
		f.waitReply(t, room, "reaction without a choice: 2️⃣")
		f.deliver(t, reactionEvent(room, alice, question.EventID, "1️⃣"))
		got := bodies(f.waitReply(t, room, "you chose small"))
		for _, b := range got {
			if b == "you chose large" {
				t.Fatalf("replies %q: Bob's reaction answered Alice's question", got)
			}
		}
	})
}
