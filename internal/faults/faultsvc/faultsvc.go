// Package faultsvc is a test-only service, "faulty", for the fault suite:
// it echoes like the echo service, and a message's first word asks it to
// misbehave: "slow <ms>" sleeps that long first, "panic" panics in the
// handler, "commitpanic" panics in its OnCommit code. Only binaries built
// for tests import it (internal/faults/faultbin).
package faultsvc

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
)

// Prefix starts every echo.
const Prefix = "You said: "

func init() {
	services.Register("faulty", func(env services.Env) (handlers.Handler, error) {
		return handlers.HandlerFunc(handle), nil
	})
}

func handle(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
	if !m.IsText() || m.Text() == "" {
		return nil
	}
	word, rest, _ := strings.Cut(m.Text(), " ")
	switch word {
	case "slow":
		arg, _, _ := strings.Cut(rest, " ")
		ms, _ := strconv.Atoi(arg)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(ms) * time.Millisecond):
		}
	case "panic":
		panic("faulty: the handler panics, as asked")
	case "commitpanic":
		c.OnCommit(func(context.Context, *sql.Tx) error {
			panic("faulty: the commit code panics, as asked")
		})
	}
	c.Reply(Prefix + m.Text())
	return nil
}
