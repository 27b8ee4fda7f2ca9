package handlers

import (
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// MaxBodyRunes caps the text a handler sees: message bodies come from
// strangers, and nothing downstream needs more.
const MaxBodyRunes = 4000

// Message is the customer's event, reduced to what a handler needs. Body
// is plain text, capped; the HTML formatted_body is never used.
type Message struct {
	ID      id.EventID
	Sender  id.UserID
	Type    event.Type
	MsgType event.MessageType
	Body    string
	Time    time.Time
	// Event is the full event as received. Treat every field as untrusted.
	Event *event.Event
}

// Text returns the body trimmed of surrounding white space.
func (m *Message) Text() string { return strings.TrimSpace(m.Body) }

// CapText trims s to at most n runes, cutting on a rune boundary.
func CapText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
