package appointments

import (
	"slices"
	"strings"

	"github.com/bizbots/bizbots/handlers/backoffice"
)

// What staff may change in the business console (backoffice.Settings):
// the opening hours per weekday and the greeting. The config stays the
// default; the shop is rebuilt with the changes and swapped in whole, so
// a customer's next message sees the new hours.

var _ backoffice.Settings = (*Bot)(nil)

var weekdayKeys = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

var dayLabels = map[string]string{"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
	"fri": "Friday", "sat": "Saturday", "sun": "Sunday"}

// Settings implements backoffice.Settings.
func (b *Bot) Settings() []backoffice.Setting {
	cur := b.hoursWith(nil)
	var out []backoffice.Setting
	for _, d := range weekdayKeys {
		out = append(out, backoffice.Setting{Key: "hours." + d, Group: "Opening hours (" + b.cfg.TimeZone + ")", Label: dayLabels[d],
			Kind: backoffice.Text, Value: cur[d], Default: b.cfg.Hours[d],
			Help: `"09:00-18:00", several periods with commas, or "closed".`})
	}
	return append(out, b.texts.Settings("Welcome texts")...)
}

// hoursWith is the opening hours with the shop's current changes, or with
// over's when over is not nil.
func (b *Bot) hoursWith(over map[string]string) map[string]string {
	h := map[string]string{}
	for k, v := range b.cfg.Hours {
		h[strings.ToLower(k)[:3]] = v
	}
	if over == nil {
		return b.shop().hoursText
	}
	for k, v := range over {
		if d, ok := strings.CutPrefix(k, "hours."); ok {
			if strings.TrimSpace(v) == "" {
				v = "closed"
			}
			h[d] = v
		}
	}
	return h
}

// ApplySettings implements backoffice.Settings.
func (b *Bot) ApplySettings(over map[string]string) error {
	errs := b.texts.Check(over)
	for k := range over {
		d, hours := strings.CutPrefix(k, "hours.")
		switch {
		case strings.HasPrefix(k, backoffice.TextPrefix):
		case hours && slices.Contains(weekdayKeys, d):
			one := b.cfg
			one.Hours = map[string]string{d: over[k]}
			if _, err := newShop(one); err != nil {
				errs = append(errs, backoffice.FieldError{Key: k, Msg: strings.TrimPrefix(err.Error(), "hours."+d+": ")})
			}
		default:
			errs = append(errs, backoffice.FieldError{Key: k, Msg: "there is no such setting"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	cfg := b.cfg
	cfg.Hours = b.hoursWith(over)
	s, err := newShop(cfg)
	if err != nil {
		return backoffice.FieldErrors{{Msg: err.Error()}}
	}
	b.texts.Apply(over)
	b.now.Store(s)
	return nil
}
