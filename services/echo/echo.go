// Package echo is the simplest service: it answers every message with the
// text it got. It exists to prove the flow end to end (and is what the
// demo bots run until a business service is configured for them).
package echo

import (
	"context"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
)

// Config is the echo service's config block.
type Config struct {
	// Prefix goes before the echoed text.
	Prefix string `yaml:"prefix"`
}

func init() {
	services.Register("echo", func(env services.Env) (handlers.Handler, error) {
		cfg := Config{Prefix: "You said: "}
		if err := services.DecodeConfig(env, &cfg); err != nil {
			return nil, err
		}
		return New(cfg), nil
	})
}

// New returns an echo handler.
func New(cfg Config) handlers.Handler {
	return handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
		if !m.IsText() || m.Text() == "" {
			return nil // reactions, media, timers: nothing to echo
		}
		c.Reply(cfg.Prefix + m.Text())
		return nil
	})
}
