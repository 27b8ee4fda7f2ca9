// Package config loads, validates and writes bizbots' YAML configuration.
//
// Decoding is strict: an unknown key is an error that names the key, the
// file and the line. Validation happens at load and reports every problem
// at once, each with the dotted path of the offending option. The config
// does not know what a service's own block means: each bot's `config:`
// block is kept as a raw YAML node for its service to decode strictly.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/id"
)

// EnvConfigPath names the environment variable that overrides the default
// config file path.
const EnvConfigPath = "BIZBOTS_CONFIG"

// DefaultPath is where the binary looks for its config when neither
// --config nor BIZBOTS_CONFIG says otherwise.
const DefaultPath = "config.yaml"

// MinTokenLength is the shortest as_token/hs_token accepted. Generated
// tokens are 64 hex characters (256 bits); 32 is the floor for hand-made ones.
const MinTokenLength = 32

// Config is the whole bizbots configuration file.
type Config struct {
	Homeserver Homeserver `yaml:"homeserver"`
	AppService AppService `yaml:"appservice"`
	Database   Database   `yaml:"database"`
	Logging    Logging    `yaml:"logging"`
	Dispatcher Dispatcher `yaml:"dispatcher"`
	Sender     Sender     `yaml:"sender"`
	SendAPI    SendAPI    `yaml:"send_api"`
	Bots       []Bot      `yaml:"bots"`
	// Encryption: end-to-end encrypted rooms (config/encryption.go).
	Encryption Encryption `yaml:"encryption"`
	Console    Console    `yaml:"console"`

	// Path is the file this config was loaded from (not part of the YAML).
	Path string `yaml:"-"`
}

// Homeserver says where the homeserver is and which server name it serves.
type Homeserver struct {
	URL    string `yaml:"url"`
	Domain string `yaml:"domain"`
}

// AppService describes bizbots' side of the registration.
type AppService struct {
	ID              string `yaml:"id"`
	Listen          string `yaml:"listen"`
	URL             string `yaml:"url"`
	SenderLocalpart string `yaml:"sender_localpart"`
	BotNamespace    string `yaml:"bot_namespace"`
	ASToken         string `yaml:"as_token"`
	HSToken         string `yaml:"hs_token"`
	Registration    string `yaml:"registration"`
	MaxBodyBytes    int64  `yaml:"max_body_bytes"`
}

// Database selects the storage engine by URI: "sqlite:path" or "postgres://…".
type Database struct {
	URI          string `yaml:"uri"`
	MaxOpenConns int    `yaml:"max_open_conns"`
	// Committers is how many group commits may be open at once (0: the
	// engine's default, see store.Options.Committers).
	Committers int `yaml:"committers"`
	// Timeout bounds every database call (connect, statement, each
	// network read; SQLite's wait for the write lock), so a database that
	// stops answering fails calls quickly instead of hanging them.
	Timeout Duration `yaml:"timeout"`
}

// Logging sets the log level and format.
type Logging struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Dispatcher tunes how inbox work is claimed and handled.
type Dispatcher struct {
	Workers     int `yaml:"workers"`
	MaxAttempts int `yaml:"max_attempts"`
	// MaxDeaths is how many tries of one event may end with the process
	// gone before the event is parked as a poison event (0: twice
	// max_attempts, at least 10).
	MaxDeaths    int      `yaml:"max_deaths"`
	LeaseTimeout Duration `yaml:"lease_timeout"`
	PollInterval Duration `yaml:"poll_interval"`
	// Retention is how long handled events, sent replies and
	// transaction ids are kept before they are pruned.
	Retention Duration `yaml:"retention"`
	// ShutdownGrace is how long, on SIGTERM, the events in hand may take
	// to finish and commit before they are cut off (and redone after
	// restart).
	ShutdownGrace Duration `yaml:"shutdown_grace"`
}

