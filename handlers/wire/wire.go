// Package wire is the JSON shape of a bot's message where it crosses HTTP:
// the replies a business's webhook server answers with and the message a
// business posts to the Send API. Check validates one from a stranger;
// Queue puts it on a conversation like a Go handler's reply.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
	// Image makes the message an image (m.image); Text is its caption.
	Image *Media `json:"image,omitempty"`
	// File makes the message a file (m.file); Text is its caption.
	File *Media `json:"file,omitempty"`
}

// Media is an image or a file: by URL (http(s):// — bizbots downloads it
// and puts it into the homeserver's repository — or mxc:// already
// there). In JSON also a plain string, the URL.
type Media struct {
	URL string `json:"url"`
	// Alt describes an image for who cannot see it.
	Alt string `json:"alt,omitempty"`
	// Name is the file name shown.
	Name string `json:"name,omitempty"`
	// Uploaded is set once the media is in the homeserver's repository.
	Uploaded *Uploaded `json:"-"`
}

// UnmarshalJSON takes an object or a URL string.
func (m *Media) UnmarshalJSON(b []byte) error {
	var u string
	if json.Unmarshal(b, &u) == nil {
		*m = Media{URL: u}
		return nil
	}
	type plain Media
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*m = Media(p)
	return nil
}

// Uploaded is media in the homeserver's repository and what is known of it.
type Uploaded struct {
	MXC           id.ContentURIString
	MimeType      string
	Size          int64
	Width, Height int
}

// Resolver puts a reply's media given by http(s) URL into the
// homeserver's repository (media.Resolver).
type Resolver interface {
	Resolve(ctx context.Context, bot id.UserID, r *Reply) error
}

// HasMedia says whether r carries an image or a file.
func (r Reply) HasMedia() bool { return r.Image != nil || r.File != nil }

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
	med, field := r.Image, "image"
	if r.File != nil {
		med, field = r.File, "file"
	}
	switch {
	case strings.TrimSpace(r.Text) == "" && med == nil:
		return fmt.Errorf("%s: text is required", prefix)
	case r.Image != nil && r.File != nil:
		return fmt.Errorf("%s: an image or a file, not both; send two messages", prefix)
	case med != nil && !mediaURL(med.URL):
		return fmt.Errorf("%s.%s.url must be an https:// (or http://) URL or an mxc:// URI", prefix, field)
	case med != nil && len(r.Choices) > 0:
		return fmt.Errorf("%s: an %s cannot carry choices; send the question as its own message", prefix, field)
	case med != nil && (len([]rune(med.Alt)) > maxKeyRunes || len([]rune(med.Name)) > maxKeyRunes):
		return fmt.Errorf("%s.%s: alt and name are at most %d characters", prefix, field, maxKeyRunes)
	case len([]rune(r.Text)) > handlers.MaxBodyRunes:
		return fmt.Errorf("%s: text is longer than %d characters", prefix, handlers.MaxBodyRunes)
	case len(r.Choices) > MaxChoices:
		return fmt.Errorf("%s: %d choices; at most %d", prefix, len(r.Choices), MaxChoices)
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

func mediaURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	return p.Scheme == "https" || p.Scheme == "http" || p.Scheme == "mxc"
}

// Queue puts r on the conversation as the bot's message. Media given by
// http(s) URL must have been resolved first (it is left out otherwise).
func Queue(c *handlers.Conversation, r Reply) {
	switch {
	case r.Image != nil:
		if content := mediaContent(event.MsgImage, r.Image, r.Text, "image"); content != nil {
			c.Send(content)
		}
	case r.File != nil:
		if content := mediaContent(event.MsgFile, r.File, r.Text, "file"); content != nil {
			c.Send(content)
		}
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

// mediaContent is an m.image or m.file message. The body is the caption,
// else the alt text or name; the file name goes in filename (a caption
// per the spec when the two differ).
func mediaContent(typ event.MessageType, m *Media, caption, fallback string) *event.MessageEventContent {
	uri := id.ContentURIString(m.URL)
	if m.Uploaded != nil {
		uri = m.Uploaded.MXC
	} else if !strings.HasPrefix(m.URL, "mxc://") {
		return nil
	}
	name := m.Name
	body := caption
	if body == "" {
		body = m.Alt
	}
	if body == "" {
		body = name
	}
	if body == "" {
		body = fallback
	}
	content := &event.MessageEventContent{MsgType: typ, Body: body, URL: uri}
	if name != "" && name != body {
		content.FileName = name
	}
	if u := m.Uploaded; u != nil {
		content.Info = &event.FileInfo{MimeType: u.MimeType, Size: int(u.Size), Width: u.Width, Height: u.Height}
	}
	return content
}
