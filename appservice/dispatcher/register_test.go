package dispatcher_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/provision"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/echo"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// In this file the homeserver answers like Synapse and Dendrite when the
// appservice acts as a user it has not registered: 403 M_FORBIDDEN
// "Application service has not registered this user".

// refuseUnregistered makes the fake homeserver refuse joins as a user
// that was never registered with it.
func refuseUnregistered(hs *fakehs.HS) {
	hs.SetOnJoin(func(user, room string) *fakehs.Failure {
		if !hs.Registered(id.UserID(user).Localpart()) {
			return &fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN", Error: "Application service has not registered this user (" + user + ")"}
		}
		return nil
	})
}

// provisioner is the real provisioner on the fake homeserver, for the
// default pizza bot.
func provisioner(t *testing.T) func(hs *fakehs.HS, db *store.DB) dispatcher.Registrar {
	return func(hs *fakehs.HS, db *store.DB) dispatcher.Registrar {
		cfg := &config.Config{
			Homeserver: config.Homeserver{URL: hs.URL(), Domain: "example.org"},
			AppService: config.AppService{SenderLocalpart: "bizbots"},
			Bots:       []config.Bot{{Localpart: "pizza"}},
		}
		cli, err := hsclient.New(hs.URL(), asToken, 4, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		return provision.New(cfg, cli, db, zerolog.New(zerolog.NewTestWriter(t)))
	}
}

// At first start the homeserver delivers the invites it queued as soon as
// bizbots answers, before provisioning has registered the bots: the bot
// is registered on demand and joins; the invite is not dropped.
func TestInviteBeforeProvisioningIsAccepted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withRegistrar(provisioner(t)))
		refuseUnregistered(f.hs)
		room := "!dm:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		inv := fakehs.Invite(room, alice, botID.String(), true)
		f.deliver(t, inv, fakehs.Message(room, alice, "hi"))
		got := bodies(f.waitReply(t, room, "echo: hi"))
		if strings.Join(got, "|") != "Welcome to Pizza!|echo: hi" {
			t.Fatalf("sends %q: want the welcome, then the reply", got)
		}
		if !f.hs.Registered("pizza") {
			t.Fatal("the bot was not registered before it joined")
		}
		if st := f.inbox(t, evID(inv)); st.status != "done" || st.lastError != "" {
			t.Fatalf("invite %+v", st)
		}
	})
}

// bizbots' records say the bot is registered, the homeserver does not
// know it (its database was reset, the registration file replaced): the
// 403 makes bizbots register it again, then join.
func TestInviteForBotTheHomeserverForgotIsAccepted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if err := db.SaveBot(context.Background(), botID.String(), ""); err != nil {
			t.Fatal(err)
		}
		f := startFlow(t, db, withRegistrar(provisioner(t)))
		refuseUnregistered(f.hs)
		room := "!dm:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		f.deliver(t, fakehs.Invite(room, alice, botID.String(), true), fakehs.Message(room, alice, "hi"))
		got := bodies(f.waitReply(t, room, "echo: hi"))
		if strings.Join(got, "|") != "Welcome to Pizza!|echo: hi" {
			t.Fatalf("sends %q: want the welcome, then the reply", got)
		}
		if n := f.hs.Count(fakehs.EndpointJoin); n != 2 {
			t.Fatalf("%d join requests, want 2 (refused, then accepted after registering)", n)
		}
	})
}

// The "not registered" 403 is temporary however long it lasts (here no
// registrar; the bot is registered by someone else later): the invite is
// not parked after max_attempts, its tries are not counted as failures,
// and the room's later events wait for it.
func TestUnregisteredRefusalIsNeverFinal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startFlow(t, db, withOptions(func(o *dispatcher.Options) {
			o.MaxAttempts = 2
			o.RetryBase = 5 * time.Millisecond
		}))
		var mu sync.Mutex
		refusals := 0
		f.hs.SetOnJoin(func(user, room string) *fakehs.Failure {
			if f.hs.Registered("pizza") {
				return nil
			}
			mu.Lock()
			refusals++
			mu.Unlock()
			return &fakehs.Failure{Status: 403, Errcode: "M_FORBIDDEN", Error: "Application service has not registered this user"}
		})
		room := "!dm:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", botID.String(): "Pizza"})
		inv := fakehs.Invite(room, alice, botID.String(), true)
		f.deliver(t, inv, fakehs.Message(room, alice, "hi"))
		if !f.hs.WaitFor(waitLimit, func() bool { mu.Lock(); defer mu.Unlock(); return refusals >= 5 }) {
			t.Fatal("the join was not retried")
		}
		if st := f.inbox(t, evID(inv)); st.status != "pending" {
			t.Fatalf("after 5 refusals with max_attempts=2 the invite is %+v, want still pending", st)
		}
		f.hs.AddUser("pizza")
		got := bodies(f.waitReply(t, room, "echo: hi"))
		if strings.Join(got, "|") != "Welcome to Pizza!|echo: hi" {
			t.Fatalf("sends %q", got)
		}
		if st := f.inbox(t, evID(inv)); st.status != "done" || st.attempts != 0 {
			t.Fatalf("invite %+v, want done with no failed attempt counted", st)
		}
	})
}

// A bot added at run time (`bizbots bots add`) is served by each process
// within seconds; a customer who finds it sooner and invites it must not
// be lost: the invite waits until this process serves the bot (it is not
// taken for a customer's membership), then the bot joins and welcomes,
// and the customer's first message, queued behind the invite, is
// answered after the welcome.
func TestInviteToBotBeingAddedWaitsUntilItIsServed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		taxi := id.UserID("@taxi:example.org")
		var mu sync.Mutex
		asked := 0
		f := startFlow(t, db, withUpcoming(func(_ context.Context, uid id.UserID) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			if uid == taxi {
				asked++
			}
			return uid == taxi, nil
		}))
		room := "!taxi-dm:example.org"
		f.hs.SetMembers(room, map[string]string{alice: "Alice", taxi.String(): "Taxi"})
		inv := fakehs.Invite(room, alice, taxi.String(), true)
		f.deliver(t, inv, fakehs.Message(room, alice, "hi"))
		// The invite is looked at again and again while the bot is not
		// served.
		if !f.hs.WaitFor(waitLimit, func() bool { mu.Lock(); defer mu.Unlock(); return asked >= 3 }) {
			t.Fatalf("the invite was not kept waiting for the bot (asked %d times)", asked)
		}
		if st := f.inbox(t, evID(inv)); st.status != "pending" {
			t.Fatalf("invite %+v, want pending until the bot is served", st)
		}
		var members int
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM room_members WHERE user_id = $1`, taxi.String()).Scan(&members); err != nil {
			t.Fatal(err)
		}
		if members != 0 {
			t.Fatal("the bot being added was recorded as a member (a customer) of the room")
		}
		f.disps[0].AddBot(&dispatcher.Bot{UserID: taxi, Config: config.Bot{Localpart: "taxi", Welcome: "Welcome to Taxi!"},
			Handler: echo.New(echo.Config{Prefix: "echo: "})})
		got := bodies(f.waitReply(t, room, "echo: hi"))
		if strings.Join(got, "|") != "Welcome to Taxi!|echo: hi" {
			t.Fatalf("sends %q: want the welcome, then the reply", got)
		}
		if st := f.inbox(t, evID(inv)); st.status != "done" || st.lastError != "" {
			t.Fatalf("invite %+v", st)
		}
	})
}
