package handlers

import (
	"context"
	"regexp"
	"sort"
	"strings"

	"github.com/bizbots/bizbots/internal/understand"
)

// Router is a Handler that picks a handler by the message text: exact
// commands, prefixes, regular expressions, then a fallback. Matching is
// case-insensitive on trimmed text; a leading "!" or "/" is ignored, so
// "help", "!help" and "/help" are the same command, and so is politeness
// around it ("help please", "graag help"). Exact commands win
// over prefixes, longer prefixes over shorter ones, prefixes over
// regexps; regexps are tried in the order added.
type Router struct {
	exact    map[string]Handler
	prefixes []prefixRoute
	regexps  []regexRoute
	fallback Handler
	// NonText handles anything that is not typed text (reactions, media,
	// locations, timers) when set; otherwise those go to the fallback.
	NonText Handler
	// OnChoice, when set, handles every answer to an open question
	// (m.Choice != nil) before any command matching.
	OnChoice Handler
}

type prefixRoute struct {
	prefix string
	h      Handler
}

type regexRoute struct {
	re *regexp.Regexp
	h  Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{exact: map[string]Handler{}} }

// Command routes exact texts (any of names) to h.
func (r *Router) Command(h Handler, names ...string) *Router {
	for _, n := range names {
		r.exact[normalizeCommand(n)] = h
	}
	return r
}

// CommandFunc is Command with a function.
func (r *Router) CommandFunc(f HandlerFunc, names ...string) *Router { return r.Command(f, names...) }

// Prefix routes texts starting with prefix (as a whole word) to h. The
// handler sees the whole message; CommandArgs gives the rest.
func (r *Router) Prefix(prefix string, h Handler) *Router {
	r.prefixes = append(r.prefixes, prefixRoute{normalizeCommand(prefix), h})
	sort.SliceStable(r.prefixes, func(i, j int) bool { return len(r.prefixes[i].prefix) > len(r.prefixes[j].prefix) })
	return r
}

// Regexp routes texts matching re to h.
func (r *Router) Regexp(re *regexp.Regexp, h Handler) *Router {
	r.regexps = append(r.regexps, regexRoute{re, h})
	return r
}

// Fallback handles everything no route matched.
func (r *Router) Fallback(h Handler) *Router { r.fallback = h; return r }

// Handle dispatches m.
func (r *Router) Handle(ctx context.Context, c *Conversation, m *Message) error {
	if h := r.Match(m); h != nil {
		return h.Handle(ctx, c, m)
	}
	return nil
}

// Match returns the handler m would go to, or nil.
func (r *Router) Match(m *Message) Handler {
	if m.Choice != nil && r.OnChoice != nil {
		return r.OnChoice
	}
	if !m.IsText() {
		if r.NonText != nil {
			return r.NonText
		}
		return r.fallback
	}
	text := normalizeCommand(m.Text())
	if h, ok := r.exact[text]; ok {
		return h
	}
	// "same as last time please" is the command "same as last time".
	if h, ok := r.exact[normalizeCommand(understand.Polite(text))]; ok {
		return h
	}
	for _, p := range r.prefixes {
		if text == p.prefix || strings.HasPrefix(text, p.prefix+" ") {
			return p.h
		}
	}
	for _, rr := range r.regexps {
		if rr.re.MatchString(m.Text()) {
			return rr.h
		}
	}
	return r.fallback
}

// CommandArgs returns the words after the command word of a text
// ("add 2 margherita" → "2 margherita").
func CommandArgs(text string) string {
	t := strings.TrimSpace(text)
	_, rest, _ := strings.Cut(t, " ")
	return strings.TrimSpace(rest)
}

func normalizeCommand(s string) string {
	s = strings.TrimSpace(s)
	if t := strings.TrimLeft(s, "!/"); t != "" {
		s = t
	}
	// "help?" is "help", but a command that is only punctuation ("?")
	// stays itself rather than becoming the empty command.
	if t := strings.TrimRight(s, "?!. "); t != "" {
		s = t
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