// Sender tunes how outbox rows are delivered to the homeserver. Replies
// are retried until the homeserver takes or refuses them: there is no
// attempt limit, so an outage never loses a reply.
type Sender struct {
	Workers    int      `yaml:"workers"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// RequestTimeout bounds one request to the homeserver; a send with no
	// answer by then is retried (its txn id keeps it from doubling).
	RequestTimeout Duration `yaml:"request_timeout"`
	// MaxAttempts is deprecated and ignored (see Deprecations); it is
	// still read so that older config files load.
	MaxAttempts int `yaml:"max_attempts,omitempty"`
}

// Bot is one bot user and the service it runs.
type Bot struct {
	Localpart   string    `yaml:"localpart"`
	DisplayName string    `yaml:"display_name"`
	Avatar      string    `yaml:"avatar"`
	Service     string    `yaml:"service"`
	Welcome     string    `yaml:"welcome"`
	Config      yaml.Node `yaml:"config"`
	// Language is what the bot speaks to customers who have not chosen
	// or written in one (en, nl; default en). Issue 14.
	Language string `yaml:"language"`
	// Polls asks a bot's questions as polls (MSC3381), with the numbered
	// text as the fallback for clients without polls. Default off.
	Polls bool `yaml:"polls"`
	// Console: who may use the business console for this bot (console.go).
	Console BotConsole `yaml:"console"`
}

// Duration is a time.Duration written as "30s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		kind := "seq"
		if n.Kind == yaml.MappingNode {
			kind = "map"
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal !!%s into config.Duration", n.Line, kind)}}
	}
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 30s, 5m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UserID is the full Matrix id of a bot.
func (c *Config) UserID(localpart string) id.UserID {
	return id.NewUserID(localpart, c.Homeserver.Domain)
}

// Deprecations lists options the file sets that no longer do anything,
// each with what to do instead; `serve` logs them at start. They are
// warnings, not errors, so an older config file keeps working.
func (c *Config) Deprecations() []string {
	var out []string
	if c.Sender.MaxAttempts != 0 {
		out = append(out, "sender.max_attempts is ignored since replies are retried until the homeserver takes "+
			"or refuses them (an outage no longer loses replies); remove it from "+c.Path+
			" and see `bizbots status` / `bizbots retry` for replies the homeserver refused")
	}
	return out
}

// SenderID is the appservice's own sender user.
func (c *Config) SenderID() id.UserID { return c.UserID(c.AppService.SenderLocalpart) }

// BotByUserID finds a configured bot by Matrix id.
func (c *Config) BotByUserID(uid id.UserID) (*Bot, bool) {
	for i := range c.Bots {
		if c.UserID(c.Bots[i].Localpart) == uid {
			return &c.Bots[i], true
		}
	}
	return nil, false
}

// UserNamespace is the exclusive user regex the registration must declare.
// An explicit bot_namespace wins; otherwise it lists the sender and every
// configured bot exactly.
func (c *Config) UserNamespace() string {
	if c.AppService.BotNamespace != "" {
		return c.AppService.BotNamespace
	}
	parts := []string{regexp.QuoteMeta(c.AppService.SenderLocalpart)}
	for _, b := range c.Bots {
		parts = append(parts, regexp.QuoteMeta(b.Localpart))
	}
	return "@(?:" + strings.Join(parts, "|") + "):" + regexp.QuoteMeta(c.Homeserver.Domain)
}

// Load reads, strictly decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, notFoundError{path}
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// notFoundError says the config file is missing; errors.Is(err,
// os.ErrNotExist) holds for it.
type notFoundError struct{ path string }

func (e notFoundError) Error() string {
	return fmt.Sprintf("config file %s not found (create one with `bizbots init`, or pass --config)", e.path)
}

func (e notFoundError) Unwrap() error { return os.ErrNotExist }

// resolvePaths makes file paths in the config relative to the config
// file's directory, so `bizbots serve --config /etc/bizbots/config.yaml`
// works from any working directory.
func (c *Config) resolvePaths(dir string) {
	if !filepath.IsAbs(c.AppService.Registration) {
		c.AppService.Registration = filepath.Join(dir, c.AppService.Registration)
	}
	for _, prefix := range []string{"sqlite:", "sqlite3:"} {
		if p, ok := strings.CutPrefix(c.Database.URI, prefix); ok && !filepath.IsAbs(p) {
			c.Database.URI = prefix + filepath.Join(dir, p)
		}
	}
}

// Parse decodes YAML from data; name is used in error messages.
func Parse(data []byte, name string) (*Config, error) {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty", name)
		}
		return nil, fmt.Errorf("%s: %s", name, friendlyYAMLError(err, data))
	}
	cfg.Path = name
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

func sectionName(goType string) string {
	switch goType {
	case "Config":
		return "the top level"
	case "AppService":
		return "appservice"
	case "Bot":
		return "a bot entry"
	default:
		return strings.ToLower(goType)
	}
}

// ApplyDefaults fills every option the user left out.
func (c *Config) ApplyDefaults() {
	a := &c.AppService
	if a.ID == "" {
		a.ID = "bizbots"
	}
	if a.Listen == "" {
		a.Listen = "127.0.0.1:29330"
	}
	if a.URL == "" {
		a.URL = "http://" + a.Listen
	}
	if a.SenderLocalpart == "" {
		a.SenderLocalpart = "bizbots"
	}
	if a.Registration == "" {
		a.Registration = "registration.yaml"
	}
	if a.MaxBodyBytes == 0 {
		a.MaxBodyBytes = 10 << 20
	}
	if c.Database.URI == "" {
		c.Database.URI = "sqlite:bizbots.db"
	}
	if c.Database.Timeout == 0 {
		c.Database.Timeout = Duration(5 * time.Second)
	}
	if c.Logging.Level == "" {
		c.Logging.Level = "info"
	}
	if c.Logging.Format == "" {
		c.Logging.Format = "auto"
	}
	d := &c.Dispatcher
	if d.Workers == 0 {
		d.Workers = 32
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 5
	}
	if d.LeaseTimeout == 0 {
		d.LeaseTimeout = Duration(2 * time.Minute)
	}
	if d.PollInterval == 0 {
		d.PollInterval = Duration(time.Second)
	}
	if d.Retention == 0 {
		d.Retention = Duration(7 * 24 * time.Hour)
	}
	if d.ShutdownGrace == 0 {
		d.ShutdownGrace = Duration(30 * time.Second)
	}
	s := &c.Sender
	if s.Workers == 0 {
		s.Workers = 32
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = Duration(5 * time.Minute)
	}
	if s.RequestTimeout == 0 {
		s.RequestTimeout = Duration(min(20*time.Second, d.LeaseTimeout.D()/3))
	}
	c.Encryption.applyDefaults()
	c.SendAPI.applyDefaults()
	c.Console.applyDefaults()
	for i := range c.Bots {
		if c.Bots[i].Service == "" {
			c.Bots[i].Service = "echo"
		}
	}
}

var (
	localpartRe = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)
	// A server name: a DNS name, IPv4, or [IPv6], with an optional port.
	domainRe = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$`)
	levels   = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true}
	formats  = map[string]bool{"auto": true, "pretty": true, "json": true}
)

