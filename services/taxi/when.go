package taxi

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bizbots/bizbots/handlers"
)

var (
	inRe = regexp.MustCompile(`^in\s+(\d{1,4}|an?|half an?)\s*(m|min|mins|minute|minutes|h|hr|hrs|hour|hours)?$`)
	atRe = regexp.MustCompile(`^(?:(today|tonight|tomorrow)\s+)?(at\s+)?(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?(?:\s+(today|tonight|tomorrow))?$`)
)

// parseWhen reads when the customer wants the taxi: "now", "in 20 min",
// "in an hour", "at 18:30", "6pm", "tomorrow at 9". Clock times are in
// the bot's zone; errors are in lang. A time that has passed today is an
// error, not silently tomorrow.
func (b *Bot) parseWhen(lang, text string, now time.Time) (time.Time, error) {
	loc, maxAdvance := b.loc, b.cfg.MaxAdvance.D()
	t := normalizeWhen(text)
	t = strings.TrimPrefix(t, "pick me up ")
	switch t {
	case "now", "asap", "right now", "immediately", "now please", "as soon as possible":
		return now, nil
	case "":
		return time.Time{}, handlers.Errorf("%s", b.trl(lang, "when-please"))
	}
	if m := inRe.FindStringSubmatch(t); m != nil {
		var d time.Duration
		unit := time.Minute
		if strings.HasPrefix(m[2], "h") {
			unit = time.Hour
		}
		switch {
		case strings.HasPrefix(m[1], "half"):
			d = 30 * time.Minute
			if m[2] != "" && unit != time.Hour {
				return time.Time{}, b.notATime(lang, text)
			}
		case m[1] == "a" || m[1] == "an":
			if m[2] == "" {
				return time.Time{}, b.notATime(lang, text)
			}
			d = unit
		default:
			n, _ := strconv.Atoi(m[1])
			d = time.Duration(n) * unit
		}
		if d > maxAdvance {
			return time.Time{}, b.tooFar(lang)
		}
		return now.Add(d), nil
	}
	m := atRe.FindStringSubmatch(t)
	if m == nil || (m[2] == "" && m[4] == "" && m[5] == "" && m[1] == "" && m[6] == "") {
		// A bare number ("18") is more likely a mistyped menu choice.
		return time.Time{}, b.notATime(lang, text)
	}
	day := m[1]
	if day == "" {
		day = m[6]
	} else if m[6] != "" {
		return time.Time{}, b.notATime(lang, text)
	}
	hour, _ := strconv.Atoi(m[3])
	minute := 0
	if m[4] != "" {
		minute, _ = strconv.Atoi(m[4])
	}
	switch m[5] {
	case "am", "pm":
		if hour < 1 || hour > 12 {
			return time.Time{}, b.notATime(lang, text)
		}
		hour %= 12
		if m[5] == "pm" {
			hour += 12
		}
	}
	if hour > 23 || minute > 59 {
		return time.Time{}, b.notATime(lang, text)
	}
	local := now.In(loc)
	at := time.Date(local.Year(), local.Month(), local.Day(), hour, minute, 0, 0, loc)
	if day == "tomorrow" {
		at = time.Date(local.Year(), local.Month(), local.Day()+1, hour, minute, 0, 0, loc)
	}
	if at.Before(now) {
		if now.Sub(at) < time.Minute {
			return now, nil // "at 12:00" said at 12:00:40
		}
		return time.Time{}, handlers.Errorf("%s", b.trl(lang, "time-gone", at.Format("15:04"), local.Format("15:04")))
	}
	if at.Sub(now) > maxAdvance {
		return time.Time{}, b.tooFar(lang)
	}
	return at, nil
}

// errNotATime marks text that is no time at all (not one out of range).
var errNotATime = errors.New("not a time")

func (b *Bot) notATime(lang, text string) error {
	return &handlers.UserError{Text: b.trl(lang, "not-a-time", handlers.CapText(text, 40)), Err: errNotATime}
}

func (b *Bot) tooFar(lang string) error {
	return handlers.Errorf("%s", b.trl(lang, "too-far", b.human(lang, b.cfg.MaxAdvance.D())))
}

// human shows a whole duration: "48 hours", "20 minutes".
func (b *Bot) human(lang string, d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return b.count(lang, int64(d/time.Hour), "hour", "hours")
	}
	return b.count(lang, int64((d+time.Minute-1)/time.Minute), "minute", "minutes")
}

// count shows n with the word for one or many in lang: "1 minute", "5 minuten".
func (b *Bot) count(lang string, n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, b.trl(lang, one))
	}
	return fmt.Sprintf("%d %s", n, b.trl(lang, many))
}

// atClock is clock with its preposition, as a sentence needs it: "at
// 18:30", "tomorrow at 09:00", "on Wed 7 Jan at 09:00" (never "at
// tomorrow 09:00").
func (b *Bot) atClock(lang string, t, now time.Time) string {
	day, hm := b.dayClock(lang, t, now)
	switch {
	case day == "":
		return b.trl(lang, "at-time", hm)
	case day == b.trl(lang, "tomorrow"):
		return day + " " + b.trl(lang, "at-time", hm)
	}
	return b.trl(lang, "on-day", day, hm)
}

// clock shows a time for a customer: "18:30", "tomorrow 09:00", "Wed 7 Jan 09:00".
func (b *Bot) clock(lang string, t, now time.Time) string {
	day, hm := b.dayClock(lang, t, now)
	if day == "" {
		return hm
	}
	return day + " " + hm
}

// dayClock splits a time into its day ("" for today, "tomorrow", "Wed
// 7 Jan") and its clock ("09:00"), in lang.
func (b *Bot) dayClock(lang string, t, now time.Time) (day, hm string) {
	lt, ln := t.In(b.loc), now.In(b.loc)
	y1, m1, d1 := lt.Date()
	y2, m2, d2 := ln.Date()
	hm = lt.Format("15:04")
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return "", hm
	case time.Date(y2, m2, d2+1, 0, 0, 0, 0, b.loc).Equal(time.Date(y1, m1, d1, 0, 0, 0, 0, b.loc)):
		return b.trl(lang, "tomorrow"), hm
	}
	if lang == "nl" {
		return fmt.Sprintf("%s %d %s", dutchDays[lt.Weekday()], d1, dutchMonths[m1-1]), hm
	}
	return lt.Format("Mon 2 Jan"), hm
}

var (
	dutchDays   = [...]string{"zo", "ma", "di", "wo", "do", "vr", "za"}
	dutchMonths = [...]string{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}
)
