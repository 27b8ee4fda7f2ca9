package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

// Recover turns a panic in the wrapped handler into an error carrying a
// short reference id and the stack, so the framework answers politely and
// the process lives on. (The dispatcher recovers too; Recover lets a
// handler chain decide for itself, e.g. inside a Router.)
func Recover() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) (err error) {
			defer func() {
				if p := recover(); p != nil {
					b := make([]byte, 4)
					_, _ = rand.Read(b)
					err = fmt.Errorf("panic (ref %s): %v\n%s", hex.EncodeToString(b), p, debug.Stack())
				}
			}()
			return next.Handle(ctx, c, m)
		})
	}
}

// Logging logs each handled message at debug level (ids, kind, duration,
// replies; never the text) and errors at warn. A UserError is logged at
// debug with its length only: its text is for the customer, and often
// quotes what they wrote.
func Logging() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			start := time.Now()
			err := next.Handle(ctx, c, m)
			log := zerolog.Ctx(ctx)
			ev := log.Debug()
			var ue *UserError
			switch {
			case errors.As(err, &ue):
				// Its text is for the customer and often quotes them.
				ev = ev.Int("user_error_len", len(ue.Text))
			case err != nil:
				ev = log.Warn().Err(err)
			}
			ev.Str("bot", c.Bot.String()).Str("customer", c.Customer.ID.String()).Str("kind", string(m.Kind)).
				Str("step", c.Step()).Int("replies", len(c.Outbox())).Dur("took", time.Since(start)).Msg("handled")
			return err
		})
	}
}

// RateLimit lets each customer send at most burst messages at once,
// refilled at rate per second; beyond that the customer gets one polite
// notice and further messages are dropped until the bucket refills. The
// buckets live in memory (per process), which is enough to stop a flood.
func RateLimit(rate float64, burst int) Middleware {
	var mu sync.Mutex
	type bucket struct {
		tokens float64
		last   time.Time
		warned bool
	}
	buckets := map[id.UserID]*bucket{}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			if m.Kind == KindTimer {
				return next.Handle(ctx, c, m) // the bot's own timers are never the customer flooding
			}
			now := c.Now()
			mu.Lock()
			b := buckets[c.Customer.ID]
			if b == nil {
				b = &bucket{tokens: float64(burst), last: now}
				buckets[c.Customer.ID] = b
			}
			b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
			b.last = now
			allowed := b.tokens >= 1
			warn := false
			if allowed {
				b.tokens--
				b.warned = false
			} else if !b.warned {
				b.warned, warn = true, true
			}
			if len(buckets) > 100_000 { // bound memory: forget idle customers
				for k, v := range buckets {
					if now.Sub(v.last) > time.Hour {
						delete(buckets, k)
					}
				}
			}
			mu.Unlock()
			if !allowed {
				if warn {
					c.Notice("You're sending messages faster than I can answer. Please wait a moment and try again.")
				}
				return nil
			}
			return next.Handle(ctx, c, m)
		})
	}
}

var (
	handlerCalls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "bizbots_handler_calls_total",
		Help: "Handler calls by bot, message kind and result (ok, error).",
	}, []string{"bot", "kind", "result"})
	handlerSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bizbots_handler_seconds",
		Help:    "Handler run time by bot.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"bot"})
)

// Metrics counts calls and measures run time per bot (Prometheus).
func Metrics() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			start := time.Now()
			err := next.Handle(ctx, c, m)
			result := "ok"
			if err != nil {
				result = "error"
			}
			handlerCalls.WithLabelValues(c.Bot.String(), string(m.Kind), result).Inc()
			handlerSeconds.WithLabelValues(c.Bot.String()).Observe(time.Since(start).Seconds())
			return err
		})
	}
}
