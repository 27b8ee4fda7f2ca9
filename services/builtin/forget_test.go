package builtin_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/playground"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/services/support"
	"github.com/bizbots/bizbots/services/taxi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// The businesses of the town, their staff rooms and staff.
const (
	pizza  = id.UserID("@pizza:test")
	desk   = id.UserID("@desk:test")
	cab    = id.UserID("@cab:test")
	salon  = id.UserID("@salon:test")
	chef   = id.UserID("@chef:test")
	agent  = id.UserID("@sam:test")
	owner  = id.UserID("@owner:test")
	group  = id.RoomID("!party:test")
	zed    = id.UserID("@zed.quux-7:test")
	carol  = id.UserID("@carol:test")
	marker = "zorblat" // in every text Zed sends that says something about him
)

var (
	kitchen   = id.RoomID("!kitchen:test")
	helpdesk  = id.RoomID("!helpdesk:test")
	frontdesk = id.RoomID("!frontdesk:test")
)

// town is four businesses on one database, driven through the real
// dispatcher and sender.
type town struct {
	t     *testing.T
	db    *store.DB
	s     *playground.Session
	clock *playground.Clock
	n     atomic.Int64
}

func newTown(t *testing.T, d store.Dialect) *town {
	t.Helper()
	db := storetest.New(t, d)
	pz, err := ordering.New(ordering.Config{Shop: "Pizza Place", StaffRoom: kitchen.String()}, db)
	if err != nil {
		t.Fatal(err)
	}
	scfg := support.DefaultConfig()
	scfg.Business, scfg.StaffRoom, scfg.Staff = "Example Shop", helpdesk.String(), []string{agent.String()}
	sp, err := support.New(scfg, db)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := taxi.Defaults()
	tcfg.ETAMin, tcfg.ETAMax = config.Duration(4*time.Minute), config.Duration(4*time.Minute)
	tx, err := taxi.New(tcfg, db)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := appointments.New(appointments.Config{Business: "Sam's Barbershop", StaffRoom: frontdesk.String()}, db)
	if err != nil {
		t.Fatal(err)
	}
	var bots []*dispatcher.Bot
	for _, b := range []struct {
		uid  id.UserID
		name string
		h    handlers.Handler
	}{{pizza, "Pizza Place", pz}, {desk, "Example Shop", sp}, {cab, "City Cabs", tx}, {salon, "Sam's Barbershop", ap}} {
		bots = append(bots, &dispatcher.Bot{UserID: b.uid, Config: config.Bot{Localpart: b.uid.Localpart(), DisplayName: b.name}, Handler: b.h})
	}
	// Mon 5 Jan 2026 13:00 in Amsterdam: the support desk is open.
	clock := playground.NewClock(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC))
	s := playground.New(db, bots, playground.Options{Clock: clock.Now, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	return &town{t: t, db: db, s: s, clock: clock}
}

func (w *town) event(room id.RoomID, sender id.UserID, typ string, content map[string]any) map[string]any {
	return map[string]any{"event_id": fmt.Sprintf("$town%d", w.n.Add(1)), "room_id": room.String(), "sender": sender.String(),
		"type": typ, "origin_server_ts": w.clock.Now().UnixMilli(), "content": content}
}

func (w *town) member(room id.RoomID, user id.UserID, sender id.UserID, membership, name string) map[string]any {
	content := map[string]any{"membership": membership}
	if name != "" {
		content["displayname"] = name
	}
	ev := w.event(room, sender, "m.room.member", content)
	ev["state_key"] = user.String()
	return ev
}

func (w *town) inject(evs ...map[string]any) []playground.Reply {
	w.t.Helper()
	w.clock.Advance(2 * time.Second) // people type at human speed
	r, err := w.s.Inject(context.Background(), evs...)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// say sends text from customer to bot in their direct chat and checks
// the bot answered with want.
func (w *town) say(bot, customer id.UserID, text, want string) []playground.Reply {
	w.t.Helper()
	w.clock.Advance(2 * time.Second)
	r, err := w.s.Say(context.Background(), bot, customer, text)
	if err != nil {
		w.t.Fatal(err)
	}
	if got := bodies(r); !strings.Contains(got, want) {
		w.t.Fatalf("%s to %s: %q: want %q in:\n%s", customer, bot, text, want, got)
	}
	return r
}

func (w *town) open(bot, customer id.UserID, name string) {
	w.t.Helper()
	if _, err := w.s.Open(context.Background(), bot, customer, name); err != nil {
		w.t.Fatal(err)
	}
}

// staffRoom has its staff member invite the bot into room.
func (w *town) staffRoom(room id.RoomID, bot, staff id.UserID, name string) {
	w.t.Helper()
	w.inject(w.member(room, staff, staff, "join", name),
		w.event(room, staff, "m.room.power_levels", map[string]any{"users": map[string]any{staff.String(): 100}}),
		w.member(room, bot, staff, "invite", ""))
}

func bodies(r []playground.Reply) string {
	var b strings.Builder
	for _, x := range r {
		b.WriteString(x.Body)
		b.WriteString("\n")
	}
	return b.String()
}

func in(r []playground.Reply, room id.RoomID) []playground.Reply {
	var out []playground.Reply
	for _, x := range r {
		if x.Room == room {
			out = append(out, x)
		}
	}
	return out
}

// customerLife is what a customer does with the four businesses: an
// order with an address and a note, moved on by the kitchen; a support
// ticket relayed both ways; a taxi ride; a haircut; and a message in a
// group room with the pizza bot. secret is in every text that says
// something about them.
func (w *town) customerLife(who id.UserID, name, secret string) {
	w.t.Helper()
	for _, bot := range []id.UserID{pizza, desk, cab, salon} {
		w.open(bot, who, name)
	}
	w.say(pizza, who, "add 1 "+secret+" calzone", "") // a user error quoting them
	w.say(pizza, who, "add 2 margherita large", "Added 2 × Margherita")
	w.say(pizza, who, "checkout", "Delivery or pickup?")
	w.say(pizza, who, "1", "delivery address")
	w.say(pizza, who, "17 "+secret+"straat, 1011 AB Amsterdam", "Any note")
	w.say(pizza, who, "ring the "+secret+" bell twice", "")
	placed := w.say(pizza, who, "yes", "")
	if len(in(placed, kitchen)) == 0 {
		w.t.Fatalf("no order posted to the kitchen: %s", bodies(placed))
	}
	number := strings.Fields(strings.SplitN(bodies(in(placed, kitchen)), "order ", 2)[1])[0]
	w.inject(w.event(kitchen, chef, "m.room.message", map[string]any{"msgtype": "m.text", "body": "!order " + strings.Trim(number, "#:.,") + " preparing"}))
	w.inject(w.event(kitchen, chef, "m.room.message", map[string]any{"msgtype": "m.text", "body": "!order " + strings.Trim(number, "#:.,")}))
	w.inject(w.event(kitchen, chef, "m.room.message", map[string]any{"msgtype": "m.text", "body": "!orders"}))

	r := w.say(desk, who, "I was charged twice for my "+secret+" order", "opened ticket")
	posts := in(r, helpdesk)
	if len(posts) != 1 {
		w.t.Fatalf("ticket not posted: %s", bodies(r))
	}
	root := posts[0].EventID
	thread := func(body string) map[string]any {
		return w.event(helpdesk, agent, "m.room.message", map[string]any{"msgtype": "m.text", "body": body,
			"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.String(), "is_falling_back": true,
				"m.in_reply_to": map[string]any{"event_id": root.String()}}})
	}
	w.inject(thread("Hi " + name + ", I'm on it."))
	w.say(desk, who, "It was paid with "+secret+" pay", "")
	w.inject(w.event(helpdesk, agent, "m.room.message", map[string]any{"msgtype": "m.text", "body": "!tickets"}))

	w.say(cab, who, "book", "pick you up")
	w.say(cab, who, "Keizersgracht 123 "+secret, "Where to?")
	w.say(cab, who, "Central Station", "When")
	w.say(cab, who, "now", "")
	w.say(cab, who, "yes", "Booked")

	w.say(salon, who, "book", "")
	w.say(salon, who, "haircut", "")
	w.say(salon, who, "anyone", "")
	w.say(salon, who, "wednesday", "")
	w.say(salon, who, "10:00", "Shall I book it?")
	w.say(salon, who, "1", "Booked")

	w.inject(w.member(group, who, who, "join", name),
		w.event(group, who, "m.room.message", map[string]any{"msgtype": "m.text", "body": "Pizza Place, menu for the " + secret + " party?"}))
	w.clock.Advance(10 * time.Minute) // timers fire: the driver, reminders
	if _, err := w.s.Step(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// TestForgetMeErasesEveryCopy seeds a realistic life of a customer with
// four businesses, has them say "forget me" to each, and then scans every
// column of every table: neither their Matrix id, nor their name, nor
// anything they wrote may be left anywhere. Another customer's data stays.
func TestForgetMeErasesEveryCopy(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			w := newTown(t, d)
			w.staffRoom(kitchen, pizza, chef, "Chef")
			w.staffRoom(helpdesk, desk, agent, "Sam")
			w.staffRoom(frontdesk, salon, owner, "Owner")
			w.inject(w.member(group, carol, carol, "join", "Carol Control"),
				w.member(group, pizza, carol, "invite", ""))

			w.customerLife(carol, "Carol Control", "caroline")
			w.customerLife(zed, "Zed Quux", marker)
			zedNeedles := []string{zed.String(), "Zed Quux", marker}
			if hits := storetest.Find(t, w.db, zedNeedles...); len(hits) < 20 {
				t.Fatalf("the scan found too little before forget-me (%d hits); the scenario is broken:\n%v", len(hits), hits)
			}

			for _, bot := range []id.UserID{pizza, desk, cab, salon} {
				w.say(bot, zed, "forget me", "Are you sure?")
				w.say(bot, zed, "yes", "I have erased everything")
			}

			hits := storetest.Find(t, w.db, zedNeedles...)
			for _, h := range hits {
				t.Errorf("left after forget-me: %s", h)
			}
			for _, bot := range []id.UserID{pizza, desk, cab, salon} {
				if n, err := store.ForgottenCount(context.Background(), w.db, bot.String()); err != nil || n != 1 {
					t.Errorf("%s: forget count %d, %v; want 1", bot, n, err)
				}
			}
			// Carol's data is all still there.
			kept := map[string]bool{}
			for _, h := range storetest.Find(t, w.db, carol.String(), "caroline") {
				kept[h.Table] = true
			}
			for _, table := range []string{"customers", "customer_history", "inbox", "outbox", "room_members", "ordering_orders",
				"support_tickets", "taxi_rides", "appointments_bookings"} {
				if !kept[table] {
					t.Errorf("another customer's data is gone from %s", table)
				}
			}
		})
	}
}
