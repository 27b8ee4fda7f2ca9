package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
)

const (
	asToken = "as0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	hsToken = "hs0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
)

// validYAML is a complete, valid config; tests break one thing at a time.
const validYAML = `homeserver:
  url: http://localhost:8008
  domain: example.org
appservice:
  id: bizbots
  listen: 127.0.0.1:29330
  url: http://127.0.0.1:29330
  sender_localpart: bizbots
  as_token: ` + asToken + `
  hs_token: ` + hsToken + `
  registration: registration.yaml
database:
  uri: sqlite:bizbots.db
logging:
  level: info
  format: json
dispatcher:
  workers: 4
  lease_timeout: 1m
  poll_interval: 500ms
sender:
  max_backoff: 2m
bots:
  - localpart: pizza
    display_name: Pizza Place
    avatar: mxc://example.org/abc
    service: echo
    welcome: Hi
    config:
      anything: goes here
      nested: {a: 1}
  - localpart: taxi
`

func parseValid(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(validYAML), "config.yaml")
	if err != nil {
		t.Fatalf("the valid base config does not parse: %v", err)
	}
	return cfg
}

func TestParseValid(t *testing.T) {
	cfg := parseValid(t)
	if cfg.Homeserver.URL != "http://localhost:8008" || cfg.Homeserver.Domain != "example.org" {
		t.Errorf("homeserver = %+v", cfg.Homeserver)
	}
	if cfg.AppService.ASToken != asToken || cfg.AppService.HSToken != hsToken {
		t.Errorf("tokens not read")
	}
	if cfg.Dispatcher.Workers != 4 || cfg.Dispatcher.LeaseTimeout.D() != time.Minute || cfg.Dispatcher.PollInterval.D() != 500*time.Millisecond {
		t.Errorf("dispatcher = %+v", cfg.Dispatcher)
	}
	if cfg.Sender.MaxBackoff.D() != 2*time.Minute {
		t.Errorf("sender.max_backoff = %s", cfg.Sender.MaxBackoff.D())
	}
	// Left out: defaults.
	if cfg.Dispatcher.MaxAttempts != 5 || cfg.Sender.Workers != 32 || cfg.Sender.RequestTimeout.D() != 20*time.Second {
		t.Errorf("defaults not applied: dispatcher %+v sender %+v", cfg.Dispatcher, cfg.Sender)
	}
	if cfg.AppService.MaxBodyBytes != 10<<20 {
		t.Errorf("max_body_bytes default = %d", cfg.AppService.MaxBodyBytes)
	}
	if len(cfg.Bots) != 2 || cfg.Bots[0].Localpart != "pizza" || cfg.Bots[1].Localpart != "taxi" {
		t.Fatalf("bots = %+v", cfg.Bots)
	}
	if cfg.Bots[1].Service != "echo" {
		t.Errorf("bot without service: got %q, want the echo default", cfg.Bots[1].Service)
	}
	// A bot's config block is kept raw for its service, unknown keys and all.
	var block map[string]any
	if err := cfg.Bots[0].Config.Decode(&block); err != nil {
		t.Fatalf("decode bot config block: %v", err)
	}
	if block["anything"] != "goes here" {
		t.Errorf("bot config block = %v", block)
	}
	if cfg.Path != "config.yaml" {
		t.Errorf("Path = %q", cfg.Path)
	}
}