// Validate reports every problem in the config, one per line.
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	checkHTTPURL := func(key, v string) {
		u, err := url.Parse(v)
		switch {
		case v == "":
			add("%s is required (e.g. http://localhost:8008)", key)
		case err != nil:
			add("%s %q is not a valid URL: %v", key, v, err)
		case u.Scheme != "http" && u.Scheme != "https":
			add("%s %q must start with http:// or https://", key, v)
		case u.Host == "":
			add("%s %q has no host", key, v)
		}
	}
	checkHTTPURL("homeserver.url", c.Homeserver.URL)
	switch d := c.Homeserver.Domain; {
	case d == "":
		add("homeserver.domain is required: the server name in your users' ids, e.g. example.org for @alice:example.org")
	case !domainRe.MatchString(d):
		add("homeserver.domain %q is not a valid server name (a DNS name, IP address or [IPv6], optionally with :port)", d)
	}

	a := c.AppService
	if !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(a.ID) {
		add("appservice.id %q must be 1-64 letters, digits, '.', '_' or '-'", a.ID)
	}
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		add("appservice.listen %q must be host:port (e.g. 127.0.0.1:29330): %v", a.Listen, err)
	}
	checkHTTPURL("appservice.url", a.URL)
	if !localpartRe.MatchString(a.SenderLocalpart) {
		add("appservice.sender_localpart %q may only contain a-z, 0-9 and ._=/+-", a.SenderLocalpart)
	}
	checkToken := func(key, v string) {
		switch {
		case v == "":
			add("%s is required (run `bizbots init` to generate one)", key)
		case len(v) < MinTokenLength:
			add("%s is too short (%d characters; at least %d, generated tokens have 64)", key, len(v), MinTokenLength)
		case strings.ContainsAny(v, " \t\r\n"):
			add("%s must not contain white space", key)
		}
	}
	checkToken("appservice.as_token", a.ASToken)
	checkToken("appservice.hs_token", a.HSToken)
	if a.ASToken != "" && a.ASToken == a.HSToken {
		add("appservice.as_token and appservice.hs_token must differ")
	}
	if a.MaxBodyBytes < 1024 {
		add("appservice.max_body_bytes %d is too small (at least 1024)", a.MaxBodyBytes)
	}

	var nsRe *regexp.Regexp
	if a.BotNamespace != "" {
		re, err := regexp.Compile("^(?:" + a.BotNamespace + ")$")
		if err != nil {
			add("appservice.bot_namespace %q is not a valid regular expression: %v", a.BotNamespace, err)
		} else {
			nsRe = re
		}
	}

	if err := CheckDatabaseURI(c.Database.URI); err != nil {
		add("database.uri: %v", err)
	}
	if c.Database.MaxOpenConns < 0 {
		add("database.max_open_conns must not be negative")
	}
	if c.Database.Committers < 0 || c.Database.Committers > 64 {
		add("database.committers must be between 0 (bizbots' default) and 64")
	}
	if t := c.Database.Timeout.D(); t < 100*time.Millisecond || t > 10*time.Minute {
		add("database.timeout %s is out of range (100ms to 10m; intake answers the homeserver within it)", t)
	}
	if !levels[c.Logging.Level] {
		add("logging.level %q must be one of trace, debug, info, warn, error", c.Logging.Level)
	}
	if !formats[c.Logging.Format] {
		add("logging.format %q must be auto, pretty or json", c.Logging.Format)
	}
	if c.Dispatcher.Workers < 1 || c.Dispatcher.Workers > 1024 {
		add("dispatcher.workers %d must be between 1 and 1024", c.Dispatcher.Workers)
	}
	if c.Dispatcher.MaxAttempts < 1 {
		add("dispatcher.max_attempts must be at least 1")
	}
	if c.Dispatcher.MaxDeaths < 0 {
		add("dispatcher.max_deaths must not be negative (0 means twice max_attempts, at least 10)")
	}
	if c.Dispatcher.LeaseTimeout.D() < 5*time.Second {
		add("dispatcher.lease_timeout %s is too short (at least 5s)", c.Dispatcher.LeaseTimeout.D())
	}
	if c.Dispatcher.PollInterval.D() < 10*time.Millisecond {
		add("dispatcher.poll_interval %s is too short (at least 10ms)", c.Dispatcher.PollInterval.D())
	}
	if c.Dispatcher.Retention.D() < time.Hour {
		add("dispatcher.retention %s is too short (at least 1h: homeservers resend transactions for hours)", c.Dispatcher.Retention.D())
	}
	if g := c.Dispatcher.ShutdownGrace.D(); g < 0 || g > 10*time.Minute {
		add("dispatcher.shutdown_grace %s must be between 0s and 10m", g)
	}
	if c.Sender.Workers < 1 || c.Sender.Workers > 1024 {
		add("sender.workers %d must be between 1 and 1024", c.Sender.Workers)
	}
	if c.Sender.MaxBackoff.D() < time.Second {
		add("sender.max_backoff %s is too short (at least 1s)", c.Sender.MaxBackoff.D())
	}
	if rt, lease := c.Sender.RequestTimeout.D(), c.Dispatcher.LeaseTimeout.D(); rt < time.Second || (lease >= 5*time.Second && rt > lease/3) {
		add("sender.request_timeout %s must be between 1s and a third of dispatcher.lease_timeout (%s)", rt, (lease / 3).Round(time.Millisecond))
	}

	c.validateSendAPI(add)
	if len(c.Bots) == 0 {
		add("bots: at least one bot is required")
	}
	seen := map[string]int{}
	for i, b := range c.Bots {
		key := fmt.Sprintf("bots[%d]", i)
		if b.Localpart != "" {
			key = fmt.Sprintf("bots[%d] (%s)", i, b.Localpart)
		}
		switch {
		case b.Localpart == "":
			add("%s: localpart is required", key)
		case !localpartRe.MatchString(b.Localpart):
			add("%s: localpart %q may only contain a-z, 0-9 and ._=/+-", key, b.Localpart)
		case b.Localpart == a.SenderLocalpart:
			add("%s: localpart %q is the appservice's sender_localpart; pick another", key, b.Localpart)
		}
		if j, dup := seen[b.Localpart]; dup && b.Localpart != "" {
			add("%s: duplicate localpart %q (also bots[%d])", key, b.Localpart, j)
		} else {
			seen[b.Localpart] = i
		}
		if b.Language != "" && b.Language != "en" && b.Language != "nl" {
			add("%s: language %q: use en or nl", key, b.Language)
		}
		if b.Avatar != "" && !strings.HasPrefix(b.Avatar, "mxc://") && !strings.HasPrefix(b.Avatar, "https://") && !strings.HasPrefix(b.Avatar, "http://") {
			add("%s: avatar %q must be an mxc:// URI or an http(s) URL", key, b.Avatar)
		}
		if nsRe != nil && b.Localpart != "" && !nsRe.MatchString(string(c.UserID(b.Localpart))) {
			add("%s: %s is outside appservice.bot_namespace %q", key, c.UserID(b.Localpart), a.BotNamespace)
		}
	}
	c.Encryption.validate(add)
	errs = append(errs, c.validateConsole()...)
	if len(errs) > 0 {
		return &ValidationError{Problems: errs}
	}
	return nil
}

