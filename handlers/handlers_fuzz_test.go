package handlers_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// FuzzQuestionMatch: any typed answer to a question maps to one of its
// options or to none, never panics, and an option's own number, key and
// label always match it.
func FuzzQuestionMatch(f *testing.F) {
	for _, s := range []string{"1", "#2", "2.", "3)", "Margherita", "marg", "yes", "1️⃣", "", " ", "0", "-1",
		"99999999999999999999", "pizza", "Pepperoni pizza", "no, thanks", "\x00", "２"} {
		f.Add(s)
	}
	q := &handlers.Question{Prompt: "Which one?", Options: []handlers.Option{
		handlers.Opt("marg", "Margherita"), handlers.Opt("pep", "Pepperoni pizza"), handlers.Opt("veg", "Veggie pizza"),
	}}
	f.Fuzz(func(t *testing.T, text string) {
		if o := q.Match(text); o != nil && !slices.ContainsFunc(q.Options, func(x handlers.Option) bool { return x.Key == o.Key && x.Label == o.Label }) {
			t.Fatalf("Match(%q) = %v, not one of the options", text, o)
		}
		if o := q.Match("2"); o == nil || o.Key != "pep" {
			t.Fatalf("Match(2) = %v", o)
		}
	})
}

// FuzzCommandArgs: the arguments of a command are a suffix of the text,
// trimmed, never longer than it.
func FuzzCommandArgs(f *testing.F) {
	for _, s := range []string{"add 2 margherita", "  !cancel   12 ", "help", "", "/claim\t3", "x\x00y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		args := handlers.CommandArgs(text)
		if len(args) > len(text) || !strings.Contains(text, args) || strings.TrimSpace(args) != args {
			t.Fatalf("CommandArgs(%q) = %q", text, args)
		}
	})
}

// safeTags are the tags Markdown makes from text; anything else in a
// formatted_body came from the customer's HTML.
var safeTags = map[string]bool{"p": true, "strong": true, "em": true, "code": true, "pre": true, "br": true,
	"a": true, "ul": true, "ol": true, "li": true, "blockquote": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "hr": true, "del": true, "span": true, "img": true, "table": true, "thead": true,
	"tbody": true, "tr": true, "th": true, "td": true}

// FuzzMarkdown: customer text put into a bot's Markdown reply the way the
// handler guide says (EscapeMarkdown) comes out with no tag but the
// template's; and even raw customer text as Markdown yields only tags
// Markdown itself makes, no event handlers and no script URLs.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"hello", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "**bold** _it_",
		"[x](javascript:alert(1))", "<a href=\"javascript:x\">x</a>", "`<b>`", "```\n<b>\n```", "> <i>q</i>",
		"![img](http://x/y.png)", "<!-- c -->", "&lt;b&gt;", "<<b>>", "[x](<javascript:a>)", "<details open ontoggle=x>",
		"\x00<b>", "|a|b|\n|-|-|\n|<b>|c|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		escaped := render(t, "Your note: **"+handlers.EscapeMarkdown(text)+"**")
		for _, tag := range tags(escaped) {
			if tag != "p" && tag != "strong" && tag != "br" {
				t.Fatalf("escaped customer text %q produced <%s> in %q", text, tag, escaped)
			}
		}
		raw := render(t, text)
		z := html.NewTokenizer(strings.NewReader(raw))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				return
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			name, hasAttr := z.TagName()
			if !safeTags[string(name)] {
				t.Fatalf("markdown %q produced <%s>: %q", text, name, raw)
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				key := string(k)
				if strings.HasPrefix(key, "on") || key == "style" {
					t.Fatalf("markdown %q produced attribute %s: %q", text, key, raw)
				}
				if (key == "href" || key == "src") && runsCode(string(v)) {
					t.Fatalf("markdown %q produced %s=%q: %q", text, key, v, raw)
				}
			}
		}
	})
}

// runsCode says whether a browser would run a URL: the schemes that do,
// after the tabs and newlines browsers drop and leading spaces and
// control characters.
func runsCode(u string) bool {
	u = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, u)
	u = strings.ToLower(strings.TrimLeft(u, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
	for _, img := range []string{"data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp"} {
		if strings.HasPrefix(u, img) {
			return false // pictures, not code
		}
	}
	for _, scheme := range []string{"javascript:", "vbscript:", "data:", "file:"} {
		if strings.HasPrefix(u, scheme) {
			return true
		}
	}
	return false
}

// render sends md through Conversation.Markdown and returns the
// formatted_body.
func render(t *testing.T, md string) string {
	c := handlers.NewConversation(id.UserID("@bot:example.org"), id.RoomID("!r:example.org"), handlers.Customer{}, "")
	c.Markdown(md)
	out := c.Outbox()
	if len(out) != 1 {
		t.Fatalf("Markdown queued %d events", len(out))
	}
	var content struct {
		FormattedBody string `json:"formatted_body"`
	}
	if err := json.Unmarshal(out[0].Content, &content); err != nil {
		t.Fatal(err)
	}
	return content.FormattedBody
}

func tags(s string) []string {
	var out []string
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			out = append(out, string(name))
		}
	}
}
