package handlers

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"maunium.net/go/mautrix/event"
)

// Option is one answer to a question the bot asks.
type Option struct {
	// Key is what the handler matches on; stable, never shown.
	Key string `json:"key"`
	// Label is what the customer sees (and may type).
	Label string `json:"label"`
	// Synonyms are other words the customer may type for this option
	// ("coke" for Cola, "pick it up" for Pickup), in any language.
	Synonyms []string `json:"synonyms,omitempty"`
}

// Opt makes an Option; synonyms are other words that mean it.
func Opt(key, label string, synonyms ...string) Option {
	return Option{Key: key, Label: label, Synonyms: synonyms}
}

// MaxReactionOptions is how many options get a reaction button (1️⃣…🔟);
// further options can only be typed.
const MaxReactionOptions = 10

var keycaps = []string{"1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟"}

// Keycap is the reaction emoji of option number n (1-based), or "".
func Keycap(n int) string {
	if n < 1 || n > len(keycaps) {
		return ""
	}
	return keycaps[n-1]
}

// questionMeta is kept with the question's sent message, so a reaction to
// it maps back to an option even after newer questions.
type questionMeta struct {
	ID      string   `json:"id,omitempty"`
	Options []Option `json:"options"`
}

// Ask sends a question with numbered options. The customer answers by
// typing the number or the option's words, or by clicking the reaction
// the bot adds under its message; the next Message carries the answer in
// Choice. Labels are escaped in the HTML.
func (c *Conversation) Ask(prompt string, options ...Option) {
	c.ask(&Question{ID: newQuestionID(), Prompt: prompt, Options: options})
}

// ask sends q: its id goes with the message, so a reaction to it is
// known to answer this question and no other.
func (c *Conversation) ask(q *Question) {
	prompt, options := q.Prompt, q.Options
	var plain, rich strings.Builder
	plain.WriteString(prompt)
	rich.WriteString(html.EscapeString(prompt))
	rich.WriteString("<ol>")
	for i, o := range options {
		fmt.Fprintf(&plain, "\n%d. %s", i+1, o.Label)
		fmt.Fprintf(&rich, "<li>%s</li>", html.EscapeString(o.Label))
	}
	rich.WriteString("</ol>")
	poll := c.polls && len(options) >= 2 && len(options) <= MaxReactionOptions
	hint := c.text(msgReplyNumber)
	if !poll && len(options) > 0 && len(options) <= MaxReactionOptions {
		hint = c.text(msgReplyNumberOrReaction)
	}
	plain.WriteString("\n" + hint + ".")
	rich.WriteString("<em>" + hint + ".</em>")
	content := &event.MessageEventContent{
		MsgType: event.MsgText, Body: plain.String(),
		Format: event.FormatHTML, FormattedBody: rich.String(),
	}
	if c.thread != "" {
		content.RelatesTo = (&event.RelatesTo{}).SetThread(c.thread, c.thread)
	}
	meta, _ := json.Marshal(questionMeta{ID: q.ID, Options: options})
	if poll {
		c.push(Outgoing{Type: EventPollStart, Content: mustJSON(pollStart(prompt, options, content)), Parent: -1, Meta: meta})
		c.question = q
		c.questionDirty = true
		return
	}
	idx := c.push(Outgoing{Type: event.EventMessage, Content: mustJSON(content), Parent: -1, Meta: meta})
	for i := range options {
		if i >= MaxReactionOptions {
			break
		}
		c.push(Outgoing{Type: event.EventReaction, Parent: idx, Content: mustJSON(map[string]any{
			"m.relates_to": map[string]string{"rel_type": "m.annotation", "key": keycaps[i]},
		})})
	}
	c.question = q
	c.questionDirty = true
}

// Question returns the open question, or nil.
func (c *Conversation) Question() *Question { return c.question }

// Answered clears the open question (the framework calls it when a
// message answers it).
func (c *Conversation) Answered() {
	c.question, c.questionDirty = nil, true
}

// OptionForReaction maps a keycap reaction to its option, or nil.
func OptionForReaction(options []Option, key string) *Option {
	// Clients differ on the variation selector; compare without it.
	norm := strings.ReplaceAll(key, "\ufe0f", "")
	for i, k := range keycaps {
		if i < len(options) && strings.ReplaceAll(k, "\ufe0f", "") == norm {
			return &options[i]
		}
	}
	return nil
}

// QuestionOptions reads the options kept with a question's message.
func QuestionOptions(meta []byte) []Option {
	var m questionMeta
	if len(meta) == 0 || json.Unmarshal(meta, &m) != nil {
		return nil
	}
	return m.Options
}