// ValidationError lists every problem found in a config.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d problems:\n  - %s", len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// CheckDatabaseURI accepts "sqlite:path", "sqlite3:path" and postgres
// URIs.
func CheckDatabaseURI(uri string) error {
	switch {
	case uri == "":
		return errors.New("is empty")
	case strings.HasPrefix(uri, "sqlite:"), strings.HasPrefix(uri, "sqlite3:"):
		if strings.TrimPrefix(strings.TrimPrefix(uri, "sqlite3:"), "sqlite:") == "" {
			return fmt.Errorf("%q names no file (e.g. sqlite:bizbots.db)", uri)
		}
		return nil
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		u, err := url.Parse(uri)
		if err != nil {
			return fmt.Errorf("not a valid postgres URI: %v", redactURLError(err))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return errors.New("postgres URI has no host")
		}
		return nil
	default:
		return fmt.Errorf("%q: use sqlite:<file> or postgres://user@host/db", redactDSN(uri))
	}
}

// redactDSN hides a password in a URI before it reaches an error message.
func redactDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return s
}

func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// --- Send API and admin API (businesses' own servers; docs/webhooks.md) ---

// SendAPI is the HTTP API businesses call (send messages, read customers)
// and the admin API under it. It is off while Listen is empty.
type SendAPI struct {
	// Listen is host:port; it must differ from appservice.listen.
	Listen string `yaml:"listen"`
	// PublicURL is how businesses reach it (told to webhook bots as
	// reply_url); default http://LISTEN.
	PublicURL string `yaml:"public_url"`
	// Rate is each business's sustained requests per second, Burst the
	// most at once.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// AdminToken turns on /_bizbots/v1/admin/ (bots at run time); empty
	// leaves it off.
	AdminToken string `yaml:"admin_token"`
	// MediaMaxBytes bounds an image or file a business sends by URL or
	// upload (default 10 MiB); MediaTimeout bounds its download (default
	// 15s).
	MediaMaxBytes int64    `yaml:"media_max_bytes"`
	MediaTimeout  Duration `yaml:"media_timeout"`
	// MediaAllowPrivate lets media URLs (Send API and webhook answers)
	// reach loopback and private addresses. Off: a business cannot make
	// bizbots fetch from its own network (SSRF).
	MediaAllowPrivate bool `yaml:"media_allow_private"`
}