func TestDefaultsFromMinimalConfig(t *testing.T) {
	cfg, err := config.Parse([]byte(`homeserver: {url: "https://matrix.example.org", domain: example.org}
appservice: {as_token: `+asToken+`, hs_token: `+hsToken+`}
bots: [{localpart: pizza}]
`), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.AppService
	want := config.AppService{
		ID: "bizbots", Listen: "127.0.0.1:29330", URL: "http://127.0.0.1:29330", SenderLocalpart: "bizbots",
		ASToken: asToken, HSToken: hsToken, Registration: "registration.yaml", MaxBodyBytes: 10 << 20,
	}
	if a != want {
		t.Errorf("appservice defaults:\n got %+v\nwant %+v", a, want)
	}
	if cfg.Database.URI != "sqlite:bizbots.db" || cfg.Logging.Level != "info" || cfg.Logging.Format != "auto" {
		t.Errorf("database/logging defaults: %+v %+v", cfg.Database, cfg.Logging)
	}
	if cfg.Dispatcher.Workers != 32 || cfg.Dispatcher.LeaseTimeout.D() != 2*time.Minute || cfg.Dispatcher.PollInterval.D() != time.Second {
		t.Errorf("dispatcher defaults: %+v", cfg.Dispatcher)
	}
	if cfg.Sender.MaxBackoff.D() != 5*time.Minute {
		t.Errorf("sender defaults: %+v", cfg.Sender)
	}

	// The URL defaults from the listen address actually configured.
	cfg, err = config.Parse([]byte(`homeserver: {url: "https://matrix.example.org", domain: example.org}
appservice: {listen: "10.0.0.5:8090", as_token: `+asToken+`, hs_token: `+hsToken+`}
bots: [{localpart: pizza}]
`), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppService.URL != "http://10.0.0.5:8090" {
		t.Errorf("appservice.url default %q, want http://10.0.0.5:8090", cfg.AppService.URL)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   string
	}{
		{"homeserver url missing", func(c *config.Config) { c.Homeserver.URL = "" },
			"homeserver.url is required (e.g. http://localhost:8008)"},
		{"homeserver url unparsable", func(c *config.Config) { c.Homeserver.URL = "http://exa mple.org" },
			`homeserver.url "http://exa mple.org" is not a valid URL`},
		{"homeserver url scheme", func(c *config.Config) { c.Homeserver.URL = "ftp://example.org" },
			`homeserver.url "ftp://example.org" must start with http:// or https://`},
		{"homeserver url without scheme", func(c *config.Config) { c.Homeserver.URL = "localhost:8008" },
			`homeserver.url "localhost:8008" must start with http:// or https://`},
		{"homeserver url no host", func(c *config.Config) { c.Homeserver.URL = "http://" },
			`homeserver.url "http://" has no host`},
		{"domain missing", func(c *config.Config) { c.Homeserver.Domain = "" },
			"homeserver.domain is required: the server name in your users' ids"},
		{"domain with space", func(c *config.Config) { c.Homeserver.Domain = "exa mple.org" },
			`homeserver.domain "exa mple.org" is not a valid server name`},
		{"domain with scheme", func(c *config.Config) { c.Homeserver.Domain = "https://example.org" },
			`homeserver.domain "https://example.org" is not a valid server name`},
		{"domain with user part", func(c *config.Config) { c.Homeserver.Domain = "@alice:example.org" },
			`homeserver.domain "@alice:example.org" is not a valid server name`},
		{"domain leading hyphen", func(c *config.Config) { c.Homeserver.Domain = "-example.org" },
			`homeserver.domain "-example.org" is not a valid server name`},
		{"appservice id empty", func(c *config.Config) { c.AppService.ID = "" },
			`appservice.id "" must be 1-64 letters, digits, '.', '_' or '-'`},
		{"appservice id bad chars", func(c *config.Config) { c.AppService.ID = "biz bots!" },
			`appservice.id "biz bots!" must be 1-64`},
		{"appservice id too long", func(c *config.Config) { c.AppService.ID = strings.Repeat("a", 65) },
			`appservice.id "` + strings.Repeat("a", 65) + `" must be 1-64`},
		{"listen without port", func(c *config.Config) { c.AppService.Listen = "localhost" },
			`appservice.listen "localhost" must be host:port (e.g. 127.0.0.1:29330)`},
		{"listen empty", func(c *config.Config) { c.AppService.Listen = "" },
			`appservice.listen "" must be host:port`},
		{"appservice url missing", func(c *config.Config) { c.AppService.URL = "" },
			"appservice.url is required"},
		{"appservice url scheme", func(c *config.Config) { c.AppService.URL = "tcp://127.0.0.1:29330" },
			`appservice.url "tcp://127.0.0.1:29330" must start with http:// or https://`},
		{"sender localpart uppercase", func(c *config.Config) { c.AppService.SenderLocalpart = "BizBots" },
			`appservice.sender_localpart "BizBots" may only contain a-z, 0-9 and ._=/+-`},
		{"sender localpart empty", func(c *config.Config) { c.AppService.SenderLocalpart = "" },
			`appservice.sender_localpart "" may only contain`},
		{"as_token missing", func(c *config.Config) { c.AppService.ASToken = "" },
			"appservice.as_token is required (run `bizbots init` to generate one)"},
		{"hs_token missing", func(c *config.Config) { c.AppService.HSToken = "" },
			"appservice.hs_token is required"},
		{"as_token too short", func(c *config.Config) { c.AppService.ASToken = "short" },
			"appservice.as_token is too short (5 characters; at least 32, generated tokens have 64)"},
		{"hs_token one under the minimum", func(c *config.Config) { c.AppService.HSToken = strings.Repeat("h", config.MinTokenLength-1) },
			"appservice.hs_token is too short (31 characters; at least 32"},
		{"as_token with space", func(c *config.Config) { c.AppService.ASToken = asToken[:20] + " " + asToken[20:] },
			"appservice.as_token must not contain white space"},
		{"hs_token with newline", func(c *config.Config) { c.AppService.HSToken = hsToken + "\n" },
			"appservice.hs_token must not contain white space"},
		{"hs_token with tab", func(c *config.Config) { c.AppService.HSToken = "\t" + hsToken },
			"appservice.hs_token must not contain white space"},
		{"tokens equal", func(c *config.Config) { c.AppService.HSToken = c.AppService.ASToken },
			"appservice.as_token and appservice.hs_token must differ"},
		{"max body too small", func(c *config.Config) { c.AppService.MaxBodyBytes = 1023 },
			"appservice.max_body_bytes 1023 is too small (at least 1024)"},
		{"bot namespace does not compile", func(c *config.Config) { c.AppService.BotNamespace = "@shop_(.*:example.org" },
			`appservice.bot_namespace "@shop_(.*:example.org" is not a valid regular expression`},
		{"bot outside bot namespace", func(c *config.Config) { c.AppService.BotNamespace = `@shop_.*:example\.org`; c.Bots = c.Bots[:1] },
			`bots[0] (pizza): @pizza:example.org is outside appservice.bot_namespace "@shop_.*:example\\.org"`},
		{"bot namespace anchored: prefix match is not enough", func(c *config.Config) {
			c.AppService.BotNamespace = `@pizza`
			c.Bots = c.Bots[:1]
		}, `bots[0] (pizza): @pizza:example.org is outside appservice.bot_namespace "@pizza"`},
		{"database uri empty", func(c *config.Config) { c.Database.URI = "" },
			"database.uri: is empty"},
		{"database uri unknown engine", func(c *config.Config) { c.Database.URI = "mysql://root@localhost/bizbots" },
			`database.uri: "mysql://root@localhost/bizbots": use sqlite:<file> or postgres://user@host/db`},
		{"database uri sqlite without file", func(c *config.Config) { c.Database.URI = "sqlite:" },
			`database.uri: "sqlite:" names no file (e.g. sqlite:bizbots.db)`},
		{"database uri sqlite3 without file", func(c *config.Config) { c.Database.URI = "sqlite3:" },
			`database.uri: "sqlite3:" names no file`},
		{"database uri postgres without host", func(c *config.Config) { c.Database.URI = "postgres:///bizbots" },
			"database.uri: postgres URI has no host"},
		{"database uri postgres unparsable", func(c *config.Config) { c.Database.URI = "postgres://root@local host/bizbots" },
			"database.uri: not a valid postgres URI"},
		{"max open conns negative", func(c *config.Config) { c.Database.MaxOpenConns = -1 },
			"database.max_open_conns must not be negative"},
		{"committers negative", func(c *config.Config) { c.Database.Committers = -1 },
			"database.committers must be between 0"},
		{"committers too many", func(c *config.Config) { c.Database.Committers = 65 },
			"database.committers must be between 0"},
		{"database timeout too short", func(c *config.Config) { c.Database.Timeout = config.Duration(time.Millisecond) },
			"database.timeout 1ms is out of range"},
		{"logging level", func(c *config.Config) { c.Logging.Level = "verbose" },
			`logging.level "verbose" must be one of trace, debug, info, warn, error`},
		{"logging format", func(c *config.Config) { c.Logging.Format = "xml" },
			`logging.format "xml" must be auto, pretty or json`},
		{"dispatcher workers zero", func(c *config.Config) { c.Dispatcher.Workers = 0 },
			"dispatcher.workers 0 must be between 1 and 1024"},
		{"dispatcher workers too many", func(c *config.Config) { c.Dispatcher.Workers = 1025 },
			"dispatcher.workers 1025 must be between 1 and 1024"},
		{"dispatcher max attempts", func(c *config.Config) { c.Dispatcher.MaxAttempts = 0 },
			"dispatcher.max_attempts must be at least 1"},
		{"dispatcher lease timeout", func(c *config.Config) { c.Dispatcher.LeaseTimeout = config.Duration(4 * time.Second) },
			"dispatcher.lease_timeout 4s is too short (at least 5s)"},
		{"dispatcher poll interval", func(c *config.Config) { c.Dispatcher.PollInterval = config.Duration(9 * time.Millisecond) },
			"dispatcher.poll_interval 9ms is too short (at least 10ms)"},
		{"dispatcher retention", func(c *config.Config) { c.Dispatcher.Retention = config.Duration(30 * time.Minute) },
			"dispatcher.retention 30m0s is too short (at least 1h: homeservers resend transactions for hours)"},
		{"sender workers zero", func(c *config.Config) { c.Sender.Workers = 0 },
			"sender.workers 0 must be between 1 and 1024"},
		{"sender workers too many", func(c *config.Config) { c.Sender.Workers = 5000 },
			"sender.workers 5000 must be between 1 and 1024"},
		{"sender request timeout too short", func(c *config.Config) { c.Sender.RequestTimeout = config.Duration(500 * time.Millisecond) },
			"sender.request_timeout 500ms must be between 1s and a third of dispatcher.lease_timeout"},
		{"sender request timeout near the lease", func(c *config.Config) { c.Sender.RequestTimeout = config.Duration(90 * time.Second) },
			"sender.request_timeout 1m30s must be between 1s"},
		{"sender max backoff", func(c *config.Config) { c.Sender.MaxBackoff = config.Duration(999 * time.Millisecond) },
			"sender.max_backoff 999ms is too short (at least 1s)"},
		{"no bots", func(c *config.Config) { c.Bots = nil },
			"bots: at least one bot is required"},
		{"bot localpart missing", func(c *config.Config) { c.Bots[1].Localpart = "" },
			"bots[1]: localpart is required"},
		{"bot localpart uppercase", func(c *config.Config) { c.Bots[1].Localpart = "Taxi" },
			`bots[1] (Taxi): localpart "Taxi" may only contain a-z, 0-9 and ._=/+-`},
		{"bot localpart with colon", func(c *config.Config) { c.Bots[1].Localpart = "taxi:example.org" },
			`bots[1] (taxi:example.org): localpart "taxi:example.org" may only contain`},
		{"bot localpart is the sender", func(c *config.Config) { c.Bots[1].Localpart = "bizbots" },
			`bots[1] (bizbots): localpart "bizbots" is the appservice's sender_localpart; pick another`},
		{"duplicate bot localparts", func(c *config.Config) { c.Bots[1].Localpart = "pizza" },
			`bots[1] (pizza): duplicate localpart "pizza" (also bots[0])`},
		{"bad avatar", func(c *config.Config) { c.Bots[0].Avatar = "ftp://example.org/a.png" },
			`bots[0] (pizza): avatar "ftp://example.org/a.png" must be an mxc:// URI or an http(s) URL`},
		{"avatar as a bare path", func(c *config.Config) { c.Bots[0].Avatar = "pizza.png" },
			`bots[0] (pizza): avatar "pizza.png" must be an mxc://`},
		{"unknown cross-signing mode", func(c *config.Config) { c.Encryption.CrossSigning = "yes" },
			`encryption.cross_signing is "yes"; want auto, msc4190, password or off`},
		{"password cross-signing without a token", func(c *config.Config) { c.Encryption.CrossSigning = "password" },
			"encryption.cross_signing: password needs encryption.homeserver_admin_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseValid(t)
			tt.change(cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate accepted the config; want %q", tt.want)
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *config.ValidationError: %v", err, err)
			}
			if len(ve.Problems) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(ve.Problems), err)
			}
			if !strings.Contains(ve.Problems[0], tt.want) {
				t.Errorf("problem:\n  %s\nwant it to contain:\n  %s", ve.Problems[0], tt.want)
			}
			if err.Error() != ve.Problems[0] {
				t.Errorf("a single problem should be the whole message; got %q", err.Error())
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *config.Config)
	}{
		{"https homeserver", func(c *config.Config) { c.Homeserver.URL = "https://matrix.example.org/" }},
		{"domain with port", func(c *config.Config) { c.Homeserver.Domain = "example.org:8448" }},
		{"single-label domain", func(c *config.Config) { c.Homeserver.Domain = "localhost" }},
		{"IPv4 domain", func(c *config.Config) { c.Homeserver.Domain = "10.0.0.1" }},
		{"IPv6 domain with port", func(c *config.Config) { c.Homeserver.Domain = "[::1]:8448" }},
		{"listen on all interfaces", func(c *config.Config) { c.AppService.Listen = ":29330" }},
		{"token of exactly the minimum length", func(c *config.Config) { c.AppService.ASToken = strings.Repeat("a", config.MinTokenLength) }},
		{"bots inside the namespace", func(c *config.Config) {
			c.AppService.BotNamespace = `@(pizza|taxi):example\.org`
		}},
		{"postgres uri", func(c *config.Config) { c.Database.URI = "postgres://u:p@db.internal:5432/bizbots?sslmode=disable" }},
		{"postgresql uri with socket host", func(c *config.Config) { c.Database.URI = "postgresql:///bizbots?host=/var/run/postgresql" }},
		{"sqlite3 prefix", func(c *config.Config) { c.Database.URI = "sqlite3:/var/lib/bizbots/db.sqlite" }},
		{"http avatar", func(c *config.Config) { c.Bots[0].Avatar = "https://example.org/pizza.png" }},
		{"no avatar", func(c *config.Config) { c.Bots[0].Avatar = "" }},
		{"localpart with allowed punctuation", func(c *config.Config) { c.Bots[1].Localpart = "shop.taxi_1=/+-" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseValid(t)
			tt.change(cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate rejected a valid config: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := parseValid(t)
	cfg.Homeserver.Domain = ""
	cfg.Logging.Level = "loud"
	cfg.Bots[1].Localpart = "pizza"
	err := cfg.Validate()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	if len(ve.Problems) != 3 {
		t.Fatalf("want 3 problems, got %d: %v", len(ve.Problems), err)
	}
	msg := err.Error()
	for _, want := range []string{"3 problems:\n  - ", "homeserver.domain is required", `logging.level "loud"`, `duplicate localpart "pizza"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestDatabaseURIErrorHidesPassword(t *testing.T) {
	err := config.CheckDatabaseURI("mysql://root:hunter2secret@localhost/bizbots")
	if err == nil {
		t.Fatal("a mysql URI was accepted")
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("the password leaked into the error: %v", err)
	}
	if !strings.Contains(err.Error(), "root:xxxxx@localhost") {
		t.Errorf("error should show the redacted URI: %v", err)
	}
	err = config.CheckDatabaseURI("postgres://root:hunter2secret@local host/bizbots")
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("postgres parse error: %v (must exist and not leak the password)", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty file", "", []string{"bad.yaml: the file is empty"}},
		{"comments only", "# nothing here\n\n", []string{"bad.yaml: the file is empty"}},
		{"unknown top-level key", validYAML + "colour: blue\n",
			[]string{"bad.yaml: ", `line 33: unknown key "colour" in the top level`}},
		{"unknown key in homeserver", strings.Replace(validYAML, "  domain: example.org\n", "  domain: example.org\n  port: 8008\n", 1),
			[]string{`line 4: unknown key "port" in homeserver`}},
		{"unknown key in appservice", strings.Replace(validYAML, "  id: bizbots\n", "  id: bizbots\n  hs_tokn: x\n", 1),
			[]string{`line 6: unknown key "hs_tokn" in appservice`}},
		{"unknown key in dispatcher", strings.Replace(validYAML, "  workers: 4\n", "  workers: 4\n  threads: 2\n", 1),
			[]string{`line 19: unknown key "threads" in dispatcher`}},
		{"unknown key in a bot entry", strings.Replace(validYAML, "  - localpart: taxi\n", "  - localpart: taxi\n    displayname: Taxi\n", 1),
			[]string{`line 33: unknown key "displayname" in a bot entry`}},
		{"several unknown keys at once", strings.Replace(validYAML, "logging:\n", "logging:\n  colour: true\n", 1) + "extra: 1\n",
			[]string{`line 15: unknown key "colour" in logging`, `; line 34: unknown key "extra" in the top level`}},
		{"bad duration", strings.Replace(validYAML, "lease_timeout: 1m", "lease_timeout: soon", 1),
			[]string{`bad.yaml: line 19: dispatcher.lease_timeout: "soon" is not a duration (use e.g. 30s, 5m)`}},
		{"duration without unit", strings.Replace(validYAML, "max_backoff: 2m", "max_backoff: 300", 1),
			[]string{`line 22: sender.max_backoff: "300" is not a duration`}},
		{"wrong type", strings.Replace(validYAML, "workers: 4", "workers: many", 1),
			[]string{"bad.yaml: ", "line 18", "many"}},
		{"not YAML", "homeserver: [unclosed\n", []string{"bad.yaml: "}},
		// yaml.v3 reports a syntax error at the start of the enclosing
		// block; the admin needs the line that is wrong.
		{"bad indentation", strings.Replace(validYAML, "  as_token:", "   as_token:", 1),
			[]string{"bad.yaml: line 9: ", "indent"}},
		{"bad indentation, less", strings.Replace(validYAML, "  listen:", " listen:", 1),
			[]string{"bad.yaml: line 6: ", "indent"}},
		{"unclosed quote", strings.Replace(validYAML, "  domain: example.org", "  domain: \"example.org", 1),
			[]string{"bad.yaml: line 3: ", "quote"}},
		{"unclosed bracket", strings.Replace(validYAML, "  level: info", "  level: [info", 1),
			[]string{"bad.yaml: line 15: "}},
		{"tab indentation", strings.Replace(validYAML, "  workers: 4", "\tworkers: 4", 1),
			[]string{"bad.yaml: line 18: ", "tab"}},
		{"wrong type names the option", strings.Replace(validYAML, "workers: 4", "workers: eight", 1),
			[]string{`bad.yaml: line 18: dispatcher.workers must be a whole number, not "eight"`}},
		{"list where a value goes names the option", strings.Replace(validYAML, "lease_timeout: 1m", "lease_timeout: [1m]", 1),
			[]string{`line 19: dispatcher.lease_timeout must be a duration such as 30s or 5m, not a list`}},
		{"duration error names the option", strings.Replace(validYAML, "lease_timeout: 1m", "lease_timeout: soon", 1),
			[]string{`line 19: dispatcher.lease_timeout: "soon" is not a duration`}},
		{"wrong type in a bot entry names the bot", strings.Replace(validYAML, "    welcome: Hi\n", "    welcome: [Hi]\n", 1),
			[]string{`line 28: bots[0].welcome must be a string, not a list`}},
		{"validation problems are prefixed with the file name", strings.Replace(validYAML, "level: info", "level: chatty", 1),
			[]string{`bad.yaml: logging.level "chatty" must be one of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.yaml), "bad.yaml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, w)
				}
			}
			if strings.Contains(err.Error(), "not found in type") {
				t.Errorf("raw yaml.v3 message leaked through: %v", err)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	in := struct {
		D config.Duration `yaml:"d"`
	}{config.Duration(90 * time.Second)}
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "d: 1m30s\n" {
		t.Errorf("marshalled %q, want %q", out, "d: 1m30s\n")
	}
	in.D = 0
	if err := yaml.Unmarshal(out, &in); err != nil {
		t.Fatal(err)
	}
	if in.D.D() != 90*time.Second {
		t.Errorf("round trip gave %s", in.D.D())
	}
}

func TestUserIDsAndNamespace(t *testing.T) {
	cfg := parseValid(t)
	if got := cfg.UserID("pizza"); got != id.UserID("@pizza:example.org") {
		t.Errorf("UserID = %s", got)
	}
	if got := cfg.SenderID(); got != id.UserID("@bizbots:example.org") {
		t.Errorf("SenderID = %s", got)
	}
	b, ok := cfg.BotByUserID("@taxi:example.org")
	if !ok || b.Localpart != "taxi" {
		t.Errorf("BotByUserID(@taxi) = %v, %v", b, ok)
	}
	for _, uid := range []id.UserID{"@taxi:example.com", "@bizbots:example.org", "@TAXI:example.org"} {
		if b, ok := cfg.BotByUserID(uid); ok {
			t.Errorf("BotByUserID(%s) found %v", uid, b)
		}
	}

	re := regexp.MustCompile("^(?:" + cfg.UserNamespace() + ")$")
	for _, uid := range []string{"@bizbots:example.org", "@pizza:example.org", "@taxi:example.org"} {
		if !re.MatchString(uid) {
			t.Errorf("namespace %q does not cover %s", cfg.UserNamespace(), uid)
		}
	}
	for _, uid := range []string{"@pizzas:example.org", "@pizza:exampleXorg", "@alice:example.org", "@pizza:example.org.evil", "@xtaxi:example.org"} {
		if re.MatchString(uid) {
			t.Errorf("namespace %q wrongly covers %s", cfg.UserNamespace(), uid)
		}
	}

	cfg.AppService.BotNamespace = `@shop_.*:example\.org`
	if got := cfg.UserNamespace(); got != `@shop_.*:example\.org` {
		t.Errorf("an explicit bot_namespace should win, got %q", got)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	const as, hs = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11", "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22"
	data, err := config.Render(config.InitOptions{
		HomeserverURL: "https://matrix.example.net", Domain: "example.net",
		ASToken: as, HSToken: hs, Listen: "127.0.0.1:40000",
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for _, want := range []string{as, hs, "https://matrix.example.net", "example.net", "# "} {
		if !strings.Contains(string(data), want) {
			t.Errorf("rendered config lacks %q", want)
		}
	}
	cfg, err := config.Parse(data, "rendered.yaml")
	if err != nil {
		t.Fatalf("rendered config does not parse: %v\n%s", err, data)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("rendered config does not validate: %v", err)
	}
	a := cfg.AppService
	if a.ASToken != as || a.HSToken != hs {
		t.Errorf("tokens: as %q hs %q", a.ASToken, a.HSToken)
	}
	if a.Listen != "127.0.0.1:40000" || a.URL != "http://127.0.0.1:40000" {
		t.Errorf("listen %q url %q: the URL should default from listen", a.Listen, a.URL)
	}
	if a.ID != "bizbots" || a.SenderLocalpart != "bizbots" || a.Registration != "registration.yaml" || a.BotNamespace != "" {
		t.Errorf("appservice defaults: %+v", a)
	}
	if cfg.Database.URI != "sqlite:bizbots.db" {
		t.Errorf("database uri %q", cfg.Database.URI)
	}
	if cfg.Homeserver.URL != "https://matrix.example.net" || cfg.Homeserver.Domain != "example.net" {
		t.Errorf("homeserver %+v", cfg.Homeserver)
	}
	if len(cfg.Bots) == 0 {
		t.Fatal("rendered config has no bots")
	}
	want := map[string]string{"pizza": "ordering", "taxi": "taxi", "support": "support", "echo": "echo"}
	for _, b := range cfg.Bots {
		if b.DisplayName == "" {
			t.Errorf("bot %s lacks a display name", b.Localpart)
		}
		if want[b.Localpart] != b.Service {
			t.Errorf("demo bot %s runs %q, want %q", b.Localpart, b.Service, want[b.Localpart])
		}
		delete(want, b.Localpart)
	}
	if len(want) > 0 {
		t.Errorf("demo bots missing: %v", want)
	}
}

func TestRenderQuotesValues(t *testing.T) {
	// A value YAML would misread unquoted (a leading '#', a colon) must
	// survive the template as written.
	data, err := config.Render(config.InitOptions{
		HomeserverURL: "http://localhost:8008/#frag", Domain: "example.org",
		ASToken: asToken, HSToken: hsToken, DatabaseURI: "sqlite:my db: #1.db",
	})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	cfg, err := config.Parse(data, "rendered.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Homeserver.URL != "http://localhost:8008/#frag" || cfg.Database.URI != "sqlite:my db: #1.db" {
		t.Errorf("values changed: %q %q", cfg.Homeserver.URL, cfg.Database.URI)
	}
}

func TestRenderRejectsInvalidOptions(t *testing.T) {
	_, err := config.Render(config.InitOptions{
		HomeserverURL: "localhost:8008", Domain: "example.org", ASToken: asToken, HSToken: hsToken,
	})
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	if !strings.Contains(err.Error(), `homeserver.url "localhost:8008" must start with http:// or https://`) {
		t.Errorf("error: %v", err)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	writeFile(t, path, validYAML)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "registration.yaml"); cfg.AppService.Registration != want {
		t.Errorf("registration = %q, want %q", cfg.AppService.Registration, want)
	}
	if want := "sqlite:" + filepath.Join(dir, "bizbots.db"); cfg.Database.URI != want {
		t.Errorf("database uri = %q, want %q", cfg.Database.URI, want)
	}
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}

	tests := []struct {
		name             string
		reg, uri         string
		wantReg, wantURI string
	}{
		{"subdirectories", "secrets/reg.yaml", "sqlite3:data/bb.db",
			filepath.Join(dir, "secrets/reg.yaml"), "sqlite3:" + filepath.Join(dir, "data/bb.db")},
		{"absolute paths are kept", "/etc/bizbots/reg.yaml", "sqlite:/var/lib/bizbots/bb.db",
			"/etc/bizbots/reg.yaml", "sqlite:/var/lib/bizbots/bb.db"},
		{"postgres is not a path", "reg.yaml", "postgres://root@db/bizbots",
			filepath.Join(dir, "reg.yaml"), "postgres://root@db/bizbots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(validYAML, "registration: registration.yaml", "registration: "+tt.reg, 1)
			y = strings.Replace(y, "uri: sqlite:bizbots.db", "uri: "+tt.uri, 1)
			writeFile(t, path, y)
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.AppService.Registration != tt.wantReg || cfg.Database.URI != tt.wantURI {
				t.Errorf("got registration %q uri %q\nwant registration %q uri %q",
					cfg.AppService.Registration, cfg.Database.URI, tt.wantReg, tt.wantURI)
			}
		})
	}
}

func TestLoadWithDefaultedPaths(t *testing.T) {
	// Paths filled in by defaults are relative to the config file too.
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	writeFile(t, path, `homeserver: {url: "http://hs:8008", domain: example.org}
appservice: {as_token: `+asToken+`, hs_token: `+hsToken+`}
bots: [{localpart: pizza}]
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppService.Registration != filepath.Join(dir, "registration.yaml") || cfg.Database.URI != "sqlite:"+filepath.Join(dir, "bizbots.db") {
		t.Errorf("registration %q uri %q", cfg.AppService.Registration, cfg.Database.URI)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	_, err := config.Load(missing)
	if err == nil || !strings.Contains(err.Error(), "config file "+missing+" not found (create one with `bizbots init`, or pass --config)") {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, validYAML+"colour: blue\n")
	_, err = config.Load(bad)
	if err == nil || !strings.Contains(err.Error(), bad+`: line 33: unknown key "colour" in the top level`) {
		t.Errorf("unknown key through Load: %v", err)
	}

	empty := filepath.Join(dir, "empty.yaml")
	writeFile(t, empty, "")
	_, err = config.Load(empty)
	if err == nil || !strings.Contains(err.Error(), empty+": the file is empty") {
		t.Errorf("empty file through Load: %v", err)
	}

	// A directory cannot be read as a file.
	_, err = config.Load(dir)
	if err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("directory: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An older config that still sets sender.max_attempts loads (the option is
// ignored: replies are no longer given up after a number of attempts) and
// the deprecation names the option, the file and what to do instead.
func TestSenderMaxAttemptsIsDeprecatedNotAnError(t *testing.T) {
	old := strings.Replace(validYAML, "sender:\n", "sender:\n  max_attempts: 12\n", 1)
	cfg, err := config.Parse([]byte(old), "old.yaml")
	if err != nil {
		t.Fatalf("an older config with sender.max_attempts does not load: %v", err)
	}
	d := cfg.Deprecations()
	if len(d) != 1 || !strings.Contains(d[0], "sender.max_attempts is ignored") || !strings.Contains(d[0], "old.yaml") ||
		!strings.Contains(d[0], "bizbots retry") {
		t.Fatalf("deprecations = %q", d)
	}
	if d := parseValid(t).Deprecations(); len(d) != 0 {
		t.Fatalf("a current config has deprecations: %q", d)
	}
}

// A short lease with no request_timeout set gets a request timeout that
// fits in it, instead of an error about an option the admin never wrote.
func TestRequestTimeoutDefaultFitsTheLease(t *testing.T) {
	short := strings.Replace(validYAML, "lease_timeout: 1m", "lease_timeout: 6s", 1)
	cfg, err := config.Parse([]byte(short), "short.yaml")
	if err != nil {
		t.Fatalf("a 6s lease without request_timeout does not load: %v", err)
	}
	if got := cfg.Sender.RequestTimeout.D(); got != 2*time.Second {
		t.Fatalf("request_timeout = %s, want a third of the 6s lease", got)
	}
}
