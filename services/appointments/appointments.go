// Package appointments is the booking service of a business that works by
// appointment (a barber, a salon, a physio): customers pick a service, a
// staff member or anyone, a day and a free time, and confirm; they list,
// move and cancel their appointments (until a cutoff) and get reminders
// before them.
//
// Double bookings are impossible by construction: a booking also writes
// one row per 5-minute granule of its staff member's time, and the primary
// key on those rows makes the second of two overlapping bookings fail to
// commit, across any number of bizbots processes. The losing turn is
// handled again at once (handlers.ErrConflict) and tells the customer the
// slot was just taken, with other times.
//
// It does not take payments, keep a staff calendar beyond its own
// bookings, or let staff edit bookings from chat.
package appointments

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

// ServiceID is the id bots use in `service:`.
const ServiceID = "appointments"

func init() {
	services.Register(ServiceID, func(env services.Env) (handlers.Handler, error) {
		var cfg Config
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		if cfg.Business == "" && env.Bot.DisplayName != "" {
			cfg.Business = env.Bot.DisplayName
		}
		b, err := New(cfg, env.DB)
		if err != nil {
			return nil, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
		}
		return b, nil
	})
}

// flowTimeout is how long a booking question waits for an answer.
const flowTimeout = 30 * time.Minute

// Steps of the conversation; they say how typed text is read.
const (
	stepAgain         = "again"   // "Another haircut with Sam?"
	stepService       = "service" // which service
	stepStaff         = "staff"   // with whom
	stepDay           = "day"     // which day
	stepSlot          = "slot"    // which time
	stepConfirm       = "confirm" // book (or move) it?
	stepCancelPick    = "cancel-pick"
	stepCancelConfirm = "cancel-confirm"
	stepMovePick      = "move-pick"
)

// Bot is the appointments handler of one bot.
type Bot struct {
	// cfg is the config (defaults applied); now the shop built from it
	// with the console's changes (see settings.go).
	cfg Config
	now atomic.Pointer[shop]
	// texts is the message catalogue (texts.go merged with the config's
	// texts:) with the greetings staff rewrote in the console.
	texts    *backoffice.Texts
	db       *store.DB
	commands *handlers.Router
	h        handlers.Handler
	// beforeBook, when set (tests only), runs between the check that a
	// slot is free and the commit that claims it.
	beforeBook func()
}

// shop is the business as configured, with the console's changes.
func (b *Bot) shop() *shop { return b.now.Load() }

// New validates cfg (options left out take Default's values) and builds
// the handler; db is where it reads bookings (writes go through the
// turn's transaction).
func New(cfg Config, db *store.DB) (*Bot, error) {
	cfg = cfg.withDefaults()
	s, err := newShop(cfg)
	if err != nil {
		return nil, err
	}
	if err := texts.Check(cfg.Texts); err != nil {
		return nil, err
	}
	b := &Bot{cfg: cfg, db: db, texts: backoffice.NewTexts(s.texts,
		backoffice.EditableText{Key: "greet-new", Label: "Welcome (new customer)",
			Help: "%s are, in order: the customer's name, the business's name, its services (\"haircut or a beard trim\"). Keep all three."},
		backoffice.EditableText{Key: "greet-back", Label: "Welcome (returning customer)",
			Help: "%s are the customer's name, then the business's name: keep both."})}
	b.now.Store(s)
	b.commands = handlers.NewRouter().
		CommandFunc(b.startBooking, "book", "booking", "appointment", "new appointment", "make an appointment",
			"book an appointment", "book appointment", "i want to book", "i'd like to book", "i would like to book",
			"boeken", "afspraak", "afspraak maken", "een afspraak maken", "nieuwe afspraak", "reserveren",
			"ik wil een afspraak", "ik wil een afspraak maken", "ik wil boeken").
		Prefix("book", handlers.HandlerFunc(b.bookWhat)).
		Prefix("boek", handlers.HandlerFunc(b.bookWhat)).
		CommandFunc(b.list, "my appointments", "appointments", "my appointment", "my bookings", "bookings", "list",
			"when is my appointment", "what have i booked", "do i have an appointment",
			"mijn afspraken", "mijn afspraak", "afspraken", "wanneer is mijn afspraak", "wat heb ik geboekt", "heb ik een afspraak").
		CommandFunc(b.startCancel, "cancel", "cancel appointment", "cancel my appointment", "cancel booking",
			"annuleren", "annuleer", "afzeggen", "afspraak annuleren", "afspraak afzeggen", "mijn afspraak annuleren",
			"mijn afspraak afzeggen", "annuleer mijn afspraak").
		CommandFunc(b.startMove, "move", "reschedule", "change", "move appointment", "reschedule appointment",
			"change appointment", "move my appointment", "change my appointment",
			"verzetten", "verplaatsen", "omboeken", "afspraak verzetten", "afspraak verplaatsen", "mijn afspraak verzetten",
			"mijn afspraak verplaatsen", "andere tijd").
		CommandFunc(b.help, "help", "?", "commands", "hulp", "help me", "wat kun je").
		CommandFunc(b.servicesList, "services", "prices", "price list", "menu", "what are your prices", "how much is it",
			"how much does it cost", "what do you offer", "diensten", "prijzen", "prijslijst", "wat kost het", "wat kost dat",
			"wat bieden jullie aan").
		CommandFunc(b.thanks, "thanks", "thank you", "thanks!", "thx", "ty", "🙏", "bedankt", "dank je",
			"dankjewel", "dank je wel", "dank u", "thanks a lot", "many thanks", "heel erg bedankt").
		CommandFunc(b.hoursList, "hours", "opening hours", "when are you open", "open", "openingstijden",
			"wanneer zijn jullie open", "zijn jullie open", "tijden")
	b.h = handlers.Chain(handlers.HandlerFunc(b.route),
		handlers.Recover(), handlers.Logging(), handlers.Metrics(), handlers.RateLimit(1, 10))
	return b, nil
}

