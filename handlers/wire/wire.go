// Package wire is the JSON shape of a bot's message where it crosses HTTP:
// the replies a business's webhook server answers with and the message a
// business posts to the Send API. Check validates one from a stranger;
// Queue puts it on a conversation like a Go handler's reply.
package wire

import (
	"fmt"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// Reply is one message from the bot.
type Reply struct {
	Text string `json:"text"`
	// Markdown renders Text as Markdown (raw HTML in it is escaped).
	Markdown bool `json:"markdown,omitempty"`
	// Choices make the message a question; the customer's pick comes
	// back as a "choice" event with the option's key.
	Choices []Choice `json:"choices,omitempty"`
	// Image is an mxc:// URI already in the homeserver's media repository;
	// Text is its caption.
	Image string `json:"image,omitempty"`
}

// Choice is one option of a question.
type Choice struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// Limits on what a stranger may send.
const (
	MaxChoices  = 20
	maxKeyRunes = 200
)

// Check says what is wrong with r, naming the field; prefix names r
// ("replies[0]").
func Check(prefix string, r Reply) error {
	switch {
	case strings.TrimSpace(r.Text) == "" && r.Image == "":
		return fmt.Errorf("%s: text is required", prefix)
	case len([]rune(r.Text)) > handlers.MaxBodyRunes:
		return fmt.Errorf("%s: text is longer than %d characters", prefix, handlers.MaxBodyRunes)
	case len(r.Choices) > MaxChoices:
		return fmt.Errorf("%s: %d choices; at most %d", prefix, len(r.Choices), MaxChoices)
	case r.Image != "" && !strings.HasPrefix(r.Image, "mxc://"):
		return fmt.Errorf("%s: image must be an mxc:// URI (upload it to the homeserver first)", prefix)
	case r.Image != "" && len(r.Choices) > 0:
		return fmt.Errorf("%s: an image cannot carry choices; send the question as its own message", prefix)
	}
	for i, c := range r.Choices {
		if strings.TrimSpace(c.Key) == "" || strings.TrimSpace(c.Label) == "" {
			return fmt.Errorf("%s.choices[%d]: key and label are required", prefix, i)
		}
		if len([]rune(c.Key)) > maxKeyRunes || len([]rune(c.Label)) > maxKeyRunes {
			return fmt.Errorf("%s.choices[%d]: key and label are at most %d characters", prefix, i, maxKeyRunes)
		}
	}
	return nil
}

// Queue puts r on the conversation as the bot's message.
func Queue(c *handlers.Conversation, r Reply) {
	switch {
	case r.Image != "":
		c.Image(id.ContentURIString(r.Image), r.Text)
	case len(r.Choices) > 0:
		opts := make([]handlers.Option, len(r.Choices))
		for i, ch := range r.Choices {
			opts[i] = handlers.Opt(ch.Key, ch.Label)
		}
		c.Ask(r.Text, opts...)
	case r.Markdown:
		c.Markdown(r.Text)
	default:
		c.Send(&event.MessageEventContent{MsgType: event.MsgText, Body: r.Text})
	}
}
