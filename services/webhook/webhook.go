// Package webhook is the `webhook` service: a bot whose answers come from
// a business's own HTTP server, in any language. Every event for the bot
// (a message, a choice picked, a reaction, a message deleted, a
// conversation started or ended, a customer forgotten, a timer) is POSTed to the bot's url as JSON signed Standard Webhooks
// style; a 2xx answer's replies are committed like a Go handler's, in the
// same transaction as the event marked handled.
//
// Delivery rides the dispatcher's durable, in-order-per-room pipeline:
// the event stays in bizbots' inbox until the business has it. A failed
// delivery asks for the same event again later (handlers.RetryAt) on the
// Standard Webhooks schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h, 10 h: 27 h in all), honouring Retry-After on 429 and 503. Its own
// tables (attempt counts, who was told to wait, endpoints disabled by 410
// Gone) are the service's schema, registered with store.RegisterSchema.
// It does not send anything itself: the sender delivers its replies.
package webhook

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("webhook", schemaFiles, "schema")
	services.Register("webhook", func(env services.Env) (handlers.Handler, error) {
		cfg, err := ConfigOf(env)
		if err != nil {
			return nil, err
		}
		s := New(cfg, env.DB, env.UserID, env.SendAPIURL)
		s.media = env.Resolver
		return s, nil
	})
}

// ConfigOf decodes and checks a webhook bot's config block.
func ConfigOf(env services.Env) (Config, error) {
	var cfg Config
	if err := services.DecodeConfig(env, &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
	}
	return cfg, nil
}

// Test sends a signed test event to a bot's endpoint and returns what
// came back (`bizbots webhook test`). Nothing is committed or retried.
func Test(ctx context.Context, cfg Config, bot id.UserID) Result {
	if err := cfg.check(); err != nil {
		return Result{Err: err}
	}
	now := time.Now().UTC()
	ev := Event{Type: TypeTest, Timestamp: now, Data: Data{Bot: bot, Room: "!test:bizbots.invalid",
		Customer: Customer{ID: "@test:bizbots.invalid", DisplayName: "Test Customer", Consent: map[string]bool{}},
		Message:  &Message{ID: "$test", Text: "This is a test event from `bizbots webhook test`."}}}
	body, err := json.Marshal(ev)
	if err != nil {
		return Result{Err: err}
	}
	return newEndpoint(cfg).Post(ctx, msgID(bot, fmt.Sprintf("test\x00%d", now.UnixNano())), body)
}

// Config is a webhook bot's `config:` block.
type Config struct {
	// URL receives the events.
	URL string `yaml:"url"`
	// Secret signs them: whsec_ + base64 of at least 24 random bytes.
	Secret string `yaml:"secret"`
	// OldSecrets still sign while the business moves to the new secret.
	OldSecrets []string `yaml:"old_secrets"`
	// Timeout bounds one request (default 10s).
	Timeout config.Duration `yaml:"timeout"`
	// Concurrency caps requests in flight to this endpoint (default 4).
	Concurrency int `yaml:"concurrency"`
	// HoldingText is told once to a customer whose message cannot be
	// delivered yet.
	HoldingText string `yaml:"holding_text"`
	// GiveUpText is told when an event could not be delivered for the
	// whole retry schedule.
	GiveUpText string `yaml:"give_up_text"`
}

// Defaults of Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 4
	DefaultHoldingText = "Thanks, we have your message and will answer soon."
	DefaultGiveUpText  = "Sorry, we could not pass your message on to the business. Please try again later."
)

