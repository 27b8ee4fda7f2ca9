package handlers

import (
	"context"
	"errors"
	"strings"
)

// Consent flags Subscriptions sets: ConsentBroadcasts is the opt-in to a
// business's broadcasts; consentMessages is the Send API's flag, which
// "stop" clears too.
const (
	ConsentBroadcasts = "broadcasts"
	consentMessages   = "messages"
)

var subscribeTexts = Texts{
	"en": {
		"subscribed":   `You're subscribed: we'll send you our news now and then. Say "stop" any time to end it.`,
		"unsubscribed": `OK, no more news from us. Say "subscribe" if you want it again.`,
		"not-sub":      `You're not subscribed to our news. Say "subscribe" if you want it.`,
	},
	"nl": {
		"subscribed":   `Je bent aangemeld: we sturen je af en toe ons nieuws. Zeg "stop" om het te beëindigen.`,
		"unsubscribed": `Goed, geen nieuws meer van ons. Zeg "aanmelden" als je het weer wilt.`,
		"not-sub":      `Je bent niet aangemeld voor ons nieuws. Zeg "aanmelden" als je het wilt.`,
	},
}

// Subscriptions is built into every bot by the framework: the customer
// opts in to the business's broadcasts with "subscribe" and out with
// "unsubscribe" or "stop". Broadcasts from the business console go only
// to customers who opted in and did not opt out since. "stop" from a
// customer who is not subscribed, or in the middle of something (a
// checkout: "stop" ends it), also reaches the bot.
func Subscriptions() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			if !m.IsText() || m.Choice != nil {
				return next.Handle(ctx, c, m)
			}
			say := func(key string) { c.Notice(subscribeTexts.In(c.Language(), key)) }
			switch strings.ToLower(strings.Trim(m.Text(), " .!")) {
			case "subscribe", "aanmelden":
				c.SetConsent(ConsentBroadcasts, true)
				c.SetConsent(consentMessages, true)
				say("subscribed")
				return nil
			case "unsubscribe", "afmelden":
				if !c.Customer.Consent[ConsentBroadcasts] {
					say("not-sub")
					return nil
				}
				c.SetConsent(ConsentBroadcasts, false)
				say("unsubscribed")
				return nil
			case "stop":
				if !c.Customer.Consent[ConsentBroadcasts] {
					return next.Handle(ctx, c, m)
				}
				optOut := func() {
					c.SetConsent(ConsentBroadcasts, false)
					c.SetConsent(consentMessages, false)
					say("unsubscribed")
				}
				optOut()
				if c.Step() == "" && c.Question() == nil {
					return nil
				}
				// The bot may refuse "stop" where it is (a question it wants
				// answered); the opt-out must hold all the same. The
				// framework drops a refused turn's changes, so this drops
				// them itself and keeps the opt-out and the refusal.
				err := next.Handle(ctx, c, m)
				var ue *UserError
				if errors.As(err, &ue) {
					c.Reset()
					optOut()
					c.Notice(ue.Text)
					return nil
				}
				return err
			}
			return next.Handle(ctx, c, m)
		})
	}
}
