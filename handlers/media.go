package handlers

import (
	"context"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// File is a file a bot sends (a menu item's photo): its bytes, its name
// and its MIME type ("image/png").
type File struct {
	Data        []byte
	Name        string
	ContentType string
}

// Media is the homeserver's media repository as a service uses it. A
// service gets one in services.Env; it is nil where there is no
// homeserver (`bizbots chat`), and a service then sends text only.
//
// Upload in the handler, before the turn commits: the reply then carries
// the mxc:// URI and goes through the outbox like any other.
type Media interface {
	// Upload stores f as bot and returns its mxc:// URI. The same bytes
	// are uploaded once: later calls, in any process and after restarts,
	// return the first upload's URI.
	Upload(ctx context.Context, bot id.UserID, f File) (id.ContentURIString, error)
}

// Picture is an uploaded image as a message shows it.
type Picture struct {
	URI id.ContentURIString
	// Caption is the text shown under the image, and all a client that
	// shows no images shows ("Margherita · €9.50").
	Caption string
	// FileName names the file ("margherita.png").
	FileName    string
	ContentType string
	// Size in bytes, Width and Height in pixels (0 when unknown): clients
	// reserve the space before the image loads.
	Size, Width, Height int
}

// Picture sends an uploaded image as m.image, with its caption as the
// body (Matrix 1.10 captions: body and filename differ).
func (c *Conversation) Picture(p Picture) {
	content := &event.MessageEventContent{MsgType: event.MsgImage, Body: p.Caption, FileName: p.FileName, URL: p.URI,
		Info: &event.FileInfo{MimeType: p.ContentType, Size: p.Size, Width: p.Width, Height: p.Height}}
	if content.Body == "" {
		content.Body = p.FileName
	}
	c.Send(content)
}
