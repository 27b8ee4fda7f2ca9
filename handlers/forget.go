package handlers

import (
	"context"
	"strings"

	"github.com/bizbots/bizbots/internal/understand"
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
					if w, ok := next.(ForgetWarner); ok {
						if err := w.Forgetting(ctx, c); err != nil {
							return err
						}
					}
					c.Forget()
					c.Clear()
					c.Notice(c.text(msgForgetDone))
				} else {
					c.Notice(c.text(msgForgetKept))
				}
				return nil
			}
			if m.IsText() && isForgetRequest(m.Text()) {
				prompt := c.text(msgForgetAsk)
				if w, ok := next.(ForgetWarner); ok {
					warning, err := w.ForgetWarning(ctx, c)
					if err != nil {
						return err
					}
					if warning != "" {
						prompt = warning + "\n\n" + prompt
					}
				}
				c.Ask(prompt, Opt(forgetYes, c.text(msgForgetYes)), Opt(forgetNo, c.text(msgForgetNo)))
				return nil
			}
			return next.Handle(ctx, c, m)
		})
	}
}

// ForgetWarner is implemented by services where erasing a customer
// affects business still open (a delivery order needs its address):
// ForgetWarning is shown before the "forget me" confirmation ("" when
// there is nothing to warn about), and Forgetting runs in the erasing
// turn, before the erasure, to tell staff.
type ForgetWarner interface {
	ForgetWarning(ctx context.Context, c *Conversation) (string, error)
	Forgetting(ctx context.Context, c *Conversation) error
}

func isForgetRequest(text string) bool {
	cmd, _ := understand.Command(text)
	return cmd == understand.Forget
}
