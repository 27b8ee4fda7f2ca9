// Package services is the registry of built-in business services. Each
// service package registers a Factory under a stable id in its init(), the
// way caddy modules do; the binary imports the packages it ships, and a
// bot's `service:` option picks one. A service decodes its own config
// block strictly with DecodeConfig. This package knows no service itself.
package services

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/store"
)

// Env is what a service gets to build its handler for one bot.
type Env struct {
	Bot    config.Bot
	UserID id.UserID
	// ConfigFile names the config file, for error messages.
	ConfigFile string
	DB         *store.DB
	Log        zerolog.Logger
	// SendAPIURL is the Send API's public base URL ("" when it is off),
	// for services that tell a business where to answer later.
	SendAPIURL string
	// Media uploads files (a menu's photos) to the homeserver, each once;
	// nil where there is no homeserver (`bizbots chat`).
	Media handlers.Media
	// Resolver puts images and files given by URL into the homeserver's
	// repository (nil: only mxc:// media).
	Resolver wire.Resolver
}

// Factory builds a bot's handler, validating its config block.
type Factory func(env Env) (handlers.Handler, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a service available under id. Registering an id twice is
// a programming error and panics.
func Register(id string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[id]; dup {
		panic("services: " + id + " registered twice")
	}
	factories[id] = f
}

// Names lists the registered service ids, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build makes the handler of one bot.
func Build(env Env) (handlers.Handler, error) {
	mu.RLock()
	f, ok := factories[env.Bot.Service]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bot %s: unknown service %q (available: %v)", env.Bot.Localpart, env.Bot.Service, Names())
	}
	h, err := f(env)
	if err != nil {
		return nil, fmt.Errorf("bot %s (service %s): %w", env.Bot.Localpart, env.Bot.Service, err)
	}
	return h, nil
}

var lineRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// DecodeConfig decodes a bot's `config:` block into dst, strictly: an
// unknown key is an error naming the key, the file and its line. An absent
// block leaves dst as it is.
func DecodeConfig(env Env, dst any) error {
	n := env.Bot.Config
	if n.Kind == 0 {
		return nil
	}
	raw, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		// Line numbers in err are relative to the block; shift them to
		// the config file's lines.
		msg := lineRe.ReplaceAllStringFunc(err.Error(), func(s string) string {
			m := lineRe.FindStringSubmatch(s)
			l, _ := strconv.Atoi(m[1])
			return fmt.Sprintf("line %d: unknown key %q", l+n.Line-1, m[2])
		})
		msg = strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:"))
		msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
		return fmt.Errorf("%s: bot %s config: %s", env.ConfigFile, env.Bot.Localpart, msg)
	}
	return nil
}
