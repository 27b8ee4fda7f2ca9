package dispatcher_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/store/storetest"
)

// A handler that asks for its event again later (handlers.RetryAt) keeps
// the room waiting in order, has what it queued committed at once, and is
// never parked by max_attempts however many times it defers.
func TestRetryAtDefersWithoutParking(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			up, flaky := false, false
			var seen []string
			h := handlertest.New(t, handlers.HandlerFunc(func(ctx context.Context, c *handlers.Conversation, m *handlers.Message) error {
				seen = append(seen, m.Text())
				if !up {
					c.Notice("holding")
					return handlers.RetryAt(c.Now().Add(time.Hour), errors.New("backend down"))
				}
				if flaky {
					flaky = false
					return handlers.Temporary(errors.New("one ordinary failure"))
				}
				c.Reply("done: " + m.Text())
				return nil
			}), handlertest.Options{URI: storetest.URI(t, d)})
			if got := handlertest.Text(h.Say("first")); got != "holding" {
				t.Fatalf("first deferral: replies %q, want the handler's holding notice", got)
			}
			// The second message waits behind the first: not handled at all.
			if got := h.Say("second"); len(got) != 0 {
				t.Fatalf("a message behind a deferred one was handled: %q", handlertest.Bodies(got))
			}
			// Ten deferrals, twice dispatcher's max_attempts: never parked.
			for i := 0; i < 10; i++ {
				if got := handlertest.Text(h.Advance(59 * time.Minute)); got != "" {
					t.Fatalf("retried before its time: %q", got)
				}
				if got := handlertest.Text(h.Advance(time.Minute)); got != "holding" {
					t.Fatalf("deferral %d: replies %q", i, got)
				}
			}
			// Deferrals count no attempt: one ordinary failure afterwards is
			// retried, not parked as if it were the eleventh.
			up, flaky = true, true
			got := handlertest.Bodies(h.Advance(time.Hour))
			got = append(got, handlertest.Bodies(h.Advance(time.Minute))...)
			if len(got) != 2 || got[0] != "done: first" || got[1] != "done: second" {
				t.Fatalf("after recovery: %q, want both answers in order", got)
			}
			if n := len(h.History("message")); n != 2 {
				t.Fatalf("history has %d message entries, want 2 (one per message, not per attempt)", n)
			}
			want := 1 + 10 + 1 + 2 // first, ten retries, the failure, then first and second
			if len(seen) != want || seen[len(seen)-1] != "second" {
				t.Fatalf("handler saw %q", seen)
			}
		})
	}
}
