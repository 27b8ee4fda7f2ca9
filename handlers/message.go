package handlers

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// MaxBodyRunes caps the text a handler sees: message bodies come from
// strangers, and nothing downstream needs more.
const MaxBodyRunes = 4000

// Kind says what the customer did.
type Kind string

// The kinds of Message.
const (
	// KindMessage is a message: text, notice, emote, image, file, location…
	KindMessage Kind = "message"
	// KindReaction is an m.reaction on one of the bot's messages.
	KindReaction Kind = "reaction"
	// KindRedaction is the customer deleting one of their events.
	KindRedaction Kind = "redaction"
	// KindTimer is a timer the handler set with Conversation.After firing.
	KindTimer Kind = "timer"
)

// Message is what the customer did, reduced to what a handler needs. Body
// is plain text, capped; the HTML formatted_body is never used.
type Message struct {
	Kind    Kind
	ID      id.EventID
	Sender  id.UserID
	Type    event.Type
	MsgType event.MessageType
	Body    string
	Time    time.Time

	// Edit is set when the customer edited an earlier message (m.replace):
	// Body is the new text and Replaces the edited event.
	Edit     bool
	Replaces id.EventID
	// InReplyTo is the event this message replies to, ThreadRoot the
	// thread it is in ("" when none). Replies go back into the thread.
	InReplyTo  id.EventID
	ThreadRoot id.EventID
	// Reaction is the emoji key of an m.reaction; RelatesTo the bot
	// message it reacts to.
	Reaction  string
	RelatesTo id.EventID
	// Redacts is the event the customer deleted (KindRedaction).
	Redacts id.EventID
	// Media is the mxc:// URI of an image, file, audio or video.
	Media id.ContentURIString
	// Location is set for m.location messages with a valid geo: URI.
	Location *Location
	// Choice is the option the customer picked, by number, by its words
	// or by reacting to the bot's question; nil when the message answers
	// no open question.
	Choice *Option
	// Stale is set by the framework for an answer to a question that is
	// no longer the open one (a reaction under an older question). The
	// framework answers it ("that question has moved on") and handlers
	// never see it.
	Stale bool
	// Timer is the name and payload of a fired timer (KindTimer).
	Timer *Timer

	// Event is the full event as received. Treat every field as untrusted.
	Event *event.Event
}

// Location is a point from a geo: URI.
type Location struct {
	Latitude, Longitude float64
	Description         string
}

// Timer is a fired timer.
type Timer struct {
	Name    string
	Payload string
}

// Text returns the body trimmed of surrounding white space.
func (m *Message) Text() string { return strings.TrimSpace(m.Body) }

// IsText says whether the message is typed text (m.text, m.notice, m.emote).
func (m *Message) IsText() bool {
	return m.Kind == KindMessage && (m.MsgType == event.MsgText || m.MsgType == event.MsgNotice || m.MsgType == event.MsgEmote)
}

// CapText trims s to at most n runes, cutting on a rune boundary.
func CapText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// ParseGeoURI reads "geo:lat,lon[;params]" (RFC 5870). It returns nil for
// anything else or for coordinates out of range.
func ParseGeoURI(uri string) *Location {
	rest, ok := strings.CutPrefix(strings.TrimSpace(uri), "geo:")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, ";")
	parts := strings.Split(rest, ",")
	if len(parts) < 2 {
		return nil
	}
	lat, err1 := strconv.ParseFloat(parts[0], 64)
	lon, err2 := strconv.ParseFloat(parts[1], 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil
	}
	return &Location{Latitude: lat, Longitude: lon}
}

// FromEvent builds a Message from a customer's event. ok is false for
// events a handler never sees (other kinds, malformed content).
func FromEvent(evt *event.Event) (m *Message, ok bool) {
	m = &Message{
		Kind:   KindMessage,
		ID:     evt.ID,
		Sender: evt.Sender,
		Type:   evt.Type,
		Time:   time.UnixMilli(evt.Timestamp),
		Event:  evt,
	}
	switch evt.Type {
	case event.EventMessage:
		c := evt.Content.AsMessage()
		if c.RelatesTo != nil && c.RelatesTo.Type == event.RelReplace && c.NewContent != nil {
			m.Edit = true
			m.Replaces = c.RelatesTo.EventID
			c = c.NewContent
		}
		m.MsgType = c.MsgType
		m.Body = CapText(c.Body, MaxBodyRunes)
		if rel := evt.Content.AsMessage().RelatesTo; rel != nil {
			if rel.Type == event.RelThread {
				m.ThreadRoot = rel.EventID
			}
			if rel.InReplyTo != nil {
				m.InReplyTo = rel.InReplyTo.EventID
			}
		}
		switch c.MsgType {
		case event.MsgImage, event.MsgFile, event.MsgAudio, event.MsgVideo:
			m.Media = c.URL
		case event.MsgLocation:
			m.Location = ParseGeoURI(c.GeoURI)
			if m.Location != nil {
				m.Location.Description = CapText(c.Body, 500)
			}
		}
		return m, true
	case event.EventSticker:
		c := evt.Content.AsMessage()
		m.MsgType = "m.sticker"
		m.Body = CapText(c.Body, MaxBodyRunes)
		return m, true
	case event.EventReaction:
		r := evt.Content.AsReaction()
		if r.RelatesTo.Type != event.RelAnnotation || r.RelatesTo.Key == "" {
			return nil, false
		}
		m.Kind = KindReaction
		m.Reaction = CapText(r.RelatesTo.Key, 64)
		m.RelatesTo = r.RelatesTo.EventID
		return m, true
	case EventPollResponse, EventPollResponseV1_7, event.Type{Type: EventPollResponseV1_7.Type}: // (unknown to mautrix: no class)
		poll, key, ok := pollVote(evt)
		if !ok {
			return nil, false
		}
		m.Kind = KindReaction // a vote answers like a tap on the option's reaction
		m.Reaction = key
		m.RelatesTo = id.EventID(poll)
		return m, true
	case event.EventRedaction:
		m.Kind = KindRedaction
		m.Redacts = evt.Redacts
		if m.Redacts == "" {
			m.Redacts = evt.Content.AsRedaction().Redacts
		}
		return m, m.Redacts != ""
	}
	return nil, false
}
