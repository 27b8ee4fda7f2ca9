package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/bizbots/bizbots/internal/understand"
)

// Understanding what customers type. Every bot gets this from the
// framework: a typed answer is matched to the open question's options by
// number ("2", "two", "twee", "the second one", 2️⃣), by label or synonym
// with typos forgiven ("meduim" → Medium), and by yes or no in their
// everyday forms ("yep", "no wait", "ja graag", 👍) when the question is a
// yes/no question. A reaction answers only the question it was put under,
// and only while that question is open. The words themselves live in
// internal/understand.

// YesNo reads the message as an answer to a yes/no question ("yes
// please", "yep", "ok", "nope", "not yet", "ja", "nee", 👍): ok is false
// when it is neither.
func (m *Message) YesNo() (yes, ok bool) {
	if !m.IsText() {
		return false, false
	}
	return understand.YesNo(m.Body)
}

// Number reads the whole message as a number: "2", "#2", "two",
// "second", "twee", 2️⃣. ok is false for anything else ("2 pizzas").
func (m *Message) Number() (n int, ok bool) {
	if !m.IsText() {
		return 0, false
	}
	n, ok = understand.Number(m.Body)
	return n, ok && n >= 0
}

// The commands every bot understands, whatever step it is in (Message.Command).
const (
	CommandHelp     = understand.Help
	CommandMenu     = understand.Menu
	CommandCancel   = understand.Cancel
	CommandStop     = understand.Stop
	CommandForget   = understand.Forget
	CommandLanguage = understand.Language
)

// Command is the command the whole message is, in any supported language
// and with politeness ignored ("cancel please", "hulp", "/help"), or "".
// A free-text step (a note, an address) should take the text as its
// answer unless Command is set.
func (m *Message) Command() string {
	if !m.IsText() {
		return ""
	}
	c, _ := understand.Command(m.Body)
	return c
}

// Match finds the option a typed answer means: its number or number word,
// its key, label or a synonym (typos forgiven in proportion to the
// word's length, accents and case ignored), a yes or no when the question
// has one yes and one no option, or the one option whose words are the
// answer's words. It returns nil when the answer is none of them or could
// be more than one.
func (q *Question) Match(text string) *Option {
	if q == nil || len(q.Options) == 0 {
		return nil
	}
	if n, ok := understand.Number(text); ok {
		if n == -1 {
			n = len(q.Options)
		}
		if n >= 1 && n <= len(q.Options) {
			return &q.Options[n-1]
		}
		return nil
	}
	f := understand.Fold(text)
	if f == "" {
		return nil
	}
	for i, o := range q.Options {
		if f == understand.Fold(o.Label) || strings.EqualFold(strings.TrimSpace(text), o.Key) {
			return &q.Options[i]
		}
		for _, s := range o.Synonyms {
			if f == understand.Fold(s) {
				return &q.Options[i]
			}
		}
	}
	if yes, ok := understand.YesNo(text); ok {
		if o := q.yesNoOption(yes); o != nil {
			return o
		}
	}
	if o := q.phrase(f); o != nil {
		return o
	}
	return q.words(understand.Meaningful(strings.Fields(f)))
}

// yesNoOption is the question's yes (or no) option when it has exactly
// one yes and one no option.
func (q *Question) yesNoOption(yes bool) *Option {
	yi, ni := -1, -1
	for i, o := range q.Options {
		y, ok := understand.YesNo(o.Label)
		k := strings.ToLower(o.Key)
		switch {
		case k == "yes" || strings.HasSuffix(k, ":yes") || ok && y:
			if yi >= 0 {
				return nil
			}
			yi = i
		case k == "no" || strings.HasSuffix(k, ":no") || ok && !y:
			if ni >= 0 {
				return nil
			}
			ni = i
		}
	}
	if yi < 0 || ni < 0 {
		return nil
	}
	if yes {
		return &q.Options[yi]
	}
	return &q.Options[ni]
}

// phrase is the one option with a synonym found in the answer as whole
// words ("I'll pick it up myself" has "pick it up"); the longest wins.
func (q *Question) phrase(folded string) *Option {
	padded := " " + folded + " "
	best, bestLen, tie := -1, 0, false
	for i, o := range q.Options {
		for _, s := range o.Synonyms {
			p := understand.Fold(s)
			if p == "" || !strings.Contains(padded, " "+p+" ") {
				continue
			}
			switch {
			case len(p) > bestLen:
				best, bestLen, tie = i, len(p), false
			case len(p) == bestLen && best != i:
				tie = true
			}
		}
	}
	if best < 0 || tie {
		return nil
	}
	return &q.Options[best]
}