func (s *SendAPI) applyDefaults() {
	if s.Listen == "" {
		return
	}
	if s.PublicURL == "" {
		s.PublicURL = "http://" + s.Listen
	}
	if s.Rate == 0 {
		s.Rate = 10
	}
	if s.Burst == 0 {
		s.Burst = 20
	}
}

func (c *Config) validateSendAPI(add func(format string, args ...any)) {
	s := c.SendAPI
	if s.Listen == "" {
		if s.AdminToken != "" {
			add("send_api.admin_token is set but send_api.listen is empty: the admin API is served on send_api.listen")
		}
		return
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		add("send_api.listen %q must be host:port (e.g. 127.0.0.1:29331): %v", s.Listen, err)
	} else if s.Listen == c.AppService.Listen {
		add("send_api.listen %q must differ from appservice.listen: the homeserver's API and businesses' API do not share a port", s.Listen)
	}
	if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("send_api.public_url %q must be an http:// or https:// URL", s.PublicURL)
	}
	if s.Rate <= 0 || s.Burst < 1 {
		add("send_api.rate must be above 0 and send_api.burst at least 1")
	}
	if s.AdminToken != "" && (len(s.AdminToken) < MinTokenLength || strings.ContainsAny(s.AdminToken, " \t\r\n")) {
		add("send_api.admin_token must be at least %d characters without white space (make one with `openssl rand -hex 32`)", MinTokenLength)
	}
}
