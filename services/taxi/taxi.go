// Package taxi is the taxi company service (service id "taxi"): a customer
// books a ride now or for later, from a typed address, a shared location
// or a saved favourite, gets a fare quote, confirms, and is assigned a
// driver from the configured fleet. Proactive updates follow the ride
// (driver minutes away, arrived, trip started, trip done with a receipt),
// all driven by conversation timers, so they survive restarts and fire
// exactly once.
//
// The dispatcher is a simulation: the drivers are names in the config, no
// real car moves, there is no geocoder (a typed address has no
// coordinates; its distance is a configured default) and no payment. What
// is real is the bookkeeping: rides are rows in taxi_rides, one open ride
// per customer and one per driver enforced by unique indexes, so two
// customers racing for the last free driver cannot both get them.
package taxi

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/backoffice"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

func init() {
	services.Register("taxi", func(env services.Env) (handlers.Handler, error) {
		cfg := Defaults()
		// The company is the bot's name unless the config says otherwise,
		// so the greeting and the name in the chat list agree.
		if name := strings.TrimSpace(env.Bot.DisplayName); name != "" {
			cfg.Company = name
		}
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		b, err := New(cfg, env.DB)
		if err != nil {
			return nil, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
		}
		return b, nil
	})
}

// Bot is the taxi handler.
type Bot struct {
	cfg   Config
	texts *backoffice.Texts
	loc   *time.Location
	db    *store.DB
	flow  *handlers.Flow
	// start handles messages outside a booking flow; global handles the
	// commands that work inside one too (cancel, status, help, save).
	start, global *handlers.Router
	// customer handles the customer's events, timers the bot's own.
	customer, timers handlers.Handler
}

// New validates cfg and builds the bot; db is where rides are read (writes
// go through the conversation).
func New(cfg Config, db *store.DB) (*Bot, error) {
	loc, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := texts.Check(cfg.Texts); err != nil {
		return nil, err
	}
	b := &Bot{cfg: cfg, loc: loc, db: db, texts: backoffice.NewTexts(texts.Merge(cfg.Texts),
		backoffice.EditableText{Key: "greet-new", Label: "Welcome (new customer)",
			Help: "%s are, in order: the customer's name, the company's name, an example pickup place. Keep all three."},
		backoffice.EditableText{Key: "greet-back", Label: "Welcome (returning customer)", Help: "%s is the customer's name: keep it."})}
	b.flow = &handlers.Flow{
		Timeout: cfg.BookingTimeout.D(),
		Steps: map[string]handlers.Handler{
			stepPickup:      handlers.HandlerFunc(b.pickupStep),
			stepDestination: handlers.HandlerFunc(b.destinationStep),
			stepWhen:        handlers.HandlerFunc(b.whenStep),
			stepConfirm:     handlers.HandlerFunc(b.confirmStep),
			stepRetry:       handlers.HandlerFunc(b.retryStep),
			stepAgain:       handlers.HandlerFunc(b.againStep),
			stepCancelFee:   handlers.HandlerFunc(b.cancelFeeStep),
		},
		Expired: handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			if c.ExpiredStep() != stepAgain {
				c.Notice(b.tr(c, "timed-out"))
			}
			return nil
		}),
	}
	b.global = handlers.NewRouter().
		CommandFunc(b.book, "book", "book a taxi", "book a ride", "new ride", "start over", "restart").
		CommandFunc(b.cancel, cancelWords...).
		CommandFunc(b.status, "status", "where is my taxi", "where is my driver", "my ride").
		CommandFunc(b.help, "help", "what can you do", "commands", "hulp").
		CommandFunc(b.thanks, "👍", "ok", "okay").
		Regexp(saveRe, handlers.HandlerFunc(b.save)).
		Regexp(statusRe, handlers.HandlerFunc(b.status)).
		Regexp(thanksRe, handlers.HandlerFunc(b.thanks))
	b.start = handlers.NewRouter().
		CommandFunc(b.book, "book", "taxi", "book a taxi", "book a ride", "order", "order a taxi", "new ride", "ride", "i need a taxi", "cab").
		CommandFunc(b.cancel, cancelWords...).
		CommandFunc(b.status, "status", "where is my taxi", "where is my driver", "my ride").
		CommandFunc(b.trips, "trips", "my trips", "history", "receipts").
		CommandFunc(b.help, "help", "what can you do", "commands", "hulp").
		CommandFunc(b.thanks, "👍", "ok", "okay").
		CommandFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error { return b.greet(ctx, c) },
			"hi", "hello", "hey", "hallo", "good morning", "good afternoon", "good evening", "start").
		Regexp(saveRe, handlers.HandlerFunc(b.save)).
		Regexp(statusRe, handlers.HandlerFunc(b.status)).
		Regexp(thanksRe, handlers.HandlerFunc(b.thanks)).
		Regexp(tripRe, handlers.HandlerFunc(b.bookTrip)).
		Regexp(wantTaxiRe, handlers.HandlerFunc(b.bookTrip)).
		Fallback(handlers.HandlerFunc(b.unknown))
	b.start.NonText = handlers.HandlerFunc(b.nonText)
	b.flow.Start = b.start
	b.customer = handlers.Chain(handlers.HandlerFunc(b.route),
		handlers.Recover(), handlers.Logging(), handlers.Metrics(), handlers.RateLimit(1, 10))
	// Timers skip the rate limit: it counts per customer, and a dropped
	// timer would leave a ride stuck in its state.
	b.timers = handlers.Chain(handlers.HandlerFunc(b.timer), handlers.Recover(), handlers.Logging(), handlers.Metrics())
	return b, nil
}

