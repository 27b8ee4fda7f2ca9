package dispatcher_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const taxiID = id.UserID("@taxi:example.org")

// In this file, a test proves that an event got no reply by sending a
// last message that is answered: a room is handled and sent strictly in
// order, so once that answer is out, every earlier event had its turn.

func noWelcome(int) []*dispatcher.Bot { return []*dispatcher.Bot{echoBot("")} }

// pizzaAndTaxi are two echo bots of one bizbots, answering "pizza: …" and
// "taxi: …".
func pizzaAndTaxi(int) []*dispatcher.Bot {
	return []*dispatcher.Bot{
		{UserID: botID, Config: config.Bot{Localpart: "pizza", DisplayName: "Pizzeria Luigi"}, Handler: echo.New(echo.Config{Prefix: "pizza: "})},
		{UserID: taxiID, Config: config.Bot{Localpart: "taxi", DisplayName: "Taxi Tom"}, Handler: echo.New(echo.Config{Prefix: "taxi: "})},
	}
}

func TestGroupRoomAnswersOnlyWhenMentioned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(pizzaAndTaxi))
		room := "!group:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", bob: "Bob", carol: "Carol", botID.String(): "Pizzeria Luigi", taxiID.String(): "Taxi Tom"})
		inv1, inv2 := fakehs.Invite(room, alice, botID.String(), false), fakehs.Invite(room, alice, taxiID.String(), false)
		f.deliver(t, inv1, inv2)
		f.waitHandled(t, evID(inv1), evID(inv2))

		pill := fakehs.Message(room, bob, "Taxi: go")
		pill["content"].(map[string]any)["format"] = "org.matrix.custom.html"
		pill["content"].(map[string]any)["formatted_body"] = `<a href="https://matrix.to/#/@taxi:example.org">Taxi</a>: go`
		f.deliver(t,
			fakehs.Message(room, alice, "hello everyone"),
			fakehs.Message(room, bob, "hey @pizza:example.org what's on the menu"),
			fakehs.Message(room, carol, "PIZZERIA LUIGI, one margherita"),
			withMentions(fakehs.Message(room, alice, "one more please"), botID.String()),
			withMentions(fakehs.Message(room, bob, "need a ride"), taxiID.String()),
			fakehs.Message(room, carol, "thanks all, see you at the pizza place"),
		)
		f.deliver(t,
			withMentions(fakehs.Message(room, alice, "both of you"), botID.String(), taxiID.String()),
			pill,
			withMentions(fakehs.Message(room, carol, "last"), botID.String()),
		)
		want := []string{
			"@pizza pizza: hey @pizza:example.org what's on the menu",
			"@pizza pizza: PIZZERIA LUIGI, one margherita",
			"@pizza pizza: one more please",
			"@taxi taxi: need a ride",
			"@pizza pizza: both of you",
			"@taxi taxi: both of you",
			"@taxi taxi: Taxi: go",
			"@pizza pizza: last",
		}
		sends := f.waitReply(t, room, "pizza: last")
		var got []string
		for _, s := range sends {
			body, _ := s.Content["body"].(string)
			got = append(got, strings.Split(s.User, ":")[0]+" "+body)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("group replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestDirectChatBecomesGroupWhenSomeoneJoins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.deliver(t, fakehs.Message(room, alice, "one"))
		f.waitSends(t, room, 1)
		f.deliver(t,
			fakehs.Member(room, bob, "join", "Bob"),
			fakehs.Message(room, alice, "two"),
			withMentions(fakehs.Message(room, alice, "three"), botID.String()),
			fakehs.Member(room, bob, "leave", ""),
			fakehs.Message(room, alice, "four"),
		)
		got := bodies(f.waitReply(t, room, "echo: four"))
		if strings.Join(got, "|") != "echo: one|echo: three|echo: four" {
			t.Fatalf("replies %q: with a third person in the room only mentions are answered", got)
		}
	})
}

func TestOwnBotsEchoesAreIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		fromBot := fakehs.Message(room, botID.String(), "echo: hi")
		fromSender := fakehs.Message(room, senderID.String(), "hello from the appservice")
		inviteSender := fakehs.Invite(room, alice, senderID.String(), true)
		f.deliver(t, fromBot, fromSender, inviteSender, fakehs.Message(room, alice, "ping"))
		got := bodies(f.waitReply(t, room, "echo: ping"))
		if len(got) != 1 || got[0] != "echo: ping" {
			t.Fatalf("replies %q: the bot answered its own or the sender's message", got)
		}
		for _, e := range []map[string]any{fromBot, fromSender} {
			if st := f.inbox(t, evID(e)); st.status != "done" || st.lastError != "own echo" {
				t.Fatalf("echo %s: %+v", evID(e), st)
			}
		}
		if n := f.hs.Count(fakehs.EndpointJoin); n != 1 {
			t.Fatalf("%d joins: the appservice sender must not accept invites", n)
		}
	})
}

