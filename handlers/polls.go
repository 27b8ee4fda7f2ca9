package handlers

import (
	"encoding/json"
	"strconv"

	"maunium.net/go/mautrix/event"
)

// Polls (MSC3381): a bot configured with `polls: true` asks its questions
// of 2 to MaxReactionOptions options as a poll, with the numbered text as
// the fallback body for clients without polls. A vote comes back as a
// poll response and is understood like a tap on the option's reaction:
// the same option, and "that question has moved on" for an old poll.

// The unstable types Element sends, and the stable ones of Matrix 1.7+.
var (
	EventPollStart        = event.Type{Type: "org.matrix.msc3381.poll.start", Class: event.MessageEventType}
	EventPollResponse     = event.Type{Type: "org.matrix.msc3381.poll.response", Class: event.MessageEventType}
	EventPollResponseV1_7 = event.Type{Type: "m.poll.response", Class: event.MessageEventType}
)

// IsPollResponse says whether t is a poll response, unstable or stable.
func IsPollResponse(t event.Type) bool {
	return t.Type == EventPollResponse.Type || t.Type == EventPollResponseV1_7.Type
}

// pollStart is the content of a question asked as a poll; answer ids are
// the options' numbers ("1", "2", …). fallback is the question as text.
func pollStart(prompt string, options []Option, fallback *event.MessageEventContent) map[string]any {
	answers := make([]map[string]any, len(options))
	for i, o := range options {
		answers[i] = map[string]any{"id": strconv.Itoa(i + 1), "org.matrix.msc1767.text": o.Label}
	}
	content := map[string]any{
		"org.matrix.msc3381.poll.start": map[string]any{
			"question":       map[string]any{"org.matrix.msc1767.text": prompt},
			"kind":           "org.matrix.msc3381.poll.disclosed",
			"max_selections": 1,
			"answers":        answers,
		},
		"org.matrix.msc1767.text": fallback.Body,
		"body":                    fallback.Body,
		"msgtype":                 fallback.MsgType,
		"format":                  fallback.Format,
		"formatted_body":          fallback.FormattedBody,
	}
	if fallback.RelatesTo != nil {
		content["m.relates_to"] = fallback.RelatesTo
	}
	return content
}

// pollVote reads a poll response: the poll it answers and the option
// number chosen, as the keycap of that option (so it resolves like a
// reaction). ok is false for a malformed or empty vote.
func pollVote(evt *event.Event) (poll string, keycap string, ok bool) {
	var c struct {
		RelatesTo struct {
			RelType string `json:"rel_type"`
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
		Unstable *struct {
			Answers []string `json:"answers"`
		} `json:"org.matrix.msc3381.poll.response"`
		Stable []string `json:"m.selections"`
	}
	if json.Unmarshal(evt.Content.VeryRaw, &c) != nil || c.RelatesTo.RelType != "m.reference" || c.RelatesTo.EventID == "" {
		return "", "", false
	}
	var answers []string
	switch {
	case c.Unstable != nil:
		answers = c.Unstable.Answers
	default:
		answers = c.Stable
	}
	if len(answers) != 1 {
		return "", "", false
	}
	n, err := strconv.Atoi(answers[0])
	if err != nil || Keycap(n) == "" {
		return "", "", false
	}
	return c.RelatesTo.EventID, Keycap(n), true
}
