package handlers

import (
	"context"
	"strings"
)

// Keys of the confirmation question ForgetMe asks.
const (
	forgetYes = "bizbots:forget:yes"
	forgetNo  = "bizbots:forget:no"
)

// ForgetMe is built into every bot by the framework: "forget me" asks for
// a confirmation, and "yes" (typed, by number or by reaction) erases
// everything this business knows about the customer when the turn
// commits. Other messages pass through.
func ForgetMe() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			if m.Choice != nil && strings.HasPrefix(m.Choice.Key, "bizbots:forget:") {
				if m.Choice.Key == forgetYes {
					c.Forget()
					c.Clear()
					c.Notice("Done: I have erased everything I knew about you — your details, your history and our open conversations. If you write again, I'll treat you as a new customer.")
				} else {
					c.Notice("OK, I erased nothing.")
				}
				return nil
			}
			if m.IsText() && isForgetRequest(m.Text()) {
				c.Ask("This erases everything I know about you: your details, your history with us and any open conversation. Are you sure?",
					Opt(forgetYes, "Yes, forget me"), Opt(forgetNo, "No, keep my data"))
				return nil
			}
			return next.Handle(ctx, c, m)
		})
	}
}

func isForgetRequest(text string) bool {
	switch normalizeCommand(text) {
	case "forget me", "forget about me", "delete my data", "erase my data", "forgetme":
		return true
	}
	return false
}