// welcomer greets by name and echoes.
type welcomer struct {
	mu     sync.Mutex
	direct []bool
}

func (w *welcomer) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Reply("echo: " + m.Text())
	return nil
}

func (w *welcomer) Welcome(ctx context.Context, c *handlers.Conversation) error {
	w.mu.Lock()
	w.direct = append(w.direct, c.Direct)
	w.mu.Unlock()
	c.Notice(fmt.Sprintf("Hi %s! Type 'menu' to order.", c.Customer.Name()))
	return nil
}

func TestInviteRunsTheHandlersWelcome(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := &welcomer{}
		f := startFlow(t, db, withBots(func(int) []*dispatcher.Bot {
			// The handler's Welcome wins over the configured text.
			return []*dispatcher.Bot{{UserID: botID, Config: config.Bot{Localpart: "pizza", Welcome: "configured welcome"}, Handler: w}}
		}))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.deliver(t, fakehs.Message(room, alice, "menu"))
		sends := f.waitReply(t, room, "echo: menu")
		if got := bodies(sends); strings.Join(got, "|") != "Hi Alice! Type 'menu' to order.|echo: menu" {
			t.Fatalf("sends %q", got)
		}
		if sends[0].User != botID.String() || sends[0].Content["msgtype"] != "m.notice" {
			t.Fatalf("welcome sent as %s with msgtype %v", sends[0].User, sends[0].Content["msgtype"])
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.direct) != 1 || !w.direct[0] {
			t.Fatalf("Welcome calls (Direct flags) %v, want one in a direct chat", w.direct)
		}
	})
}

func TestInviteRefusedIsNotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db)
		room := "!private:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		var refuse sync.Mutex
		refusing := true
		f.hs.SetOnJoin(func(user, r string) *fakehs.Failure {
			refuse.Lock()
			defer refuse.Unlock()
			if refusing {
				return &fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN"}
			}
			return nil
		})
		inv := fakehs.Invite(room, alice, botID.String(), true)
		f.deliver(t, inv)
		f.waitHandled(t, evID(inv))
		st := f.inbox(t, evID(inv))
		if st.status != "done" || st.attempts != 0 || !strings.Contains(st.lastError, "join refused") || !strings.Contains(st.lastError, "M_FORBIDDEN") {
			t.Fatalf("refused invite: %+v, want done at once with the reason", st)
		}
		if n := f.hs.Count(fakehs.EndpointJoin); n != 1 {
			t.Fatalf("%d join attempts for a refused invite, want 1", n)
		}
		if n := f.outboxCount(t, room); n != 0 {
			t.Fatalf("%d replies queued for a room the bot could not join", n)
		}
		if bots, _ := db.BotsInRoom(context.Background(), room); len(bots) != 0 {
			t.Fatalf("bot recorded in a room it could not join: %+v", bots)
		}

		// The room is not stuck: a later invite is accepted.
		refuse.Lock()
		refusing = false
		refuse.Unlock()
		f.deliver(t, fakehs.Invite(room, alice, botID.String(), true))
		if got := bodies(f.waitSends(t, room, 1)); got[0] != "Welcome to Pizza!" {
			t.Fatalf("after a second invite: %q", got)
		}
	})
}

func TestJoinFailingWith500IsRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db)
		room := "!dm:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		var mu sync.Mutex
		joins := 0
		f.hs.SetOnJoin(func(user, r string) *fakehs.Failure {
			mu.Lock()
			defer mu.Unlock()
			if joins++; joins <= 2 {
				return &fakehs.Failure{Status: 500, Errcode: "M_UNKNOWN"}
			}
			return nil
		})
		inv := fakehs.Invite(room, alice, botID.String(), true)
		f.deliver(t, inv, fakehs.Message(room, alice, "hi"))
		got := bodies(f.waitReply(t, room, "echo: hi"))
		if strings.Join(got, "|") != "Welcome to Pizza!|echo: hi" {
			t.Fatalf("sends %q: want the welcome, then the reply", got)
		}
		if n := f.hs.Count(fakehs.EndpointJoin); n != 3 {
			t.Fatalf("%d join attempts, want 3 (two 500s, then success)", n)
		}
		if j := f.hs.Joins(); len(j) != 1 {
			t.Fatalf("successful joins %v", j)
		}
		if st := f.inbox(t, evID(inv)); st.status != "done" || st.attempts != 2 {
			t.Fatalf("invite row %+v, want done at the third attempt (two failed)", st)
		}
	})
}

