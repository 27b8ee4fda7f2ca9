package support

import (
	"fmt"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // time_zone must load on hosts without a zoneinfo database

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services/staffroom"
)

// Config is the service's config block. Every option has a default (see
// DefaultConfig), so an empty block runs a web shop's support desk.
type Config struct {
	// Business is the name the bot greets with ("Welcome to … support").
	Business string `yaml:"business"`
	// Texts override or add to the customer texts per language
	// ({nl: {greet-new: "…"}}); see docs/services/support.md.
	Texts handlers.Texts `yaml:"texts"`
	// StaffRoom is the room id (not an alias) where tickets are posted and
	// staff answer them. Empty: tickets are only recorded, and the
	// customer is told someone will get back to them.
	StaffRoom string `yaml:"staff_room"`
	// Staff, when set, lists the only users whose messages in the staff
	// room count (claims, replies, closes). Empty: members of the staff
	// room with at least StaffPowerLevel (default 50, a moderator).
	Staff           []string `yaml:"staff"`
	StaffPowerLevel *int     `yaml:"staff_power_level"`
	// AgentTitle follows an agent's name in what the customer sees:
	// "Sam (support): …".
	AgentTitle string `yaml:"agent_title"`
	// TimeZone and Hours are the opening hours (hours: mon…sun →
	// "09:00-17:00", several spans separated by commas, or "closed").
	// Leaving hours out gives Mon–Fri 09:00–17:00; "hours: {}" means
	// always open.
	TimeZone string            `yaml:"time_zone"`
	Hours    map[string]string `yaml:"hours"`
	// ExpectedWait, when set, is the wait quoted to every new ticket;
	// otherwise it is WaitPerTicket × (unclaimed tickets, this one
	// included).
	ExpectedWait  config.Duration `yaml:"expected_wait"`
	WaitPerTicket config.Duration `yaml:"wait_per_ticket"`
	// MatchThreshold is the score (0–1] an FAQ needs to be offered.
	MatchThreshold float64 `yaml:"match_threshold"`
	// FollowupWindow is how long after their last ticket a returning
	// customer is asked whether they come about it.
	FollowupWindow config.Duration `yaml:"followup_window"`
	// FAQs are answered without a person. Leaving faqs out gives the
	// default web-shop set; "faqs: []" means none.
	FAQs []FAQ `yaml:"faqs"`
}

// FAQ is one question the bot answers itself.
type FAQ struct {
	Question string   `yaml:"question"`
	Answer   string   `yaml:"answer"`
	Keywords []string `yaml:"keywords"`
}

// DefaultConfig is a web shop's support desk: Mon–Fri 09:00–17:00 in
// Amsterdam, FAQs on shipping, returns, payment and opening hours, no
// staff room.
func DefaultConfig() Config {
	return Config{
		Business:       "our shop",
		AgentTitle:     "support",
		TimeZone:       "Europe/Amsterdam",
		Hours:          DefaultHours(),
		WaitPerTicket:  config.Duration(5 * time.Minute),
		MatchThreshold: 0.35,
		FollowupWindow: config.Duration(30 * 24 * time.Hour),
		FAQs:           DefaultFAQs(),
	}
}

// DefaultHours is Monday to Friday, 09:00 to 17:00.
func DefaultHours() map[string]string {
	return map[string]string{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00",
		"thu": "09:00-17:00", "fri": "09:00-17:00"}
}

