// Package autoreply is the simplest business service: keyword and regex
// rules with canned replies, an away message outside opening hours, and a
// greeting for new customers. It suits a business with no workflow (a
// shop that wants "opening hours?" and "where are you?" answered). It
// keeps no tables of its own.
package autoreply

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
)

// Config is the service's config block.
type Config struct {
	// Greeting is sent to a customer's first message (before the rule's
	// answer); "{name}" becomes their display name.
	Greeting string `yaml:"greeting"`
	// WelcomeBack greets a returning customer when their chat opens.
	WelcomeBack string `yaml:"welcome_back"`
	// Rules are tried in order; the first that matches answers.
	Rules []Rule `yaml:"rules"`
	// Fallback answers messages no rule matched ("" sends nothing).
	Fallback string `yaml:"fallback"`
	// Hours, when set, makes the bot send Away outside them (once per
	// customer per closed period) before answering.
	Hours    map[string]string `yaml:"hours"`
	TimeZone string            `yaml:"time_zone"`
	Away     string            `yaml:"away"`
}

// Rule is one canned answer.
type Rule struct {
	// Keywords match whole words, any case; any one keyword matches.
	Keywords []string `yaml:"keywords"`
	// Regex matches the whole text (Go syntax, case-insensitive).
	Regex string `yaml:"regex"`
	Reply string `yaml:"reply"`
}

type rule struct {
	keywords []string
	re       *regexp.Regexp
	reply    string
}

type span struct{ from, to time.Duration }

// Bot is the autoreply handler.
type Bot struct {
	cfg   Config
	rules []rule
	loc   *time.Location
	hours map[time.Weekday][]span
}

func init() {
	services.Register("autoreply", func(env services.Env) (handlers.Handler, error) {
		cfg := Config{
			Greeting:    "Hello {name}, thanks for your message!",
			WelcomeBack: "Welcome back, {name}! How can I help?",
			Fallback:    "Thanks! We'll get back to you soon.",
			TimeZone:    "UTC",
			Away:        "We're closed right now; we'll answer when we open.",
		}
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		b, err := New(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: bot %s config: %w", env.ConfigFile, env.Bot.Localpart, err)
		}
		return b, nil
	})
}

var days = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// New validates cfg and builds the bot.
func New(cfg Config) (*Bot, error) {
	b := &Bot{cfg: cfg, hours: map[time.Weekday][]span{}}
	for i, r := range cfg.Rules {
		if r.Reply == "" {
			return nil, fmt.Errorf("rules[%d]: reply is required", i)
		}
		if len(r.Keywords) == 0 && r.Regex == "" {
			return nil, fmt.Errorf("rules[%d]: give keywords or a regex", i)
		}
		ru := rule{reply: r.Reply}
		for _, k := range r.Keywords {
			if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
				ru.keywords = append(ru.keywords, k)
			}
		}
		if r.Regex != "" {
			re, err := regexp.Compile("(?i)" + r.Regex)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].regex %q: %v", i, r.Regex, err)
			}
			ru.re = re
		}
		b.rules = append(b.rules, ru)
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q: %v", cfg.TimeZone, err)
	}
	b.loc = loc
	for day, v := range cfg.Hours {
		wd, ok := days[strings.ToLower(day)]
		if !ok {
			return nil, fmt.Errorf("hours.%s: use mon, tue, wed, thu, fri, sat or sun", day)
		}
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || part == "closed" {
				continue
			}
			a, z, ok := strings.Cut(part, "-")
			from, err1 := clock(a)
			to, err2 := clock(z)
			if !ok || err1 != nil || err2 != nil || to <= from {
				return nil, fmt.Errorf("hours.%s: %q must look like 09:00-17:30 (several separated by commas)", day, part)
			}
			b.hours[wd] = append(b.hours[wd], span{from, to})
		}
	}
	return b, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Open says whether the business is open at t (always, without hours).
func (b *Bot) Open(t time.Time) bool {
	if len(b.cfg.Hours) == 0 {
		return true
	}
	t = t.In(b.loc)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	for _, s := range b.hours[t.Weekday()] {
		if since >= s.from && since < s.to {
			return true
		}
	}
	return false
}

func (b *Bot) fill(s string, c *handlers.Conversation) string {
	return strings.ReplaceAll(s, "{name}", c.Customer.Name())
}

// Welcome greets a returning customer when they open a chat; a new one
// is greeted at their first message.
func (b *Bot) Welcome(ctx context.Context, c *handlers.Conversation) error {
	if !c.Customer.New && b.cfg.WelcomeBack != "" {
		c.Reply(b.fill(b.cfg.WelcomeBack, c))
	}
	return nil
}

// awayState remembers that the away message was sent, until reopening.
type awayState struct {
	AwaySent bool `json:"away_sent"`
}

// Handle answers one message.
func (b *Bot) Handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if !m.IsText() || m.Text() == "" {
		return nil
	}
	if c.Customer.New && b.cfg.Greeting != "" {
		c.Reply(b.fill(b.cfg.Greeting, c))
	}
	var st awayState
	if _, err := c.State(&st); err != nil {
		return err
	}
	if open := b.Open(c.Now()); !open && !st.AwaySent && b.cfg.Away != "" {
		c.Notice(b.fill(b.cfg.Away, c))
		st.AwaySent = true
		if err := c.SetState(st); err != nil {
			return err
		}
	} else if open && st.AwaySent {
		c.Clear()
	}
	text := strings.ToLower(m.Text())
	words := strings.FieldsFunc(text, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	})
	for _, r := range b.rules {
		if r.matches(text, words) {
			c.Reply(b.fill(r.reply, c))
			return nil
		}
	}
	if text == "help" || text == "?" {
		var topics []string
		for _, r := range b.rules {
			if len(r.keywords) > 0 {
				topics = append(topics, r.keywords[0])
			}
		}
		if len(topics) > 0 {
			c.Replyf("Ask me about: %s. Say \"forget me\" to erase what we know about you.", strings.Join(topics, ", "))
			return nil
		}
	}
	if b.cfg.Fallback != "" && (!c.Customer.New || b.cfg.Greeting == "") {
		c.Reply(b.fill(b.cfg.Fallback, c))
	}
	return nil
}

func (r rule) matches(text string, words []string) bool {
	if r.re != nil && r.re.MatchString(text) {
		return true
	}
	for _, k := range r.keywords {
		if strings.Contains(k, " ") {
			if strings.Contains(" "+strings.Join(words, " ")+" ", " "+k+" ") {
				return true
			}
			continue
		}
		for _, w := range words {
			if w == k {
				return true
			}
		}
	}
	return false
}
