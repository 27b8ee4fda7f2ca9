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
// "in an hour", "at 18:30", "6pm", "tomorrow at 9". Clock times are in loc.
// A time that has passed today is an error, not silently tomorrow.
func parseWhen(text string, now time.Time, loc *time.Location, maxAdvance time.Duration) (time.Time, error) {
	t := normalizeWhen(text)
	t = strings.TrimPrefix(t, "pick me up ")
	switch t {
	case "now", "asap", "right now", "immediately", "now please", "as soon as possible":
		return now, nil
	case "":
		return time.Time{}, handlers.Errorf("When do you need the taxi? Say \"now\", \"at 18:30\" or \"in 20 min\".")
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
				return time.Time{}, notATime(text)
			}
		case m[1] == "a" || m[1] == "an":
			if m[2] == "" {
				return time.Time{}, notATime(text)
			}
			d = unit
		default:
			n, _ := strconv.Atoi(m[1])
			d = time.Duration(n) * unit
		}
		if d > maxAdvance {
			return time.Time{}, tooFar(maxAdvance)
		}
		return now.Add(d), nil
	}
	m := atRe.FindStringSubmatch(t)
	if m == nil || (m[2] == "" && m[4] == "" && m[5] == "" && m[1] == "" && m[6] == "") {
		// A bare number ("18") is more likely a mistyped menu choice.
		return time.Time{}, notATime(text)
	}
	day := m[1]
	if day == "" {
		day = m[6]
	} else if m[6] != "" {
		return time.Time{}, notATime(text)
	}
	hour, _ := strconv.Atoi(m[3])
	minute := 0
	if m[4] != "" {
		minute, _ = strconv.Atoi(m[4])
	}
	switch m[5] {
	case "am", "pm":
		if hour < 1 || hour > 12 {
			return time.Time{}, notATime(text)
		}
		hour %= 12
		if m[5] == "pm" {
			hour += 12
		}
	}
	if hour > 23 || minute > 59 {
		return time.Time{}, notATime(text)
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
		return time.Time{}, handlers.Errorf("%s has already passed (it is %s now). Please pick a later time, say \"tomorrow at %s\", or \"now\".",
			at.Format("15:04"), local.Format("15:04"), at.Format("15:04"))
	}
	if at.Sub(now) > maxAdvance {
		return time.Time{}, tooFar(maxAdvance)
	}
	return at, nil
}

// errNotATime marks text that is no time at all (not one out of range).
var errNotATime = errors.New("not a time")

func notATime(text string) error {
	return &handlers.UserError{Text: fmt.Sprintf("Sorry, I couldn't read %q as a time. Try \"now\", \"at 18:30\", \"in 20 min\" or \"tomorrow at 9:00\".", handlers.CapText(text, 40)), Err: errNotATime}
}

func tooFar(maxAdvance time.Duration) error {
	return handlers.Errorf("I can only take bookings up to %s ahead.", human(maxAdvance))
}

// human shows a whole duration: "48 hours", "20 minutes".
func human(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return plural(int64(d/time.Hour), "hour", "hours")
	}
	return plural(int64((d+time.Minute-1)/time.Minute), "minute", "minutes")
}

// atClock is clockIn with its preposition, as a sentence needs it: "at
// 18:30", "tomorrow at 09:00", "on Wed 7 Jan at 09:00" (never "at
// tomorrow 09:00").
func atClock(t, now time.Time, loc *time.Location) string {
	s := clockIn(t, now, loc)
	switch {
	case strings.HasPrefix(s, "tomorrow "):
		return "tomorrow at " + strings.TrimPrefix(s, "tomorrow ")
	case len(s) > 5:
		return "on " + s[:len(s)-6] + " at " + s[len(s)-5:]
	}
	return "at " + s
}

// clockIn shows a time for a customer: "18:30", "tomorrow 09:00", "Wed 7 Jan 09:00".
func clockIn(t, now time.Time, loc *time.Location) string {
	lt, ln := t.In(loc), now.In(loc)
	y1, m1, d1 := lt.Date()
	y2, m2, d2 := ln.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return lt.Format("15:04")
	case time.Date(y2, m2, d2+1, 0, 0, 0, 0, loc).Equal(time.Date(y1, m1, d1, 0, 0, 0, 0, loc)):
		return "tomorrow " + lt.Format("15:04")
	}
	return lt.Format("Mon 2 Jan 15:04")
}
