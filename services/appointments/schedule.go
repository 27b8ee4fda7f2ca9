package appointments

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// occupancy is who is busy when: staff id → granule start (Unix ms) →
// booking id.
type occupancy map[string]map[int64]string

// granules lists the granules [start, start+d) touches, as Unix ms.
func granules(start time.Time, d time.Duration) []int64 {
	g := granule.Milliseconds()
	from := start.UnixMilli()
	end := from + d.Milliseconds()
	first := from - ((from%g)+g)%g // floor, also before 1970
	var out []int64
	for t := first; t < end; t += g {
		out = append(out, t)
	}
	return out
}

// free says whether staff is free for [start, start+d), ignoring the
// booking being moved.
func (o occupancy) free(staff string, start time.Time, d time.Duration, ignore string) bool {
	busy := o[staff]
	for _, g := range granules(start, d) {
		if b, ok := busy[g]; ok && b != ignore {
			return false
		}
	}
	return true
}

// day is a calendar day in the shop's time zone, at local midnight.
func (s *shop) day(t time.Time) time.Time {
	t = t.In(s.loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc)
}

func (s *shop) addDays(day time.Time, n int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day()+n, 0, 0, 0, 0, s.loc)
}

// lastDay is the last day that can be booked now.
func (s *shop) lastDay(now time.Time) time.Time { return s.addDays(s.day(now), s.horizonDays) }

func dayKey(day time.Time) string { return day.Format("2006-01-02") }

func (s *shop) parseDayKey(k string) (time.Time, bool) {
	t, err := time.ParseInLocation("2006-01-02", k, s.loc)
	return t, err == nil
}

// at is a wall-clock time (minutes after midnight) on day.
func (s *shop) at(day time.Time, min int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, min, 0, 0, s.loc)
}

// starts lists the possible start times of svc on day by the opening
// hours and granularity, booked or not.
func (s *shop) starts(day time.Time, svc service) []time.Time {
	var out []time.Time
	step := int(s.granularity / time.Minute)
	dur := int(svc.Duration / time.Minute)
	for _, sp := range s.hours[day.Weekday()] {
		for m := sp.from; m+dur <= sp.to; m += step {
			out = append(out, s.at(day, m))
		}
	}
	return out
}

// bookable says whether a start time is far enough ahead and within the
// horizon (not whether anyone is free).
func (s *shop) bookable(start, now time.Time) bool {
	return !start.Before(now.Add(s.minNotice)) && s.day(start).Compare(s.lastDay(now)) <= 0
}

// freeStaff is who can do svc at start, in config order: pref only, or
// everyone who does the service and works that day.
func (s *shop) freeStaff(occ occupancy, svc service, pref string, start time.Time, ignore string) []string {
	var out []string
	for _, m := range s.staffFor(svc.ID) {
		if pref != anyone && pref != "" && m.ID != pref {
			continue
		}
		if m.works(start.In(s.loc).Weekday()) && occ.free(m.ID, start, svc.Duration, ignore) {
			out = append(out, m.ID)
		}
	}
	return out
}