// Handle implements handlers.Handler.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Kind == handlers.KindTimer {
		return b.timers.Handle(ctx, c, m)
	}
	return b.customer.Handle(ctx, c, m)
}

// route lets the global commands through in the middle of a booking,
// unless the text answers the open question.
func (b *Bot) route(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if c.Step() != "" && m.IsText() && m.Choice == nil {
		if h := b.global.Match(m); h != nil {
			return h.Handle(ctx, c, m)
		}
	}
	return b.flow.Handle(ctx, c, m)
}

// Welcome greets a new customer by name, and offers a returning one their
// last trip again.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error { return b.greet(ctx, c) }

func (b *Bot) greet(ctx context.Context, c *handlers.Conversation) error {
	name := c.Customer.Name()
	r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
	if err != nil {
		return err
	}
	if r != nil {
		c.Reply(b.tr(c, "welcome-back-ride", name, b.statusLine(c.Language(), r, c.Now())))
		return nil
	}
	last, err := b.lastTrip(ctx, c)
	if err != nil {
		return err
	}
	if last != nil {
		from, to := withFav(c, last.Pickup), withFav(c, last.Destination)
		if err := c.SetState(draft{Pickup: &from, Destination: &to}); err != nil {
			return err
		}
		c.Ask(b.tr(c, "again?", name, from.Short(), to.Short()),
			handlers.Opt("yes", b.tr(c, "again-yes")), handlers.Opt("no", b.tr(c, "again-no")))
		b.flow.Goto(c, stepAgain)
		return nil
	}
	if c.Customer.New {
		c.Reply(b.tr(c, "greet-new", name, b.cfg.Company, b.cfg.examplePlace()))
		return nil
	}
	c.Reply(b.tr(c, "greet-back", name))
	return nil
}

func (b *Bot) help(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Markdown(b.tr(c, "help", escapeMarkdown(b.cfg.Company)))
	return nil
}

// cancelWords cancel a booking in progress or a booked ride.
var cancelWords = []string{"cancel", "stop", "cancel ride", "cancel my ride", "cancel booking", "cancel my booking", "cancel taxi",
	"never mind", "nevermind", "forget it", "annuleren", "annuleer", "annuleer mijn rit", "laat maar"}

func (b *Bot) unknown(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Text() == "" || c.RepeatQuestion(m) {
		return nil
	}
	c.Reply(b.tr(c, "unknown"))
	return nil
}

// nonText starts a booking from a shared location; other media and
// stray reactions get a hint or nothing.
func (b *Bot) nonText(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	switch {
	case m.Location != nil:
		if err := b.noOpenRide(ctx, c); err != nil {
			return err
		}
		p := b.placeFromLocation(c, m.Location)
		c.Reply(b.tr(c, "pickup-is", p.Long()))
		return b.askDestination(ctx, c, draft{Pickup: &p})
	case m.Kind == handlers.KindMessage && m.MsgType == "m.location":
		return handlers.Errorf("I couldn't read that location. Try sharing it again, or type the address.")
	case m.Kind == handlers.KindMessage:
		c.Reply(b.tr(c, "text-only"))
	}
	return nil
}

var saveRe = regexp.MustCompile(`(?i)^[!/]?save\s+(?:(.+?)\s+)?as\s+(?:my\s+)?(home|work)[.!]?$`)

// save stores a favourite: "save this as home" (the place of the booking
// in progress, else the last trip's destination) or "save <address> as work".
func (b *Bot) save(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	sm := saveRe.FindStringSubmatch(m.Text())
	what, fav := strings.TrimSpace(sm[1]), strings.ToLower(sm[2])
	var p Place
	switch strings.ToLower(what) {
	case "", "this", "it", "that", "this place", "this address", "there":
		var d draft
		if _, err := c.State(&d); err != nil {
			return err
		}
		switch {
		case d.Destination != nil:
			p = *d.Destination
		case d.Pickup != nil:
			p = *d.Pickup
		default:
			r, err := b.openRide(ctx, c.Bot, c.Customer.ID)
			if err != nil {
				return err
			}
			last, err := b.lastTrip(ctx, c)
			if err != nil {
				return err
			}
			switch {
			case r != nil:
				p = r.Destination
			case last != nil:
				p = last.Destination
			default:
				return handlers.Errorf("%s", b.tr(c, "save-which", fav))
			}
		}
	default:
		var err error
		if p, err = b.placeFromText(c, what); err != nil {
			return err
		}
	}
	if p.Fav == fav {
		c.Reply(b.tr(c, "already-fav", fav))
		return nil
	}
	saveFavourite(c, fav, p)
	c.Reply(b.tr(c, "saved-fav", p.Name, fav))
	return nil
}

// trips lists the customer's recent receipts.
func (b *Bot) trips(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	recs, err := c.History(ctx, 5, kindTrip)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		c.Reply(b.tr(c, "no-trips"))
		return nil
	}
	var sb strings.Builder
	sb.WriteString(b.tr(c, "recent-trips"))
	for _, r := range recs {
		fmt.Fprintf(&sb, "\n- %s: %s", r.Time.In(b.loc).Format("2 Jan 15:04"), r.Summary)
	}
	c.Reply(sb.String())
	return nil
}

// escapeMarkdown backslash-escapes Markdown punctuation, so a name shows
// as written (the handlers package has no such helper yet).
func escapeMarkdown(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()<>#+-.!|~", r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