// Handle implements handlers.Handler.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.h.Handle(ctx, c, m)
}

// Welcome implements handlers.Welcomer: a new customer is greeted by
// name, a returning one with their next appointment or an offer to book
// their last service again.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error {
	return b.greet(ctx, c)
}

var stopWords = map[string]bool{"stop": true, "quit": true, "cancel": true, "never mind": true, "nevermind": true, "abort": true,
	"stoppen": true, "annuleren": true, "annuleer": true, "laat maar": true, "laat maar zitten": true, "afbreken": true}

var greetings = map[string]bool{"hi": true, "hello": true, "hey": true, "hallo": true, "hoi": true, "good morning": true,
	"good afternoon": true, "good evening": true, "start": true, "hi there": true, "hello there": true,
	"goedemorgen": true, "goedemiddag": true, "goedenavond": true, "dag": true, "hoi daar": true}

func normalize(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimLeft(s, "!/")
	s = strings.TrimRight(s, "?!. ")
	return strings.Join(strings.Fields(s), " ")
}

func (b *Bot) route(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Kind == handlers.KindTimer {
		return b.onTimer(ctx, c, m) // never a step's answer, whatever step the customer is in
	}
	switch c.ExpiredStep() {
	case "", stepAgain, "expired":
	case stepCancelPick, stepCancelConfirm, stepMovePick:
		c.Notice(b.tr(c, "timed-out"))
	default:
		c.Notice(b.tr(c, "dropped"))
	}
	if m.IsText() && m.Choice == nil {
		if c.Step() != "" && stopWords[normalize(m.Text())] {
			c.Clear()
			c.Reply(b.tr(c, "stopped"))
			return nil
		}
		if h := b.commands.Match(m); h != nil {
			return h.Handle(ctx, c, m)
		}
	}
	if m.Choice != nil {
		return b.choice(ctx, c, m)
	}
	if !m.IsText() {
		return nil // reactions that answer nothing, images, stickers
	}
	switch c.Step() {
	case stepService:
		return handlers.Errorf("%s", b.tr(c, "no-such-service", handlers.CapText(m.Text(), 40), len(b.shop().services)))
	case stepStaff:
		return handlers.Errorf("%s", b.tr(c, "pick-staff"))
	case stepDay:
		return b.typedDay(ctx, c, m)
	case stepSlot:
		return b.typedTime(ctx, c, m)
	case stepConfirm, stepAgain, stepCancelConfirm:
		return b.typedYesNo(ctx, c, m)
	case stepCancelPick, stepMovePick:
		return handlers.Errorf("%s", b.tr(c, "pick-number"))
	}
	if greetings[normalize(m.Text())] {
		return b.greet(ctx, c)
	}
	if c.ExpiredStep() != "" {
		return nil // an answer to the question that just timed out: the notice says it all
	}
	c.Reply(b.tr(c, "didnt-get"))
	return b.help(ctx, c, m)
}

