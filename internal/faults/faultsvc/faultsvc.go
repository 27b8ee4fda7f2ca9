// Package faultsvc is a test-only service, "faulty", for the fault suite:
// it echoes like the echo service, and a message's first word asks it to
// misbehave: "slow <ms>" sleeps that long first, "slowcommit <ms>" sleeps
// inside the turn's database transaction, "panic" panics in the handler,
// "commitpanic" panics in its OnCommit code. When the environment names a
// probe URL (EnvProbe), the slow ones call it as they start, so a test can
// kill the process at exactly that point. Only binaries built for tests
// import it (internal/faults/faultbin).
package faultsvc

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/services"
)

// Prefix starts every echo.
const Prefix = "You said: "

// EnvProbe names the environment variable holding the probe URL.
const EnvProbe = "BIZBOTS_FAULTY_PROBE"

// probe tells the test that point was reached (and may not return: the
// test may kill the process meanwhile).
func probe(ctx context.Context, point string) {
	u := os.Getenv(EnvProbe)
	if u == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"?point="+url.QueryEscape(point), nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func sleep(ctx context.Context, arg string) error {
	ms, _ := strconv.Atoi(arg)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	}
}

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
		probe(ctx, "handler")
		arg, _, _ := strings.Cut(rest, " ")
		if err := sleep(ctx, arg); err != nil {
			return err
		}
	case "slowcommit":
		arg, _, _ := strings.Cut(rest, " ")
		c.OnCommit(func(ctx context.Context, _ *sql.Tx) error {
			probe(ctx, "commit")
			return sleep(ctx, arg)
		})
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