func (c *Config) check() error {
	var problems []string
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		problems = append(problems, "url is required (the business server's https:// address)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problems = append(problems, fmt.Sprintf("url %q must be an http:// or https:// URL", c.URL))
	}
	if err := CheckSecret(c.Secret); err != nil {
		problems = append(problems, "secret: "+err.Error())
	}
	for i, s := range c.OldSecrets {
		if err := CheckSecret(s); err != nil {
			problems = append(problems, fmt.Sprintf("old_secrets[%d]: %v", i, err))
		}
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.Timeout.D() < time.Second || c.Timeout.D() > 50*time.Second {
		problems = append(problems, fmt.Sprintf("timeout %s must be between 1s and 50s (the dispatcher gives a handler 60s)", c.Timeout.D()))
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		problems = append(problems, fmt.Sprintf("concurrency %d must be between 1 and 256", c.Concurrency))
	}
	if c.HoldingText == "" {
		c.HoldingText = DefaultHoldingText
	}
	if c.GiveUpText == "" {
		c.GiveUpText = DefaultGiveUpText
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// ConsentMessages is the consent flag "stop" clears and "start" sets: the
// Send API sends nothing to a customer who withdrew it.
const ConsentMessages = sendapi.ConsentMessages

// Service is one webhook bot's handler.
type Service struct {
	cfg      Config
	db       *store.DB
	bot      id.UserID
	replyURL string
	ep       *endpoint
	media    wire.Resolver
}

// UseMedia makes images and files given by URL in the business's answers
// go into the homeserver's repository through r.
func (s *Service) UseMedia(r wire.Resolver) { s.media = r }

// New makes the handler of a webhook bot. sendAPI is the Send API's base
// URL, given to the business as a hint ("" when the Send API is off).
func New(cfg Config, db *store.DB, bot id.UserID, sendAPI string) *Service {
	if err := cfg.check(); err != nil {
		panic("webhook.New: " + err.Error()) // the factory checked it
	}
	s := &Service{cfg: cfg, db: db, bot: bot, ep: newEndpoint(cfg)}
	if sendAPI != "" {
		s.replyURL = strings.TrimRight(sendAPI, "/") + "/_bizbots/v1/bots/" + url.PathEscape(bot.String()) + "/messages"
	}
	return s
}

// Handle delivers the customer's event to the business.
func (s *Service) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if m.IsText() {
		switch strings.ToLower(strings.Trim(m.Text(), " .!")) {
		case "stop", "unsubscribe":
			c.SetConsent(ConsentMessages, false)
			c.Notice("OK, we will not send you messages unless you write to us again. Write \"start\" to get updates again.")
			return nil
		case "start":
			c.SetConsent(ConsentMessages, true)
			c.Notice("OK, you will get our updates again. Write \"stop\" to end them.")
			return nil
		}
	}
	if m.Kind == handlers.KindTimer && m.Timer != nil && m.Timer.Name == forgottenTimer {
		ev := Event{Type: TypeCustomerForgotten, Timestamp: c.Now().UTC(), Data: Data{Bot: c.Bot, Room: c.Room,
			Customer: Customer{ID: id.UserID(m.Timer.Payload), Consent: map[string]bool{}}}}
		return s.deliver(ctx, c, msgID(c.Bot, string(m.ID)), ev, true)
	}
	typ := eventType(m)
	if typ == "" {
		return nil
	}
	return s.deliver(ctx, c, msgID(c.Bot, string(m.ID)), s.payload(c, typ, m), false)
}

// forgottenTimer is the timer that carries a customer.forgotten event to
// the business after the erasure committed. It belongs to no customer
// (the erasure removes the customer's timers); its payload is the id.
const forgottenTimer = "webhook:forgotten"

// ForgetWarning implements handlers.ForgetWarner: nothing to warn about.
func (s *Service) ForgetWarning(context.Context, *handlers.Conversation) (string, error) {
	return "", nil
}

// Forgetting implements handlers.ForgetWarner: once the erasure commits,
// the business is told (customer.forgotten) so it erases its copy too.
// The event is delivered like any other, retried while the business's
// server is down, and never holds the erasure back.
func (s *Service) Forgetting(_ context.Context, c *handlers.Conversation) error {
	bot, room, customer, at := c.Bot.String(), c.Room.String(), c.Customer.ID.String(), c.Now().UnixMilli()
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		return store.AddTimer(ctx, tx, bot, room, "", forgottenTimer, customer, at)
	})
	return nil
}

// Ended implements handlers.Ender: the business hears the conversation
// ended (conversation.ended, with the reason).
func (s *Service) Ended(ctx context.Context, c *handlers.Conversation, reason string) error {
	ev := s.payload(c, TypeConversationEnded, nil)
	ev.Data.Reason, ev.Data.ReplyURL = reason, ""
	return s.deliver(ctx, c, msgID(c.Bot, "ended\x00"+string(c.Cause())), ev, true)
}

// Welcome tells the business a customer opened a chat with the bot; the
// business may answer with a greeting.
func (s *Service) Welcome(ctx context.Context, c *handlers.Conversation) error {
	return s.deliver(ctx, c, msgID(c.Bot, "started\x00"+c.Room.String()+"\x00"+c.Customer.ID.String()), s.payload(c, TypeConversationStarted, nil), false)
}

// ForgetCustomer drops what the service keeps about the customer's rooms
// with this bot (whether they were told to wait), their deliveries and a
// Send API direct chat opening left for them.
func (s *Service) ForgetCustomer(ctx context.Context, tx *sql.Tx, bot, customer id.UserID) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_held WHERE bot_user_id = $1 AND user_id = $2`, bot.String(), customer.String()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE bot_user_id = $1 AND user_id = $2`, bot.String(), customer.String()); err != nil {
		return err
	}
	return sendapi.ForgetCustomer(ctx, tx, bot, customer)
}
