package handlers

import (
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/renderer/html"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/format/mdext"
)

// markdown renders Conversation.Markdown. It is mautrix's renderer without
// html.WithUnsafe: raw HTML is escaped (mdext.EscapeHTML) as there, and
// goldmark also empties the URL of a link or image that would run code
// (javascript:, vbscript:, file:, data: other than images), which
// mautrix's renderer keeps: "[x](javascript:…)" in a template filled with
// customer text must not become a live link.
var markdown = goldmark.New(format.Extensions,
	goldmark.WithRendererOptions(html.WithHardWraps()),
	goldmark.WithExtensions(mdext.EscapeHTML))