// choice handles an answer to one of the bot's questions. Keys say what
// they are ("day:2026-01-06", "slot:…"), so an answer to an older
// question of the same booking still makes sense.
func (b *Bot) choice(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	kind, arg, _ := strings.Cut(m.Choice.Key, ":")
	switch kind {
	case "again":
		return b.answerAgain(ctx, c, arg == "yes")
	case "cancel":
		return b.pickCancel(ctx, c, arg)
	case "cancelyes":
		return b.confirmCancel(ctx, c, arg)
	case "cancelno":
		c.Clear()
		c.Reply(b.tr(c, "kept"))
		return nil
	case "move":
		return b.pickMove(ctx, c, arg)
	}
	var d draft
	found, err := c.State(&d)
	if err != nil {
		return err
	}
	if !found || d.Service == "" && kind != "svc" {
		c.Clear()
		c.Reply(b.tr(c, "question-gone"))
		return nil
	}
	switch kind {
	case "svc":
		return b.pickService(ctx, c, d, arg)
	case "staff":
		d.Staff, d.Day, d.Start = arg, "", 0
		return b.next(ctx, c, d)
	case "days":
		return b.askDay(ctx, c, d, arg)
	case "day":
		d.Day, d.Start = arg, 0
		return b.next(ctx, c, d)
	case "slots":
		if arg == "day" {
			d.Day, d.Start = "", 0
			return b.askDay(ctx, c, d, "")
		}
		var after int64
		fmt.Sscan(arg, &after)
		return b.askSlot(ctx, c, d, time.UnixMilli(after))
	case "slot":
		var ms int64
		fmt.Sscan(arg, &ms)
		return b.pickSlot(ctx, c, d, time.UnixMilli(ms))
	case "confirm":
		switch arg {
		case "yes":
			return b.book(ctx, c, d)
		case "other":
			d.Start = 0
			return b.askSlot(ctx, c, d, time.Time{})
		}
		c.Clear()
		if d.Move != "" {
			c.Reply(b.tr(c, "move-kept"))
		} else {
			c.Reply(b.tr(c, "nothing-booked"))
		}
		return nil
	}
	c.Reply(b.tr(c, "question-gone"))
	return nil
}

var yesWords = map[string]bool{"yes": true, "y": true, "yeah": true, "yep": true, "ok": true, "okay": true, "sure": true,
	"please": true, "yes please": true, "ja": true, "confirm": true}
var noWords = map[string]bool{"no": true, "n": true, "nope": true, "nah": true, "no thanks": true, "nee": true}

// typedYesNo reads a typed yes or no to a yes/no question whose options
// did not match (short words like "no" never match an option label).
func (b *Bot) typedYesNo(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	q := c.Question()
	if q == nil || len(q.Options) < 2 {
		return handlers.Errorf("%s", b.tr(c, "answer-number"))
	}
	t := normalize(m.Text())
	yes, isYesNo := m.YesNo()
	var pick *handlers.Option
	switch {
	case yesWords[t] || isYesNo && yes:
		pick = &q.Options[0]
	case noWords[t] || isYesNo && !yes:
		pick = &q.Options[len(q.Options)-1]
	default:
		return handlers.Errorf("%s", b.tr(c, "answer-yes-no"))
	}
	c.Answered()
	m.Choice = pick
	return b.choice(ctx, c, m)
}