func TestJoinFailingForeverIsParked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withOptions(func(o *dispatcher.Options) { o.MaxAttempts = 3 }))
		room := "!down:example.org"
		f.hs.SetOnJoin(func(user, r string) *fakehs.Failure { return &fakehs.Failure{Status: 502, Errcode: "M_UNKNOWN"} })
		inv := fakehs.Invite(room, alice, botID.String(), true)
		after := fakehs.Message(room, alice, "anyone?")
		f.deliver(t, inv, after)
		f.waitHandled(t, evID(inv), evID(after))
		st := f.inbox(t, evID(inv))
		if st.status != "parked" || st.attempts != 3 || !strings.Contains(st.lastError, "join") || !strings.Contains(st.lastError, "502") {
			t.Fatalf("invite row %+v, want parked after 3 attempts with the reason", st)
		}
		if n := f.hs.Count(fakehs.EndpointJoin); n != 3 {
			t.Fatalf("%d join attempts, want 3", n)
		}
		if st := f.inbox(t, evID(after)); st.status != "done" {
			t.Fatalf("the next event in the room: %+v", st)
		}
	})
}

func TestEncryptedMessageInDirectChatGetsANotice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		dm, group := "!dm:example.org", "!group:example.org"
		f.dm(t, dm, alice, "Alice", botID)
		f.hs.SetMembers(group, map[string]string{alice: "Alice", bob: "Bob", carol: "Carol", botID.String(): "Pizza"})
		inv := fakehs.Invite(group, alice, botID.String(), false)
		f.deliver(t, inv)
		f.waitHandled(t, evID(inv))

		f.deliver(t, encrypted(dm, alice), fakehs.Message(dm, alice, "hi"), encrypted(group, bob),
			withMentions(fakehs.Message(group, carol, "hi"), botID.String()))
		sends := f.waitReply(t, dm, "echo: hi")
		if len(sends) != 2 || !strings.Contains(bodies(sends)[0], "can't read encrypted") || sends[0].Content["msgtype"] != "m.notice" {
			t.Fatalf("reply to an encrypted message: %q (%v)", bodies(sends)[0], sends[0].Content["msgtype"])
		}
		if bodies(sends)[1] != "echo: hi" {
			t.Fatalf("next reply %q", bodies(sends)[1])
		}
		if got := bodies(f.waitReply(t, group, "echo: hi")); len(got) != 1 || got[0] != "echo: hi" {
			t.Fatalf("group replies %q: an unmentioned encrypted group message must be left alone", got)
		}
	})
}

func encrypted(room, sender string) map[string]any {
	ev := fakehs.Message(room, sender, "")
	ev["type"] = "m.room.encrypted"
	ev["content"] = map[string]any{
		"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
		"device_id": "RJYKSTBOIE", "sender_key": "IlRMeOPX2e0MurIyfWEucYBRVOEEUMrOHqn/8mLqMjA", "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
	}
	return ev
}

func TestRoomWithoutBotIsIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		nobot := fakehs.Message("!elsewhere:example.org", alice, "hello?")
		f.deliver(t, nobot)
		f.waitHandled(t, evID(nobot))
		if st := f.inbox(t, evID(nobot)); st.status != "done" || st.lastError != "no bot concerned" {
			t.Fatalf("message in a room without a bot: %+v", st)
		}
		if n := f.outboxCount(t, "!elsewhere:example.org"); n != 0 {
			t.Fatalf("%d replies in a room without a bot", n)
		}

		// A bot that left a room no longer answers there.
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.deliver(t, fakehs.Message(room, alice, "one"))
		f.waitSends(t, room, 1)
		left := fakehs.Member(room, botID.String(), "leave", "")
		after := fakehs.Message(room, alice, "two")
		f.deliver(t, left, after)
		f.waitHandled(t, evID(left), evID(after))
		if n := f.outboxCount(t, room); n != 1 {
			t.Fatalf("%d replies in the room, want 1: the bot answered after leaving", n)
		}
	})
}