// DefaultFAQs are a web shop's common questions.
func DefaultFAQs() []FAQ {
	return []FAQ{
		{
			Question: "How long does shipping take?",
			Answer:   "Orders placed before 15:00 on a working day ship the same day. Delivery takes 1–2 working days in the Netherlands and 3–5 elsewhere in the EU; you get a tracking link by e-mail as soon as your parcel leaves us.",
			Keywords: []string{"shipping", "delivery", "deliver", "arrive", "parcel", "package", "track", "tracking", "when will"},
		},
		{
			Question: "How do I return an item?",
			Answer:   "You can return anything within 30 days. Log in, open the order, choose \"Return\" and print the label; drop the parcel at any post office. We refund within 5 working days of receiving it.",
			Keywords: []string{"return", "refund", "money back", "send back", "exchange", "wrong size"},
		},
		{
			Question: "Which payment methods do you accept?",
			Answer:   "We accept iDEAL, credit card (Visa, Mastercard, American Express), PayPal, Apple Pay and bank transfer. Business customers can pay on invoice.",
			Keywords: []string{"pay", "payment", "ideal", "paypal", "credit card", "visa", "mastercard", "invoice", "apple pay"},
		},
		{
			Question: "When are you open?",
			Answer:   "Our support team is here Monday to Friday, 09:00–17:00 (Amsterdam time). You can ask me anything at any time; a person answers during opening hours.",
			Keywords: []string{"opening hours", "open", "hours", "closed", "weekend"},
		},
	}
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// span is an opening period of a day, as offsets from midnight.
type span struct{ from, to time.Duration }

// schedule is parsed opening hours; an empty one is always open.
type schedule struct {
	loc  *time.Location
	days map[time.Weekday][]span
}

// validate checks cfg and returns the parsed pieces New needs. Errors
// name the option.
func (cfg Config) validate() (*schedule, staffroom.Policy, []faqIndex, error) {
	staff, err := staffroom.New(cfg.StaffRoom, cfg.Staff, cfg.StaffPowerLevel)
	if err != nil {
		return nil, staffroom.Policy{}, nil, err
	}
	if strings.TrimSpace(cfg.Business) == "" {
		return nil, staffroom.Policy{}, nil, fmt.Errorf("business: must not be empty")
	}
	if cfg.ExpectedWait < 0 {
		return nil, staffroom.Policy{}, nil, fmt.Errorf("expected_wait: must not be negative")
	}
	if cfg.WaitPerTicket <= 0 {
		return nil, staffroom.Policy{}, nil, fmt.Errorf("wait_per_ticket: must be > 0 (e.g. 5m)")
	}
	if cfg.FollowupWindow < 0 {
		return nil, staffroom.Policy{}, nil, fmt.Errorf("followup_window: must not be negative (0 turns the question off)")
	}
	if math.IsNaN(cfg.MatchThreshold) || cfg.MatchThreshold <= 0 || cfg.MatchThreshold > 1 {
		return nil, staffroom.Policy{}, nil, fmt.Errorf("match_threshold: %v must be > 0 and ≤ 1", cfg.MatchThreshold)
	}
	sched, err := parseHours(cfg.TimeZone, cfg.Hours)
	if err != nil {
		return nil, staffroom.Policy{}, nil, err
	}
	var faqs []faqIndex
	for i, f := range cfg.FAQs {
		if strings.TrimSpace(f.Question) == "" {
			return nil, staffroom.Policy{}, nil, fmt.Errorf("faqs[%d].question: is required", i)
		}
		if strings.TrimSpace(f.Answer) == "" {
			return nil, staffroom.Policy{}, nil, fmt.Errorf("faqs[%d].answer: is required", i)
		}
		for j, k := range f.Keywords {
			if len(tokens(k)) == 0 {
				return nil, staffroom.Policy{}, nil, fmt.Errorf("faqs[%d].keywords[%d]: %q has no words", i, j, k)
			}
		}
		fi := indexFAQ(f)
		if len(fi.keywords) == 0 && len(fi.words) == 0 {
			return nil, staffroom.Policy{}, nil, fmt.Errorf("faqs[%d]: the question has only common words and there are no keywords; add keywords", i)
		}
		faqs = append(faqs, fi)
	}
	return sched, staff, faqs, nil
}

func parseHours(zone string, hours map[string]string) (*schedule, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		return nil, fmt.Errorf("time_zone: %q is not a known time zone (use a name like Europe/Amsterdam)", zone)
	}
	s := &schedule{loc: loc, days: map[time.Weekday][]span{}}
	for day, v := range hours {
		wd, ok := dayNames[strings.ToLower(day)]
		if !ok {
			return nil, fmt.Errorf("hours.%s: not a day (use mon, tue, wed, thu, fri, sat or sun)", day)
		}
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || strings.EqualFold(part, "closed") {
				continue
			}
			a, z, ok := strings.Cut(part, "-")
			from, err1 := clockTime(a)
			to, err2 := clockTime(z)
			if !ok || err1 != nil || err2 != nil || to <= from {
				return nil, fmt.Errorf("hours.%s: %q must look like 09:00-17:30 (several separated by commas, or closed)", day, part)
			}
			s.days[wd] = append(s.days[wd], span{from, to})
		}
	}
	if len(hours) > 0 && len(s.days) == 0 {
		// Every day "closed" would promise answers that never come.
		return nil, fmt.Errorf("hours: every day is closed; remove hours (Mon–Fri 09:00–17:00) or use hours: {} (always open)")
	}
	return s, nil
}

func clockTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * time.Hour, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// open says whether the desk is staffed at t.
func (s *schedule) open(t time.Time) bool {
	if len(s.days) == 0 {
		return true
	}
	t = t.In(s.loc)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	for _, sp := range s.days[t.Weekday()] {
		if since >= sp.from && since < sp.to {
			return true
		}
	}
	return false
}

// nextOpening describes when the desk opens next after t, in words:
// "from 09:00", "tomorrow from 09:00", "on Monday from 09:00", with the
// words of tr (the service's texts in the customer's language).
func (s *schedule) nextOpening(t time.Time, tr func(key string, args ...any) string) string {
	t = t.In(s.loc)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc)
	since := t.Sub(midnight)
	for d := 0; d <= 7; d++ {
		day := midnight.AddDate(0, 0, d)
		var best *span
		for i, sp := range s.days[day.Weekday()] {
			if d == 0 && sp.from <= since {
				continue
			}
			if best == nil || sp.from < best.from {
				best = &s.days[day.Weekday()][i]
			}
		}
		if best == nil {
			continue
		}
		at := fmt.Sprintf("%02d:%02d", int(best.from.Hours()), int(best.from.Minutes())%60)
		switch d {
		case 0:
			return tr("opens-today", at)
		case 1:
			return tr("opens-tomorrow", at)
		default:
			return tr("opens-on", tr(strings.ToLower(day.Weekday().String())), at)
		}
	}
	return tr("opens-soon")
}