// greet says hello by name, and to a returning customer mentions their
// next appointment or offers their last service again.
func (b *Bot) greet(ctx context.Context, c *handlers.Conversation) error {
	name := c.Customer.Name()
	next, err := b.upcoming(ctx, c.Bot, c.Customer.ID, c.Now())
	if err != nil {
		return err
	}
	if len(next) > 0 {
		bk := next[0]
		c.Reply(b.tr(c, "welcome-next", name, b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff), b.shop().relative(c.Language(), bk.Start, c.Now())))
		return nil
	}
	last, err := c.History(ctx, 1, "booking", "reschedule")
	if err != nil {
		return err
	}
	if len(last) > 0 {
		var rec bookingRecord
		if err := last[0].Decode(&rec); err == nil {
			if _, ok := b.shop().service(rec.Service); ok {
				d := draft{Service: rec.Service, Staff: anyone}
				with := ""
				if m, ok := b.shop().member(rec.Staff); ok && m.does(rec.Service) {
					d.Staff, with = m.ID, b.tr(c, "with", m.Name)
				}
				if err := c.SetState(d); err != nil {
					return err
				}
				svc := b.shop().serviceName(rec.Service)
				c.Ask(b.tr(c, "again?", name, svc, with),
					handlers.Opt("again:yes", b.tr(c, "again-yes", svc, with)),
					handlers.Opt("again:no", b.tr(c, "again-no")))
				c.Goto(stepAgain, flowTimeout)
				return nil
			}
		}
	}
	if c.Customer.New {
		c.Reply(b.tr(c, "greet-new", name, b.shop().name, b.serviceNames(c.Language())))
		return nil
	}
	c.Reply(b.tr(c, "greet-back", name, b.shop().name))
	return nil
}

// serviceNames is "haircut or a beard trim".
func (b *Bot) serviceNames(lang string) string {
	var names []string
	for _, s := range b.shop().services {
		names = append(names, strings.ToLower(s.Name))
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], b.trl(lang, "list-a")) + b.trl(lang, "list-or-a") + names[len(names)-1]
}

func (b *Bot) help(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	cutoff := ""
	if b.shop().cutoff > 0 {
		cutoff = b.tr(c, "help-cutoff", leadText(c.Language(), b.shop().cutoff))
	}
	c.Reply(b.tr(c, "help", b.shop().name, b.serviceNames(c.Language()), cutoff, cutoff))
	return nil
}

func (b *Bot) thanks(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Reply(b.tr(c, "welcome"))
	return nil
}

func (b *Bot) servicesList(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var sb strings.Builder
	sb.WriteString(b.tr(c, "our-services"))
	for _, s := range b.shop().services {
		fmt.Fprintf(&sb, "\n• %s: %s, %s", s.Name, duration(s.Duration), formatMoney(s.Price, b.shop().currency))
	}
	sb.WriteString("\n" + b.tr(c, "say-book"))
	c.Reply(sb.String())
	return nil
}

func (b *Bot) hoursList(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var sb strings.Builder
	sb.WriteString(b.tr(c, "our-hours", b.shop().loc))
	for d := time.Monday; d <= time.Saturday+1; d++ {
		wd := d % 7
		p := b.shop().periods(wd)
		if p == "" {
			p = b.tr(c, "closed")
		}
		fmt.Fprintf(&sb, "\n%s: %s", shortDay(c.Language(), wd), p)
	}
	c.Reply(sb.String())
	return nil
}

// list shows the customer's upcoming appointments.
func (b *Bot) list(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Clear()
	next, err := b.upcoming(ctx, c.Bot, c.Customer.ID, c.Now())
	if err != nil {
		return err
	}
	if len(next) == 0 {
		c.Reply(b.tr(c, "no-upcoming"))
		return nil
	}
	var sb strings.Builder
	if len(next) == 1 {
		sb.WriteString(b.tr(c, "your-appointment"))
	} else {
		sb.WriteString(b.tr(c, "your-appointments"))
	}
	for _, bk := range next {
		fmt.Fprintf(&sb, "\n• %s: %s", b.shop().when(c.Language(), bk.Start, c.Now()), b.describe(c.Language(), bk))
	}
	sb.WriteString("\n" + b.tr(c, "list-end"))
	c.Reply(sb.String())
	return nil
}

// describe is "haircut with Sam (€25.00, ref K3J9X2QA)".
func (b *Bot) describe(lang string, bk booking) string {
	return b.trl(lang, "describe", b.shop().serviceName(bk.Service), b.shop().staffName(bk.Staff),
		formatMoney(bk.Price, bk.Currency), bk.ID)
}

// tellStaff posts a line into the staff room, when there is one.
func (b *Bot) tellStaff(c *handlers.Conversation, text string) {
	if b.shop().staffRoom == "" {
		return
	}
	c.SendTo(b.shop().staffRoom, &event.MessageEventContent{MsgType: event.MsgNotice, Body: text})
}

// contactHint is " Please call us on …" or a generic line.
func (b *Bot) contactHint(lang string) string {
	if b.shop().contact != "" {
		return b.trl(lang, "contact", b.shop().contact)
	}
	return b.trl(lang, "contact-shop", b.shop().name)
}