func TestMalformedEventsDoNotBlockTheRoom(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(noWelcome))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)

		notObject := fakehs.Message(room, alice, "")
		notObject["content"] = "not an object"
		badBody := fakehs.Message(room, alice, "")
		badBody["content"] = map[string]any{"msgtype": "m.text", "body": 123}
		f.deliver(t, notObject, badBody)
		// Bytes that are not JSON at all cannot come through intake;
		// store them directly, as a corrupted row would be.
		_, _, err := db.StoreTransaction(context.Background(), "direct", []store.IncomingEvent{{
			EventID: "$garbage", RoomID: room, Sender: alice, Type: "m.room.message", JSON: []byte("this is not json"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		f.deliver(t, fakehs.Message(room, alice, "still here"))
		if got := bodies(f.waitReply(t, room, "echo: still here")); len(got) != 1 || got[0] != "echo: still here" {
			t.Fatalf("replies %q", got)
		}
		for ev, note := range map[string]string{evID(notObject): "unparseable event", evID(badBody): "malformed content", "$garbage": "unparseable event"} {
			if st := f.inbox(t, ev); st.status != "done" || !strings.HasPrefix(st.lastError, note) {
				t.Fatalf("event %s: %+v, want done with %q", ev, st, note)
			}
		}
	})
}

// asker asks for a size on "order" and reports the choice it gets.
func asker(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	switch {
	case m.Choice != nil:
		c.Reply("you chose " + m.Choice.Key)
	case m.Text() == "order":
		c.Ask("Which size?", handlers.Opt("small", "Small"), handlers.Opt("large", "Large"))
	case m.Kind == handlers.KindReaction:
		c.Reply("reaction without a choice: " + m.Reaction)
	default:
		c.Reply("echo: " + m.Text())
	}
	return nil
}

func reactionEvent(room, sender, target, key string) map[string]any {
	ev := fakehs.Message(room, sender, "")
	ev["type"] = "m.reaction"
	ev["content"] = map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": target, "key": key}}
	return ev
}

// A customer answers a question by tapping one of the reactions the bot
// put under it, or by typing the option's number.
func TestQuestionAnsweredByReactionOrNumber(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withBots(scripted(asker)))
		room := "!dm:example.org"
		f.dm(t, room, alice, "Alice", botID)
		f.deliver(t, fakehs.Message(room, alice, "order"))
		sends := f.waitSends(t, room, 3)
		question := sends[0]
		if !strings.Contains(bodies(sends)[0], "1. Small") || !strings.Contains(bodies(sends)[0], "2. Large") {
			t.Fatalf("question %q", bodies(sends)[0])
		}
		var echoes []map[string]any
		for i, key := range []string{"1️⃣", "2️⃣"} {
			s := sends[i+1]
			rel, _ := s.Content["m.relates_to"].(map[string]any)
			if s.Type != "m.reaction" || s.User != botID.String() || rel["event_id"] != question.EventID || rel["key"] != key {
				t.Fatalf("option reaction %d: %s by %s relates_to %v, want %s on the question %s", i, s.Type, s.User, rel, key, question.EventID)
			}
			// The homeserver sends the bot's own reactions back.
			echoes = append(echoes, reactionEvent(room, botID.String(), question.EventID, key))
		}
		f.deliver(t, echoes...)
		f.deliver(t, reactionEvent(room, alice, question.EventID, "2️⃣"))
		f.waitReply(t, room, "you chose large")
		f.deliver(t, fakehs.Message(room, alice, "order"))
		f.waitSends(t, room, 7)
		f.deliver(t, fakehs.Message(room, alice, "1"))
		f.waitReply(t, room, "you chose small")
		// A tap on the first question, long answered, is refused: that
		// question has moved on (clients that drop the emoji variation
		// selector are understood, and refused, all the same).
		f.deliver(t, reactionEvent(room, alice, question.EventID, "1\u20e3"), fakehs.Message(room, alice, "done"))
		got := bodies(f.waitReply(t, room, "echo: done"))
		var replies []string
		for _, b := range got {
			if b != "" && !strings.HasPrefix(b, "Which size?") {
				replies = append(replies, b)
			}
		}
		if strings.Join(replies, "|") != "you chose large|you chose small|That question has moved on, so I did nothing with your answer. Say \"help\" to see what I can do.|echo: done" {
			t.Fatalf("replies %q (the bot's own reaction echoes must not count as answers)", replies)
		}
	})
}
