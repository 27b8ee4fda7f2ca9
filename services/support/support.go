// Package support is a support desk with a human handoff (service id
// "support"). Customers ask in a direct chat; questions the business
// listed as FAQs are answered at once by keyword and word-overlap
// matching, with "Did that help?". Anything else becomes a numbered
// ticket, recorded in the customer's history and posted to a staff room,
// where an agent claims it and answers in the ticket's thread; bizbots
// relays both ways, naming the agent, until the ticket is closed and the
// customer rates the help from 1 to 5. Opening hours and the number of
// waiting tickets set what the customer is promised.
//
// It does not route tickets to particular agents, keep SLAs, or send
// e-mail; without a staff room it only records tickets. Its tables are
// support_tickets and support_posts (store/upgrades/06-support.sql).
package support

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/staffroom"
	"github.com/bizbots/bizbots/store"
)

func init() {
	services.Register("support", func(env services.Env) (handlers.Handler, error) {
		cfg := DefaultConfig()
		// Maps and lists are decoded into empty values so that a
		// configured "hours" or "faqs" replaces the defaults instead of
		// merging with them; absent ones get the defaults back.
		cfg.Hours, cfg.FAQs = nil, nil
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		if cfg.Hours == nil {
			cfg.Hours = DefaultHours()
		}
		if cfg.FAQs == nil {
			cfg.FAQs = DefaultFAQs()
		}
		b, err := New(cfg, env.DB)
		if err != nil {
			return nil, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
		}
		return b, nil
	})
}

// Conversation steps of a customer.
const (
	stepFAQ      = "faq"      // an FAQ answer was shown: did it help?
	stepRate     = "rate"     // a ticket was closed: rate it 1–5
	stepFollowup = "followup" // a returning customer: about ticket N?
	stepWithdraw = "withdraw" // the customer takes their ticket back: sure?
)

// timerRate is set for the customer's conversation when staff close a
// ticket; it asks for the rating there.
const timerRate = "rate"

// How long the customer's questions stay open.
const (
	faqTTL      = 30 * time.Minute
	followupTTL = 30 * time.Minute
	rateTTL     = 72 * time.Hour
)

// returnGap is how long a customer must have been away to be greeted as
// returning in the middle of a chat.
const returnGap = time.Hour

// custState is a customer's conversation state.
type custState struct {
	FAQ    int    `json:"faq,omitempty"`
	Text   string `json:"text,omitempty"`
	Ticket int64  `json:"ticket,omitempty"`
}

// Bot is the support handler of one bot.
type Bot struct {
	cfg       Config
	texts     handlers.Texts
	db        *store.DB
	sched     *schedule
	staff     staffroom.Policy
	staffRoom id.RoomID
	faqs      []faqIndex

	customerH handlers.Handler
	staffH    handlers.Handler
}

// New validates cfg and builds the handler. db is where tickets are read
// (writes go through the conversation's commit).
func New(cfg Config, db *store.DB) (*Bot, error) {
	sched, staff, faqs, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := texts.Check(cfg.Texts); err != nil {
		return nil, err
	}
	b := &Bot{cfg: cfg, db: db, sched: sched, staff: staff, staffRoom: staff.Room, faqs: faqs, texts: texts.Merge(cfg.Texts)}
	b.customerH = handlers.Chain(handlers.HandlerFunc(b.customer),
		handlers.Recover(), handlers.Logging(), handlers.Metrics(), handlers.RateLimit(1, 10))
	b.staffH = handlers.Chain(handlers.HandlerFunc(b.staffMessage), handlers.Recover(), handlers.Logging(), handlers.Metrics())
	return b, nil
}

func (b *Bot) tickets(c *handlers.Conversation) ticketQuery {
	return ticketQuery{db: b.db, bot: c.Bot.String()}
}

// Handle implements handlers.Handler: the staff room is the agents', every
// other room a customer's.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if b.staffRoom != "" && c.Room == b.staffRoom {
		return b.staffH.Handle(ctx, c, m)
	}
	return b.customerH.Handle(ctx, c, m)
}

// Watches implements handlers.Watcher: every message of the staff room
// reaches the bot, mentioned or not.
func (b *Bot) Watches(room id.RoomID) bool { return b.staffRoom != "" && room == b.staffRoom }

// Welcome implements handlers.Welcomer: staff get the commands, a new
// customer is greeted by name, a returning one about their last ticket.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error {
	if b.staffRoom != "" && c.Room == b.staffRoom {
		c.Notice(fmt.Sprintf("Hello! I'm the support bot for %s. New tickets appear in this room.\n%s", b.cfg.Business, staffHelp))
		return nil
	}
	name := c.Customer.Name()
	if c.Customer.New {
		c.Reply(b.tr(c, "greet-new", name, b.cfg.Business))
		return nil
	}
	q := b.tickets(c)
	if open, err := q.openFor(ctx, c.Customer.ID); err != nil {
		return err
	} else if open != nil {
		c.Reply(b.tr(c, "back-open", name, open.Number, open.Topic))
		return nil
	}
	last, err := q.lastFor(ctx, c.Customer.ID)
	if err != nil {
		return err
	}
	if b.recent(c, last) {
		return b.askFollowup(c, last, "")
	}
	c.Reply(b.tr(c, "back", name))
	return nil
}

// ForgetCustomer implements handlers.Forgetter: the customer's tickets are
// anonymised in the forget-me transaction.
func (b *Bot) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	return forgetTickets(ctx, tx, bot, customer, time.Now().UnixMilli())
}

// agent is how the customer sees a staff member: "Sam (support)".
func (b *Bot) agent(name string) string {
	if b.cfg.AgentTitle == "" {
		return name
	}
	return name + " (" + b.cfg.AgentTitle + ")"
}