// words is the one option that has every word of the answer among its
// label's and synonyms' words, typos forgiven ("the large one" → "Large
// 35 cm", "meduim please" → "Medium").
func (q *Question) words(ws []string) *Option {
	if len(ws) == 0 {
		return nil
	}
	found := -1
	for i, o := range q.Options {
		vocab := optionWords(o)
		all := true
		for _, w := range ws {
			all = all && hasClose(vocab, w)
		}
		if !all {
			continue
		}
		if found >= 0 {
			return nil // ambiguous
		}
		found = i
	}
	if found < 0 {
		return nil
	}
	return &q.Options[found]
}

func optionWords(o Option) []string {
	ws := understand.Words(o.Label)
	for _, s := range o.Synonyms {
		ws = append(ws, understand.Words(s)...)
	}
	return ws
}

// hasClose says whether w is one of vocab, typos forgiven, or the
// beginning (three letters or more) of one ("med" for "medium").
func hasClose(vocab []string, w string) bool {
	for _, v := range vocab {
		if understand.Close(w, v) || len([]rune(w)) >= 3 && strings.HasPrefix(v, w) {
			return true
		}
	}
	return false
}

// Suggest lists up to three options the answer may have meant (for "did
// you mean …?"): those with a word a few typos or a shared beginning
// away from one of the answer's words.
func (q *Question) Suggest(text string) []Option {
	if q == nil {
		return nil
	}
	ws := understand.Meaningful(understand.Words(text))
	var out []Option
	for _, o := range q.Options {
		if len(out) == 3 {
			break
		}
		if nearAny(optionWords(o), ws) {
			out = append(out, o)
		}
	}
	return out
}

func nearAny(vocab, ws []string) bool {
	for _, w := range ws {
		rw := []rune(w)
		for _, v := range vocab {
			rv := []rune(v)
			if len(rw) >= 3 && len(rv) >= 3 && string(rw[:3]) == string(rv[:3]) {
				return true
			}
			if understand.Distance(w, v) <= understand.MaxEdits(max(len(rw), len(rv)))+1 && len(rw) >= 4 {
				return true
			}
		}
	}
	return false
}

// React resolves a reaction on one of the bot's messages whose kept meta
// is meta. A keycap answers that message's question only while it is the
// open question q; on any other question the answer is stale (the
// framework then says the question has moved on and does nothing else).
// A 👍 or 👎 under the open question is a yes or no. Framework use.
func (q *Question) React(meta []byte, key string) (choice *Option, stale bool) {
	var asked questionMeta
	if len(meta) == 0 || json.Unmarshal(meta, &asked) != nil || len(asked.Options) == 0 {
		return nil, false
	}
	open := q != nil && q.ID != "" && q.ID == asked.ID
	if o := OptionForReaction(asked.Options, key); o != nil {
		if !open {
			return nil, true
		}
		return OptionForReaction(q.Options, key), false
	}
	if open {
		if yes, ok := understand.YesNo(key); ok {
			return q.yesNoOption(yes), false
		}
	}
	return nil, false
}

func newQuestionID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RepeatQuestion answers a message that did not answer the open question:
// it says so, offers the closest options ("did you mean …?") and asks
// the question again with its choices. It reports false, doing nothing,
// when no question is open. With m nil it only asks again (the handler
// said what was wrong itself). The framework calls it for a handler that
// stays silent; a handler may call it itself before its own fallback.
func (c *Conversation) RepeatQuestion(m *Message) bool {
	q := c.question
	if q == nil {
		return false
	}
	if m == nil {
		c.ask(q)
		return true
	}
	text := c.text(msgNotUnderstood)
	if m.IsText() && m.Text() != "" {
		text = c.textf(msgNotUnderstoodQuoted, CapText(m.Text(), 40))
		if near := q.Suggest(m.Text()); len(near) > 0 {
			labels := make([]string, len(near))
			for i, o := range near {
				labels[i] = o.Label
			}
			text += " " + c.textf(msgDidYouMean, orList(labels, c.text(msgOr)))
		}
	}
	c.Notice(text)
	c.ask(q)
	return true
}

func orList(items []string, or string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + or + " " + items[len(items)-1]
}

// Understand is built into every bot by the framework. It refuses stale
// answers (a reaction under a question that has moved on: "that question
// has moved on; here is where we are"), never passing them on; keeps the
// customer's language when they write in one the bot speaks; and asks
// the open question again when the handler did nothing with a typed
// message while a question was open.
func Understand() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, c *Conversation, m *Message) error {
			if m.Stale {
				if c.question != nil {
					c.Notice(c.text(msgMovedOnHere))
					c.ask(c.question)
				} else {
					c.Notice(c.text(msgMovedOn))
				}
				return nil
			}
			c.detectLanguage(m)
			if c.languageCommand(m) {
				return nil
			}
			open, sent := c.question, len(c.replies)
			if err := next.Handle(ctx, c, m); err != nil {
				return err
			}
			if open != nil && m.IsText() && m.Choice == nil && len(c.replies) == sent && c.question == open {
				c.RepeatQuestion(m)
			}
			return nil
		})
	}
}
