package backoffice

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bizbots/bizbots/handlers"
)

// EditableText is one of a service's texts its staff may rewrite.
type EditableText struct {
	Key, Label, Help string
}

// Texts is a service's texts (handlers.Texts, with the config's changes)
// of which staff may rewrite some in English from the console, under the
// setting keys "text.en.<key>". It is safe for concurrent use: a bot
// reads it on every message while the console changes it.
type Texts struct {
	base     handlers.Texts
	editable []EditableText

	mu  sync.RWMutex
	cur handlers.Texts
}

// NewTexts wraps base (the service's texts merged with the config's).
func NewTexts(base handlers.Texts, editable ...EditableText) *Texts {
	return &Texts{base: base, editable: editable, cur: base}
}

// Now are the texts to speak with now.
func (t *Texts) Now() handlers.Texts {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cur
}

// TextPrefix starts the setting keys of texts.
const TextPrefix = "text.en."

// Settings lists the editable texts under group, with their values now.
func (t *Texts) Settings(group string) []Setting {
	now := t.Now()
	out := make([]Setting, len(t.editable))
	for i, e := range t.editable {
		out[i] = Setting{Key: TextPrefix + e.Key, Group: group, Label: e.Label, Kind: Multiline, Help: e.Help,
			Value: now["en"][e.Key], Default: t.base["en"][e.Key]}
	}
	return out
}

// Check refuses rewrites of texts that are not editable, empty ones and
// ones that lose or reorder the original's placeholders (%s, %d). Keys
// without TextPrefix are not looked at.
func (t *Texts) Check(over map[string]string) FieldErrors {
	var errs FieldErrors
	for k, v := range over {
		key, ok := strings.CutPrefix(k, TextPrefix)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(t.editable, func(e EditableText) bool { return e.Key == key }) {
			errs = append(errs, FieldError{Key: k, Msg: "there is no such text"})
			continue
		}
		if err := checkText(t.base["en"][key], v); err != nil {
			errs = append(errs, FieldError{Key: k, Msg: err.Error()})
		}
	}
	return errs
}

// Apply takes the rewrites among over (checked with Check first).
func (t *Texts) Apply(over map[string]string) {
	en := map[string]string{}
	for k, v := range over {
		if key, ok := strings.CutPrefix(k, TextPrefix); ok {
			en[key] = v
		}
	}
	next := t.base.Merge(handlers.Texts{"en": en})
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur = next
}

var verbRe = regexp.MustCompile(`%[sdv%]`)

// maxTextRunes caps a rewritten text.
const maxTextRunes = 2000

// checkText checks a rewrite keeps the original's placeholders in order,
// so a customer never reads "%!s(MISSING)".
func checkText(def, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("the text is empty")
	}
	if n := utf8.RuneCountInString(v); n > maxTextRunes {
		return fmt.Errorf("the text is too long (%d characters; at most %d)", n, maxTextRunes)
	}
	want, got := verbRe.FindAllString(def, -1), verbRe.FindAllString(v, -1)
	if !slices.Equal(want, got) {
		return fmt.Errorf("the text must contain %s (in this order), as the original does; it has %s",
			orNone(strings.Join(want, " ")), orNone(strings.Join(got, " ")))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
