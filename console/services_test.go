package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/console"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// desk is a service that keeps tickets: it says who has a customer
// (handlers.Desk) and what it keeps for them (handlers.Historian).
type desk struct {
	handlers.HandlerFunc
	mu      sync.Mutex
	holders map[id.UserID]handlers.Holder
}

func (d *desk) Holders(context.Context, id.UserID) (map[id.UserID]handlers.Holder, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[id.UserID]handlers.Holder{}
	for k, v := range d.holders {
		out[k] = v
	}
	return out, nil
}

func (d *desk) Past(_ context.Context, bot, customer id.UserID, _ int) ([]handlers.Past, error) {
	if bot != pizza || customer != cust {
		return nil, nil
	}
	return []handlers.Past{{Kind: "ticket", Ref: "7", Summary: "Pizza arrived cold", Status: "claimed by Sam",
		Time: time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)}}, nil
}

func (d *desk) hold(customer id.UserID, h handlers.Holder) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.holders[customer] = h
}

func startDesk(t *testing.T, db *store.DB) (*env, *desk) {
	d := &desk{holders: map[id.UserID]handlers.Holder{}}
	e := startWith(t, db, func(o *console.Options) {
		o.Handler = func(bot id.UserID) handlers.Handler {
			if bot == pizza {
				return d
			}
			return nil
		}
	})
	return e, d
}

// handoffs lists the hand-overs queued for the pizza bot's handler.
func handoffs(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT room_id, user_id, payload FROM timers WHERE bot_user_id = $1 AND name = 'org.bizbots.handoff' ORDER BY id`, pizza)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r, u, p string
		if err := rows.Scan(&r, &u, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, r+" "+u+" "+p)
	}
	return out
}

// A claim in the staff room shows in the console as "with an agent" and
// who; the console's take-over, hand-back and close reach the service
// (exactly once each) so the staff room hears of them.
func TestConsoleAndServiceAgreeWhoHasTheCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, d := startDesk(t, db)
		c, csrf := e.signIn(t, bob)

		d.hold(cust, handlers.Holder{Agent: "@sam:example.org", Name: "Sam", Where: "staff room"})
		_, page := c.get(t, "/b/pizza/")
		if !strings.Contains(page, "Waiting for a person") {
			t.Fatalf("inbox with Sam holding the customer:\n%s", page)
		}
		_, page = c.get(t, convPath("pizza", room))
		if !strings.Contains(page, "(Sam, staff room)") || strings.Contains(page, `name="token"`) {
			t.Fatalf("conversation held by Sam:\n%s", page)
		}
		status, page := c.post(t, convPath("pizza", room)+"/take", url.Values{"csrf": {csrf}})
		if status != http.StatusConflict || !strings.Contains(page, "Sam, staff room has this customer") {
			t.Fatalf("take-over of Sam's customer: %d\n%s", status, page)
		}
		if n := len(outbox(t, db, room)) + len(handoffs(t, db)); n != 0 {
			t.Fatalf("a refused take-over queued %d things", n)
		}

		d.mu.Lock() // Sam hands the ticket back
		delete(d.holders, cust)
		d.mu.Unlock()
		for range 2 { // a double click tells the service once
			if status, _ := c.post(t, convPath("pizza", room)+"/take", url.Values{"csrf": {csrf}}); status != 200 {
				t.Fatalf("take over: %d", status)
			}
		}
		c.post(t, convPath("pizza", room)+"/handback", url.Values{"csrf": {csrf}})
		c.post(t, convPath("pizza", room)+"/close", url.Values{"csrf": {csrf}})
		want := []string{
			room + " " + cust + ` {"action":"take","agent":"` + bob + `"}`,
			room + " " + cust + ` {"action":"back","agent":"` + bob + `"}`,
			room + " " + cust + ` {"action":"close","agent":"` + bob + `"}`,
		}
		if got := handoffs(t, db); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("hand-overs queued:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// A bot whose service is no Desk gets none.
		o, ocsrf := e.signIn(t, carol)
		o.post(t, convPath("taxi", taxiDM)+"/take", url.Values{"csrf": {ocsrf}})
		if n := count(t, db, `SELECT count(*) FROM timers WHERE bot_user_id = '`+taxi+`'`); n != 0 {
			t.Fatalf("%d hand-overs queued for a service that is no Desk", n)
		}
	})
}

// The conversation view shows what the service keeps for the customer,
// as it stands now.
func TestConversationShowsTheServicesPast(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _ := startDesk(t, db)
		c, _ := e.signIn(t, alice)
		_, page := c.get(t, convPath("pizza", room))
		for _, want := range []string{"ticket 7", "Pizza arrived cold", "<strong>claimed by Sam</strong>", `datetime="2026-01-05T12:00:00Z"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("conversation lacks %q:\n%s", want, page)
			}
		}
	})
}
