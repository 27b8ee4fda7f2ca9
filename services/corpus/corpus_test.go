package corpus

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/internal/understand"
	"github.com/bizbots/bizbots/services/appointments"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/services/support"
	"github.com/bizbots/bizbots/services/taxi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// testCase is one line of the corpus.
type testCase struct {
	line     int
	scenario string
	say      string
	want     [][]string // each entry: one of these must appear
	not      []string
	// reask: the case expects the open question asked again, which
	// says it did not get the answer.
	reask bool
}

func load(t *testing.T) []testCase {
	t.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []testCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) != 3 {
			t.Fatalf("corpus.txt:%d: want \"scenario | utterance | expectation\", got %q", n, line)
		}
		c := testCase{line: n, scenario: strings.TrimSpace(parts[0]), say: strings.TrimSpace(parts[1])}
		for _, e := range strings.Split(parts[2], ";") {
			e = strings.TrimSpace(e)
			if rest, ok := strings.CutPrefix(e, "?"); ok {
				c.reask = true
				c.want = append(c.want, []string{rest})
			} else if rest, ok := strings.CutPrefix(e, "!"); ok {
				c.not = append(c.not, rest)
			} else if e != "" {
				c.want = append(c.want, strings.Split(e, "/"))
			}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// notUnderstood are the phrases of a bot that gave up; a reply with one
// of them fails the case unless the expectation names it.
var notUnderstood = []string{"didn't get", "didn't understand", "begreep ik niet"}

// check says why a reply does not meet the case, or "".
func (c testCase) check(reply string) string {
	low := strings.ToLower(reply)
	for _, alts := range c.want {
		ok := false
		for _, a := range alts {
			ok = ok || strings.Contains(low, strings.ToLower(strings.TrimSpace(a)))
		}
		if !ok {
			return fmt.Sprintf("want %q", strings.Join(alts, "\" or \""))
		}
	}
	for _, n := range c.not {
		if strings.Contains(low, strings.ToLower(n)) {
			return fmt.Sprintf("do not want %q", n)
		}
	}
	for _, n := range notUnderstood {
		if strings.Contains(low, n) && !c.reask {
			return "not understood"
		}
	}
	return ""
}

// bots are the four services under test on one database.
type bots struct {
	order, taxi, support, appt *handlertest.Harness
}

const (
	kitchen   = id.RoomID("!kitchen:test")
	helpdesk  = id.RoomID("!helpdesk:test")
	agent     = id.UserID("@agent:test")
	startTime = "2026-01-05T12:00:00Z" // a Monday, 13:00 in Amsterdam: everyone is open
)

func newBots(t *testing.T, d store.Dialect) *bots {
	t.Helper()
	uri := storetest.URI(t, d)
	ctx := context.Background()
	db, err := store.Open(ctx, uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	start, _ := time.Parse(time.RFC3339, startTime)
	ob, err := ordering.New(ordering.Config{Shop: "Pizza Place", StaffRoom: kitchen.String()}, db)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := taxi.Defaults()
	tcfg.ETAMin = config.Duration(4 * time.Minute)
	tcfg.ETAMax = config.Duration(4 * time.Minute)
	tcfg.Fleet = nil // enough drivers for every case that books a ride
	for i := range 100 {
		tcfg.Fleet = append(tcfg.Fleet, taxi.Driver{Name: fmt.Sprintf("Driver %d", i+1), Car: "black Toyota Prius", Plate: fmt.Sprintf("GX-%03d-B", i)})
	}
	tb, err := taxi.New(tcfg, db)
	if err != nil {
		t.Fatal(err)
	}
	scfg := support.DefaultConfig()
	scfg.StaffRoom = helpdesk.String()
	sb, err := support.New(scfg, db)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := appointments.New(appointments.Config{Business: "Kapsalon Noor"}, db)
	if err != nil {
		t.Fatal(err)
	}
	harness := func(h handlers.Handler, bot id.UserID) *handlertest.Harness {
		return handlertest.New(t, h, handlertest.Options{Bot: bot, URI: uri, Start: start})
	}
	return &bots{
		order:   harness(ob, "@pizza:test"),
		taxi:    harness(tb, "@taxi:test"),
		support: harness(sb, "@support:test"),
		appt:    harness(ab, "@salon:test"),
	}
}

// say sends text a second after the previous message (people type at
// human speed, within the bots' rate limits) and returns the reply text.
func say(h *handlertest.Harness, text string) string {
	h.Clock.Advance(time.Second)
	return handlertest.Text(h.Say(text))
}

// scenario brings a new customer to a point of a conversation and
// returns the harness the case then talks to. It fails the test when the
// bot does not get there: the scenario, not the case, is then broken.
type scenario func(t *testing.T, b *bots, customer id.UserID) *handlertest.Harness

func steps(pick func(*bots) *handlertest.Harness, script ...string) scenario {
	return func(t *testing.T, b *bots, customer id.UserID) *handlertest.Harness {
		t.Helper()
		h := pick(b).As(customer, "Alice")
		h.Open()
		for i := 0; i+1 < len(script); i += 2 {
			if got := say(h, script[i]); !strings.Contains(got, script[i+1]) {
				t.Fatalf("scenario step %q: want %q in:\n%s", script[i], script[i+1], got)
			}
		}
		return h
	}
}

func ordering_(b *bots) *handlertest.Harness { return b.order }
func taxi_(b *bots) *handlertest.Harness     { return b.taxi }
func support_(b *bots) *handlertest.Harness  { return b.support }
func appt_(b *bots) *handlertest.Harness     { return b.appt }

// The appointment scenarios: a customer writing English, and one writing
// Dutch from their first message ("hoi"), at each question of a booking.
// The time is the first one free ("1"): every case books on one shop.
var (
	apptEN = []string{"book", "What would you like to book", "haircut", "Who would you like", "anyone", "Which day",
		"tomorrow", "Free times", "1", "Shall I book it", "yes", "Booked"}
	apptNL = []string{"hoi", "Hoi", "boeken", "Wat wil je boeken", "knipbeurt", "Bij wie", "maakt niet uit", "Welke dag",
		"morgen", "Vrije tijden", "1", "Zal ik hem boeken", "ja", "Geboekt"}
)

var scenarios = map[string]scenario{
	"order/new":     steps(ordering_),
	"order/size":    steps(ordering_, "add margherita", "Which size"),
	"order/cart":    steps(ordering_, "add 2 margherita large", "Added 2"),
	"order/mode":    steps(ordering_, "add 2 margherita large", "Added 2", "checkout", "Delivery or pickup"),
	"order/address": steps(ordering_, "add 2 margherita large", "Added 2", "checkout", "Delivery or pickup", "1", "delivery address"),
	"order/note":    steps(ordering_, "add 2 margherita large", "Added 2", "checkout", "Delivery or pickup", "2", "Any note"),
	"order/confirm": steps(ordering_, "add 2 margherita large", "Added 2", "checkout", "Delivery or pickup", "2", "Any note", "No note", "Place this order"),
	"order/placed":  orderPlaced,
	"order/usual": func(t *testing.T, b *bots, customer id.UserID) *handlertest.Harness {
		h := orderPlaced(t, b, customer)
		h.Clock.Advance(24 * time.Hour)
		if got := say(h, "hi"); !strings.Contains(got, "The usual") {
			t.Fatalf("scenario: want \"The usual\" in:\n%s", got)
		}
		return h
	},
	"taxi/new":     steps(taxi_),
	"taxi/pickup":  steps(taxi_, "book", "pick you up"),
	"taxi/dest":    steps(taxi_, "book", "pick you up", "Damrak 1", "Where to"),
	"taxi/when":    steps(taxi_, "book", "pick you up", "Damrak 1", "Where to", "Museumplein 6", "When do you need"),
	"taxi/confirm": steps(taxi_, "book", "pick you up", "Damrak 1", "Where to", "Museumplein 6", "When do you need", "now", "Book it"),
	"taxi/booked": steps(taxi_, "book", "pick you up", "Damrak 1", "Where to", "Museumplein 6", "When do you need", "now", "Book it",
		"1", "Booked"),
	"support/new":     steps(support_),
	"support/faq":     steps(support_, "what are your opening hours?", "Did that help"),
	"support/ticket":  steps(support_, "I want to talk to a person", "opened ticket"),
	"appt/new":        steps(appt_),
	"appt/day":        steps(appt_, apptEN[:6]...),
	"appt/confirm":    steps(appt_, apptEN[:10]...),
	"appt/booked":     steps(appt_, apptEN...),
	"appt-nl/new":     steps(appt_, apptNL[:2]...),
	"appt-nl/service": steps(appt_, apptNL[:4]...),
	"appt-nl/staff":   steps(appt_, apptNL[:6]...),
	"appt-nl/day":     steps(appt_, apptNL[:8]...),
	"appt-nl/slot":    steps(appt_, apptNL[:10]...),
	"appt-nl/confirm": steps(appt_, apptNL[:12]...),
	"appt-nl/booked":  steps(appt_, apptNL...),
}

var orderPlaced = steps(ordering_, "add 2 margherita large", "Added 2", "checkout", "Delivery or pickup", "2", "Any note",
	"No note", "Place this order", "1", "order number is")

// TestCorpus runs every case of the corpus on SQLite and, unless -short,
// on Postgres too (understanding does not depend on the engine, and
// Postgres takes minutes for the whole corpus). With CORPUS_REPORT=1 it
// only reports the share understood (how the "before" figure in
// docs/handlers.md was measured) instead of failing.
func TestCorpus(t *testing.T) {
	cases := load(t)
	if len(cases) < 200 {
		t.Fatalf("the corpus has %d cases; it must keep at least 200", len(cases))
	}
	report := os.Getenv("CORPUS_REPORT") != ""
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			if d == store.Postgres && (report || testing.Short()) {
				t.Skip("the corpus runs on Postgres without -short and without CORPUS_REPORT")
			}
			b := newBots(t, d)
			passed := 0
			// Shares per service (the scenario's first part) and per
			// language (as the understanding layer guesses it).
			type tally struct{ passed, total int }
			byService, byLang := map[string]*tally{}, map[string]*tally{}
			count := func(m map[string]*tally, k string, ok bool) {
				if m[k] == nil {
					m[k] = &tally{}
				}
				m[k].total++
				if ok {
					m[k].passed++
				}
			}
			for i, c := range cases {
				sc, ok := scenarios[c.scenario]
				if !ok {
					t.Fatalf("corpus.txt:%d: unknown scenario %q", c.line, c.scenario)
				}
				h := sc(t, b, id.UserID(fmt.Sprintf("@c%d:test", i)))
				reply := say(h, c.say)
				why := c.check(reply)
				service, _, _ := strings.Cut(c.scenario, "/")
				lang := understand.Guess(c.say)
				if strings.HasSuffix(service, "-nl") {
					service, lang = strings.TrimSuffix(service, "-nl"), "nl" // a Dutch conversation
				}
				if lang == "" {
					lang = "neither (numbers, emoji, names)"
				}
				count(byService, service, why == "")
				count(byLang, lang, why == "")
				if why != "" {
					msg := fmt.Sprintf("corpus.txt:%d: %s | %q: %s; the bot said:\n%s", c.line, c.scenario, c.say, why, indent(reply))
					if report {
						t.Log(msg)
					} else {
						t.Error(msg)
					}
					continue
				}
				passed++
			}
			t.Logf("corpus: %d of %d utterances understood (%.0f%%)", passed, len(cases), 100*float64(passed)/float64(len(cases)))
			for _, m := range []map[string]*tally{byService, byLang} {
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					t.Logf("corpus: %-32s %3d of %3d (%.0f%%)", k, m[k].passed, m[k].total, 100*float64(m[k].passed)/float64(m[k].total))
				}
			}
		})
	}
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
