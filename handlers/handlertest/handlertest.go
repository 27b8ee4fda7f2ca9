// Package handlertest runs scripted conversations against a handler, the
// way httptest runs requests against an http.Handler: real storage (SQLite
// in a temp dir), the real dispatcher and sender (through the
// playground), a clock the test moves, and the bot's replies recorded.
//
//	h := handlertest.New(t, myHandler)
//	h.Open()                         // invite → welcome
//	r := h.Say("menu")               // → replies
//	h.Choose(r[0], 2)                // click the 2️⃣ reaction under it
//	h.Advance(31 * time.Minute)      // expire state, fire timers
package handlertest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/dispatcher"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/playground"
	"github.com/bizbots/bizbots/store"
)

// Reply is a message the bot sent.
type Reply = playground.Reply

// DefaultBot and DefaultCustomer are who talks unless a test says otherwise.
const (
	DefaultBot      = id.UserID("@bot:test")
	DefaultCustomer = id.UserID("@alice:test")
)

// Options tune a harness.
type Options struct {
	Bot     id.UserID
	Welcome string
	// Start is the clock's start (default 2026-01-05 12:00 UTC, a Monday).
	Start time.Time
	// URI selects the database ("" is SQLite in a temp dir); pass a
	// storetest.URI to run on Postgres.
	URI   string // Polls asks questions as polls (the bot's `polls: true`).
	Polls bool
}

// Harness is one bot under test and the customer talking to it.
type Harness struct {
	t        testing.TB
	ctx      context.Context
	DB       *store.DB
	Session  *playground.Session
	Clock    *playground.Clock
	Bot      id.UserID
	Customer id.UserID
	name     string
}

// New starts a harness for handler h.
func New(t testing.TB, h handlers.Handler, opts ...Options) *Harness {
	t.Helper()
	return NewWith(t, func(*store.DB) handlers.Handler { return h }, opts...)
}

// NewWith starts a harness for a handler built on the harness's database
// (a service that reads its own tables through the DB it is given).
func NewWith(t testing.TB, build func(db *store.DB) handlers.Handler, opts ...Options) *Harness {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Bot == "" {
		o.Bot = DefaultBot
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	}
	if o.URI == "" {
		o.URI = "sqlite:" + filepath.Join(t.TempDir(), "handlertest.db")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, o.URI, 0)
	if err != nil {
		t.Fatalf("handlertest: open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatalf("handlertest: migrate: %v", err)
	}
	clock := playground.NewClock(o.Start)
	bot := &dispatcher.Bot{UserID: o.Bot, Config: config.Bot{Localpart: o.Bot.Localpart(), Welcome: o.Welcome, Polls: o.Polls}, Handler: build(db)}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	s := playground.New(db, []*dispatcher.Bot{bot}, playground.Options{Clock: clock.Now, Log: log})
	return &Harness{t: t, ctx: ctx, DB: db, Session: s, Clock: clock, Bot: o.Bot, Customer: DefaultCustomer, name: "Alice"}
}

// As returns a harness for another customer talking to the same bot.
func (h *Harness) As(customer id.UserID, displayName string) *Harness {
	c := *h
	c.Customer, c.name = customer, displayName
	return &c
}

func (h *Harness) check(r []Reply, err error) []Reply {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("handlertest: %v", err)
	}
	return r
}

// Open starts the customer's direct chat with the bot (invite, join,
// welcome) and returns the welcome.
func (h *Harness) Open() []Reply {
	h.t.Helper()
	return h.check(h.Session.Open(h.ctx, h.Bot, h.Customer, h.name))
}

func (h *Harness) ensureOpen() {
	h.t.Helper()
	in, err := h.DB.BotsInRoom(h.ctx, h.Session.Room(h.Bot, h.Customer).String())
	if err != nil {
		h.t.Fatalf("handlertest: %v", err)
	}
	if len(in) == 0 {
		h.Open()
	}
}

// Say sends text and returns the bot's replies. The chat is opened first
// if needed (its welcome is not returned).
func (h *Harness) Say(text string) []Reply {
	h.t.Helper()
	h.ensureOpen()
	return h.check(h.Session.Say(h.ctx, h.Bot, h.Customer, text))
}

// React sends a reaction with key on a reply.
func (h *Harness) React(r Reply, key string) []Reply {
	h.t.Helper()
	return h.check(h.Session.React(h.ctx, h.Bot, h.Customer, r.EventID, key))
}

// Choose clicks the reaction of option n (1-based) under a question.
func (h *Harness) Choose(question Reply, n int) []Reply {
	h.t.Helper()
	if n < 1 || n > len(question.Reactions) {
		h.t.Fatalf("handlertest: option %d: the question has %d reaction(s): %q", n, len(question.Reactions), question.Body)
	}
	return h.React(question, question.Reactions[n-1])
}

// Send sends any event type with content (m.room.message with a location,
// an image, an edit…).
func (h *Harness) Send(eventType string, content map[string]any) []Reply {
	h.t.Helper()
	h.ensureOpen()
	return h.check(h.Session.Inject(h.ctx, h.Session.Message(h.Bot, h.Customer, eventType, content)))
}

// Advance moves the clock and returns what fired timers made the bot send.
func (h *Harness) Advance(d time.Duration) []Reply {
	h.t.Helper()
	h.Clock.Advance(d)
	return h.check(h.Session.Step(h.ctx))
}

// Notify sends a proactive message from the bot to this customer.
func (h *Harness) Notify(text string) []Reply {
	h.t.Helper()
	if err := h.Session.Dispatcher().Notify(h.ctx, h.Bot, h.Customer, text); err != nil {
		h.t.Fatalf("handlertest: notify: %v", err)
	}
	return h.check(h.Session.Step(h.ctx))
}

// State decodes the conversation's stored state into v and returns its
// step; found is false when nothing is stored.
func (h *Harness) State(v any) (step string, found bool) {
	h.t.Helper()
	st, err := store.LoadState(h.ctx, h.DB, h.Bot.String(), h.Session.Room(h.Bot, h.Customer).String(), h.Customer.String())
	if err != nil {
		h.t.Fatalf("handlertest: %v", err)
	}
	if st == nil {
		return "", false
	}
	if v != nil && len(st.State) > 0 && string(st.State) != "null" {
		if err := json.Unmarshal(st.State, v); err != nil {
			h.t.Fatalf("handlertest: decode state: %v", err)
		}
	}
	return st.Step, true
}

// StoredCustomer returns what the business stored about the customer (nil
// if nothing).
func (h *Harness) StoredCustomer() *store.CustomerRow {
	h.t.Helper()
	c, err := store.LoadCustomer(h.ctx, h.DB, h.Bot.String(), h.Customer.String())
	if err != nil {
		h.t.Fatalf("handlertest: %v", err)
	}
	return c
}

// History returns the customer's history, newest first.
func (h *Harness) History(kinds ...string) []store.HistoryRow {
	h.t.Helper()
	rows, err := store.History(h.ctx, h.DB, h.Bot.String(), h.Customer.String(), 1000, kinds...)
	if err != nil {
		h.t.Fatalf("handlertest: %v", err)
	}
	return rows
}

// Bodies lists the replies' texts.
func Bodies(replies []Reply) []string {
	out := make([]string, len(replies))
	for i, r := range replies {
		out[i] = r.Body
	}
	return out
}

// Text joins the replies' texts with newlines (handy for Contains checks).
func Text(replies []Reply) string { return strings.Join(Bodies(replies), "\n") }
