package appointments_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/store"
)

// monday is the harness's default start: Mon 5 Jan 2026 12:00 UTC, 13:00
// in Amsterdam, a day the default barbershop is closed.
var monday = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

// newBot starts a harness for an appointments bot with cfg (the default
// barbershop for a zero Config) on uri ("" is SQLite in a temp dir).
func newBot(t *testing.T, cfg appointments.Config, opts ...handlertest.Options) *handlertest.Harness {
	t.Helper()
	h, _ := newBotAndHandler(t, cfg, opts...)
	return h
}

// newBotAndHandler is newBot that also returns the handler (for its test
// hooks).
func newBotAndHandler(t *testing.T, cfg appointments.Config, opts ...handlertest.Options) (*handlertest.Harness, *appointments.Bot) {
	t.Helper()
	var b *appointments.Bot
	h := handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
		var err error
		if b, err = appointments.New(cfg, db); err != nil {
			t.Fatalf("config: %v", err)
		}
		return b
	}, opts...)
	return h, b
}

// say sends text and returns the replies joined, logging the exchange
// (go test -v shows the transcript).
func say(t *testing.T, h *handlertest.Harness, text string) []handlertest.Reply {
	t.Helper()
	h.Clock.Advance(time.Second) // people type slower than the rate limit
	r := h.Say(text)
	t.Logf("%s: %s", h.Customer.Localpart(), text)
	logReplies(t, r)
	return r
}

func logReplies(t *testing.T, r []handlertest.Reply) {
	t.Helper()
	for _, x := range r {
		where := "bot"
		if strings.HasPrefix(x.Room.String(), "!staff") {
			where = "bot → staff room"
		}
		t.Logf("%s: %s", where, x.Body)
	}
}

// expect fails unless the replies' text contains every want.
func expect(t *testing.T, r []handlertest.Reply, want ...string) {
	t.Helper()
	got := handlertest.Text(r)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("reply lacks %q:\n%s", w, got)
		}
	}
}

// reject fails if the replies' text contains any of bad.
func reject(t *testing.T, r []handlertest.Reply, bad ...string) {
	t.Helper()
	got := handlertest.Text(r)
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Fatalf("reply has %q:\n%s", b, got)
		}
	}
}

// question returns the last reply, which must be a question with options.
func question(t *testing.T, r []handlertest.Reply) handlertest.Reply {
	t.Helper()
	if len(r) == 0 || len(r[len(r)-1].Options) == 0 {
		t.Fatalf("expected a question, got %q", handlertest.Bodies(r))
	}
	return r[len(r)-1]
}

func labels(q handlertest.Reply) []string {
	var out []string
	for _, o := range q.Options {
		out = append(out, o.Label)
	}
	return out
}

// bookAt books service with staff on day at clock, typing every answer.
func bookAt(t *testing.T, h *handlertest.Harness, service, staff, day, clock string) []handlertest.Reply {
	t.Helper()
	say(t, h, "book")
	say(t, h, service)
	say(t, h, staff)
	say(t, h, day)
	expect(t, say(t, h, clock), "Shall I book it?")
	r := say(t, h, "yes")
	expect(t, r, "Booked:")
	return r
}

func local(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, amsterdam)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
