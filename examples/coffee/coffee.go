// Package coffee is a complete example bot for handler developers: a
// coffee counter that shows a menu as a question, asks the size, takes
// the order, tells the customer when it is ready (a timer), remembers the
// usual and offers it next time. It uses every part of the handler API a
// real service needs, in about 150 lines; docs/handlers.md walks through
// it. Run it with `bizbots chat` on a bot with `service: example-coffee`.
package coffee

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
)

// Config is the service's config block.
type Config struct {
	Shop string `yaml:"shop"`
	// ReadyAfter is how long an order takes.
	ReadyAfter time.Duration `yaml:"ready_after"`
}

func init() {
	services.Register("example-coffee", func(env services.Env) (handlers.Handler, error) {
		cfg := Config{Shop: "Corner Coffee", ReadyAfter: 3 * time.Minute}
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		return New(cfg), nil
	})
}

var drinks = []handlers.Option{
	handlers.Opt("espresso", "Espresso"),
	handlers.Opt("flat-white", "Flat white"),
	handlers.Opt("cappuccino", "Cappuccino"),
	handlers.Opt("tea", "Green tea"),
}

var sizes = []handlers.Option{handlers.Opt("S", "Small"), handlers.Opt("M", "Medium"), handlers.Opt("L", "Large")}

// order is the conversation state while ordering, and the history record.
type order struct {
	Drink string `json:"drink"`
	Size  string `json:"size"`
}

func (o order) String() string { return o.Size + " " + label(drinks, o.Drink) }

func label(opts []handlers.Option, key string) string {
	for _, o := range opts {
		if o.Key == key {
			return strings.ToLower(o.Label)
		}
	}
	return key
}

// Bot is the coffee handler.
type Bot struct {
	cfg  Config
	flow *handlers.Flow
	h    handlers.Handler
}

// New builds the bot.
func New(cfg Config) *Bot {
	b := &Bot{cfg: cfg}
	b.flow = &handlers.Flow{
		Timeout: 15 * time.Minute,
		Steps: map[string]handlers.Handler{
			"drink":   handlers.HandlerFunc(b.pickDrink),
			"size":    handlers.HandlerFunc(b.pickSize),
			"usual?":  handlers.HandlerFunc(b.confirmUsual),
			"confirm": handlers.HandlerFunc(b.confirm),
		},
		Expired: handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
			c.Notice("Your order timed out, so I dropped it. Say \"menu\" to start again.")
			return nil
		}),
	}
	router := handlers.NewRouter().
		CommandFunc(b.menu, "menu", "order", "coffee").
		CommandFunc(b.usual, "the usual", "same as last time", "usual").
		CommandFunc(b.help, "help", "?").
		Fallback(handlers.HandlerFunc(b.help))
	router.NonText = handlers.HandlerFunc(b.nonText)
	b.flow.Start = router
	b.h = handlers.Chain(b.flow, handlers.Recover(), handlers.Logging(), handlers.Metrics(), handlers.RateLimit(1, 10))
	return b
}

// Handle implements handlers.Handler.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	return b.h.Handle(ctx, c, m)
}

// Welcome greets a new customer by name and offers a returning one the usual.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error {
	if usual := c.Customer.Fact("usual"); usual != "" {
		c.Replyf("Welcome back to %s, %s!", b.cfg.Shop, c.Customer.Name())
		return b.offerUsual(c, usual)
	}
	c.Replyf("Hi %s, welcome to %s! Say \"menu\" to order.", c.Customer.Name(), b.cfg.Shop)
	return nil
}

func (b *Bot) help(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Markdown("I can take your coffee order.\n\n- **menu**: see the drinks and order\n- **the usual**: order what you had last time\n- **forget me**: erase what I know about you")
	return nil
}

func (b *Bot) nonText(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Kind == handlers.KindTimer && m.Timer.Name == "ready" {
		c.Replyf("☕ Your %s is ready at the counter. Enjoy!", m.Timer.Payload)
	}
	return nil
}

func (b *Bot) menu(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	c.Ask("What would you like?", drinks...)
	b.flow.Goto(c, "drink")
	return nil
}

func (b *Bot) pickDrink(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		return handlers.Errorf("Sorry, that is not on the menu. Pick a number from 1 to %d.", len(drinks))
	}
	if err := c.SetState(order{Drink: m.Choice.Key}); err != nil {
		return err
	}
	c.Ask("Which size?", sizes...)
	b.flow.Goto(c, "size")
	return nil
}

func (b *Bot) pickSize(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		return handlers.Errorf("Please pick a size: 1 small, 2 medium or 3 large.")
	}
	var o order
	if _, err := c.State(&o); err != nil {
		return err
	}
	o.Size = strings.ToLower(m.Choice.Label)
	if err := c.SetState(o); err != nil {
		return err
	}
	c.Ask(fmt.Sprintf("A %s. Shall I order it?", o), handlers.Opt("yes", "Yes, order it"), handlers.Opt("no", "No, cancel"))
	b.flow.Goto(c, "confirm")
	return nil
}

func (b *Bot) confirm(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.Choice == nil {
		return handlers.Errorf("Shall I order it? 1 yes, 2 no.")
	}
	var o order
	if _, err := c.State(&o); err != nil {
		return err
	}
	c.Clear()
	if m.Choice.Key != "yes" {
		c.Reply("Cancelled. Say \"menu\" whenever you like.")
		return nil
	}
	return b.place(c, o)
}

func (b *Bot) place(c *handlers.Conversation, o order) error {
	if err := c.Record("order", o.String(), o); err != nil {
		return err
	}
	c.SetFact("usual", o.Drink+"|"+o.Size)
	c.After(b.cfg.ReadyAfter, "ready", o.String())
	c.Replyf("Ordered: %s. I'll tell you when it's ready (about %s).", o, b.cfg.ReadyAfter.Round(time.Minute))
	return nil
}

// usual reorders the last order from the customer's history.
func (b *Bot) usual(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	last, err := c.History(ctx, 1, "order")
	if err != nil {
		return err
	}
	if len(last) == 0 {
		c.Reply("I don't know your usual yet. Say \"menu\" to order.")
		return nil
	}
	var o order
	if err := last[0].Decode(&o); err != nil {
		return err
	}
	return b.offerUsual(c, o.Drink+"|"+o.Size)
}

func (b *Bot) offerUsual(c *handlers.Conversation, usual string) error {
	drink, size, _ := strings.Cut(usual, "|")
	o := order{Drink: drink, Size: size}
	if err := c.SetState(o); err != nil {
		return err
	}
	c.Ask(fmt.Sprintf("The usual %s?", o), handlers.Opt("yes", "Yes please"), handlers.Opt("no", "No, show me the menu"))
	b.flow.Goto(c, "usual?")
	return nil
}

func (b *Bot) confirmUsual(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	var o order
	if _, err := c.State(&o); err != nil {
		return err
	}
	c.Clear()
	if m.Choice != nil && m.Choice.Key == "yes" {
		return b.place(c, o)
	}
	return b.menu(ctx, c, m)
}
