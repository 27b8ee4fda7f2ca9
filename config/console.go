package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	_ "time/tzdata" // console time zones must load on hosts without a zoneinfo database

	"maunium.net/go/mautrix/id"
)

// Console is the business console: a web page where a bot's staff read
// and answer its conversations. Off unless Listen is set.
type Console struct {
	// Listen is host:port for the console's own HTTP listener; empty
	// turns the console off.
	Listen string `yaml:"listen"`
	// PublicURL is the address staff open in their browser. An https URL
	// makes session cookies Secure; it is also the only Origin accepted
	// on forms.
	PublicURL string `yaml:"public_url"`
	// SessionTTL is how long a sign-in lasts.
	SessionTTL Duration `yaml:"session_ttl"`
	// BroadcastRate is how many broadcast messages per second are queued
	// for sending, across all bots (default 2): a broadcast to many
	// customers does not crowd out the bots' answers or upset the
	// homeserver's rate limits.
	BroadcastRate float64 `yaml:"broadcast_rate"`
}

// BotConsole is a bot's own console settings: who its staff are and the
// time zone its times are shown in.
type BotConsole struct {
	TimeZone string         `yaml:"time_zone"`
	Staff    []ConsoleStaff `yaml:"staff"`
}

// ConsoleStaff is one Matrix user allowed into a bot's console.
type ConsoleStaff struct {
	User string `yaml:"user"`
	// Role is "owner" or "agent". Both read and answer conversations and
	// move orders; only owners change how the bot works (catalog and
	// settings, broadcasts, saved replies, webhook settings).
	// docs/console.md has the list.
	Role string `yaml:"role"`
}

// Console roles.
const (
	RoleOwner = "owner"
	RoleAgent = "agent"
)

// Enabled reports whether the console is to be served.
func (c Console) Enabled() bool { return c.Listen != "" }

// Location is the bot's time zone (UTC when unset).
func (b BotConsole) Location() *time.Location {
	if loc, err := time.LoadLocation(b.TimeZone); err == nil && b.TimeZone != "" {
		return loc
	}
	return time.UTC
}

// RoleOf returns user's role for this bot, or "" when user is not staff.
func (b BotConsole) RoleOf(user id.UserID) string {
	for _, s := range b.Staff {
		if s.User == user.String() {
			return s.Role
		}
	}
	return ""
}

func (c *Console) applyDefaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = Duration(12 * time.Hour)
	}
	if c.BroadcastRate == 0 {
		c.BroadcastRate = 2
	}
	if c.Listen != "" && c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
}

// validateConsole checks the console block and every bot's console block.
func (c *Config) validateConsole() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	k := c.Console
	if k.Listen != "" {
		if _, _, err := net.SplitHostPort(k.Listen); err != nil {
			add("console.listen %q must be host:port (e.g. 127.0.0.1:29331): %v", k.Listen, err)
		}
		if k.Listen == c.AppService.Listen {
			add("console.listen %q is appservice.listen too; the console needs its own port", k.Listen)
		}
		u, err := url.Parse(k.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("console.public_url %q must be the http(s) address staff open, e.g. https://console.example.org", k.PublicURL)
		}
		if k.BroadcastRate < 0.1 || k.BroadcastRate > 100 {
			add("console.broadcast_rate %g must be between 0.1 and 100 messages per second", k.BroadcastRate)
		}
		if k.SessionTTL.D() < time.Minute || k.SessionTTL.D() > 30*24*time.Hour {
			add("console.session_ttl %s must be between 1m and 720h", k.SessionTTL.D())
		}
	}
	for i, b := range c.Bots {
		key := fmt.Sprintf("bots[%d] (%s).console", i, b.Localpart)
		if b.Console.TimeZone != "" {
			if _, err := time.LoadLocation(b.Console.TimeZone); err != nil {
				add("%s.time_zone %q: unknown time zone (use an IANA name like Europe/Amsterdam)", key, b.Console.TimeZone)
			}
		}
		seen := map[string]bool{}
		for j, s := range b.Console.Staff {
			sk := fmt.Sprintf("%s.staff[%d]", key, j)
			if _, _, err := id.UserID(s.User).ParseAndDecode(); err != nil || !strings.HasPrefix(s.User, "@") {
				add("%s.user %q must be a full Matrix user id like @alice:example.org", sk, s.User)
			}
			if s.Role != RoleOwner && s.Role != RoleAgent {
				add("%s.role %q must be owner or agent", sk, s.Role)
			}
			if seen[s.User] {
				add("%s.user %q is listed twice", sk, s.User)
			}
			seen[s.User] = true
		}
	}
	return errs
}