// freeSlots lists the free, bookable start times on day.
func (s *shop) freeSlots(occ occupancy, day time.Time, svc service, pref string, now time.Time, ignore string) []time.Time {
	var out []time.Time
	for _, t := range s.starts(day, svc) {
		if s.bookable(t, now) && len(s.freeStaff(occ, svc, pref, t, ignore)) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// occupied loads who is busy between from and to.
func (b *Bot) occupied(ctx context.Context, bot string, from, to time.Time) (occupancy, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT staff, slot_start, booking_id FROM appointments_slots
		WHERE bot_user_id = $1 AND slot_start >= $2 AND slot_start < $3`,
		bot, from.Add(-granule).UnixMilli(), to.Add(granule).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read occupied slots: %w", err)
	}
	defer rows.Close()
	occ := occupancy{}
	for rows.Next() {
		var staff, booking string
		var at int64
		if err := rows.Scan(&staff, &at, &booking); err != nil {
			return nil, err
		}
		if occ[staff] == nil {
			occ[staff] = map[int64]string{}
		}
		occ[staff][at] = booking
	}
	return occ, rows.Err()
}

// --- formatting ---

// dayLabel is "Tue 6 Jan" (with the year when it is not this year's).
func (s *shop) dayLabel(day, now time.Time) string {
	day = day.In(s.loc)
	if day.Year() != now.In(s.loc).Year() {
		return day.Format("Mon 2 Jan 2006")
	}
	return day.Format("Mon 2 Jan")
}

// when is "Tue 6 Jan at 10:00".
func (s *shop) when(t, now time.Time) string {
	return s.dayLabel(t, now) + " at " + t.In(s.loc).Format("15:04")
}

// relative is "today at 10:00", "tomorrow at 10:00" or "on Tue 6 Jan at 10:00".
func (s *shop) relative(t, now time.Time) string {
	switch s.day(t).Sub(s.day(now)).Round(24 * time.Hour) {
	case 0:
		return "today at " + t.In(s.loc).Format("15:04")
	case 24 * time.Hour:
		return "tomorrow at " + t.In(s.loc).Format("15:04")
	}
	return "on " + s.when(t, now)
}

func (s *shop) periods(wd time.Weekday) string {
	var parts []string
	for _, sp := range s.hours[wd] {
		parts = append(parts, sp.String())
	}
	return strings.Join(parts, ", ")
}

// openDays is "Tue, Wed, Thu, Fri, Sat".
func (s *shop) openDays() string {
	var out []string
	for d := time.Monday; d <= time.Saturday+1; d++ {
		wd := d % 7
		if len(s.hours[wd]) > 0 {
			out = append(out, wd.String()[:3])
		}
	}
	return strings.Join(out, ", ")
}

func plural(wd time.Weekday) string { return wd.String() + "s" }

func duration(d time.Duration) string {
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// leadText is "24 hours", "2 hours", "30 minutes", "2 days".
func leadText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d == time.Hour:
		return "1 hour"
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d == time.Minute:
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", d/time.Minute)
}

// --- reading what customers type ---

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
	"january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8, "september": 9,
	"october": 10, "november": 11, "december": 12,
}

var shortWeekdays = map[string]time.Weekday{"tues": time.Tuesday, "thur": time.Thursday, "thurs": time.Thursday, "weds": time.Wednesday}

var (
	isoDate   = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`)
	numDate   = regexp.MustCompile(`^(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2}|\d{4}))?$`)
	dayMonth  = regexp.MustCompile(`^(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+)(?: (\d{4}))?$`)
	monthDay  = regexp.MustCompile(`^([a-z]+) (\d{1,2})(?:st|nd|rd|th)?(?:,? (\d{4}))?$`)
	clockTime = regexp.MustCompile(`^(?:at )?(\d{1,2})(?:[:.h](\d{2}))? ?(am|pm|a\.m\.|p\.m\.)?$`)
	clockHHMM = regexp.MustCompile(`^(?:at )?(\d{3,4})$`)
)

// parseDay reads a typed day: "today", "tomorrow", a weekday ("friday",
// "next fri": the next one, today included for a bare name), "2026-01-20",
// "20-01", "20/1/2026" (day first), "20 jan", "jan 20th". Dates without a
// year are the next such date. ok is false when it is none of these.
func (s *shop) parseDay(text string, now time.Time) (time.Time, bool) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimRight(t, ".!?")
	t = strings.Join(strings.Fields(strings.ReplaceAll(t, ",", " ")), " ")
	t = strings.TrimPrefix(t, "on ")
	today := s.day(now)
	switch t {
	case "today":
		return today, true
	case "tomorrow", "tmrw", "tmr":
		return s.addDays(today, 1), true
	case "day after tomorrow", "the day after tomorrow":
		return s.addDays(today, 2), true
	}
	name, next := strings.CutPrefix(t, "next ")
	if !next {
		name, next = strings.CutPrefix(t, "this ")
		next = false
	}
	wd, ok := weekdays[name]
	if !ok {
		wd, ok = shortWeekdays[name]
	}
	if ok {
		n := (int(wd) - int(today.Weekday()) + 7) % 7
		if n == 0 && next {
			n = 7
		}
		return s.addDays(today, n), true
	}
	date := func(y int, m time.Month, d int, yearGiven bool) (time.Time, bool) {
		if m < 1 || m > 12 || d < 1 || d > 31 {
			return time.Time{}, false
		}
		day := time.Date(y, m, d, 0, 0, 0, 0, s.loc)
		if day.Day() != d { // 31 Feb
			return time.Time{}, false
		}
		if !yearGiven && day.Before(today) {
			day = time.Date(y+1, m, d, 0, 0, 0, 0, s.loc)
		}
		return day, true
	}
	year := func(s string) (int, bool) {
		if s == "" {
			return today.Year(), false
		}
		y, _ := strconv.Atoi(s)
		if y < 100 {
			y += 2000
		}
		return y, true
	}
	if m := isoDate.FindStringSubmatch(t); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		return date(y, time.Month(mo), d, true)
	}
	if m := numDate.FindStringSubmatch(t); m != nil {
		d, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		y, given := year(m[3])
		return date(y, time.Month(mo), d, given)
	}
	if m := dayMonth.FindStringSubmatch(t); m != nil {
		if mo, ok := months[m[2]]; ok {
			d, _ := strconv.Atoi(m[1])
			y, given := year(m[3])
			return date(y, mo, d, given)
		}
	}
	if m := monthDay.FindStringSubmatch(t); m != nil {
		if mo, ok := months[m[1]]; ok {
			d, _ := strconv.Atoi(m[2])
			y, given := year(m[3])
			return date(y, mo, d, given)
		}
	}
	return time.Time{}, false
}

// parseClock reads a typed time of day as minutes after midnight: "14:15",
// "14.15", "1415", "14h15", "2pm", "2:30 pm", "at 10".
func parseClock(text string) (int, bool) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimRight(t, "!?")
	var h, m int
	if mm := clockHHMM.FindStringSubmatch(t); mm != nil {
		v, _ := strconv.Atoi(mm[1])
		h, m = v/100, v%100
	} else if mm := clockTime.FindStringSubmatch(t); mm != nil {
		h, _ = strconv.Atoi(mm[1])
		if mm[2] != "" {
			m, _ = strconv.Atoi(mm[2])
		}
		switch strings.ReplaceAll(mm[3], ".", "") {
		case "am":
			if h < 1 || h > 12 {
				return 0, false
			}
			if h == 12 {
				h = 0
			}
		case "pm":
			if h < 1 || h > 12 {
				return 0, false
			}
			if h != 12 {
				h += 12
			}
		}
	} else {
		return 0, false
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// nearest orders times by distance to around, keeping at most n, then by
// time.
func nearest(times []time.Time, around time.Time, n int) []time.Time {
	out := append([]time.Time(nil), times...)
	dist := func(t time.Time) time.Duration {
		d := t.Sub(around)
		if d < 0 {
			return -d
		}
		return d
	}
	sort.SliceStable(out, func(i, j int) bool { return dist(out[i]) < dist(out[j]) })
	if len(out) > n {
		out = out[:n]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
