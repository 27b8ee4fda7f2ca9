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

// Dutch names of days and months, as the customer reads them.
var (
	dutchDays     = [...]string{"zo", "ma", "di", "wo", "do", "vr", "za"}
	dutchWeekdays = [...]string{"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"}
	dutchMonths   = [...]string{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}
)

// dayLabel is "Tue 6 Jan" ("di 6 jan"), with the year when it is not
// this year's.
func (s *shop) dayLabel(lang string, day, now time.Time) string {
	day = day.In(s.loc)
	year := ""
	if day.Year() != now.In(s.loc).Year() {
		year = fmt.Sprintf(" %d", day.Year())
	}
	if lang == "nl" {
		return fmt.Sprintf("%s %d %s%s", dutchDays[day.Weekday()], day.Day(), dutchMonths[day.Month()-1], year)
	}
	return day.Format("Mon 2 Jan") + year
}

// when is "Tue 6 Jan at 10:00" ("di 6 jan om 10:00").
func (s *shop) when(lang string, t, now time.Time) string {
	return fmt.Sprintf(s.texts.In(lang, "at"), s.dayLabel(lang, t, now), t.In(s.loc).Format("15:04"))
}

// relative is "today at 10:00", "tomorrow at 10:00" or "on Tue 6 Jan at 10:00".
func (s *shop) relative(lang string, t, now time.Time) string {
	hm := t.In(s.loc).Format("15:04")
	switch s.day(t).Sub(s.day(now)).Round(24 * time.Hour) {
	case 0:
		return fmt.Sprintf(s.texts.In(lang, "today-at"), hm)
	case 24 * time.Hour:
		return fmt.Sprintf(s.texts.In(lang, "tomorrow-at"), hm)
	}
	return fmt.Sprintf(s.texts.In(lang, "on"), s.when(lang, t, now))
}

func (s *shop) periods(wd time.Weekday) string {
	var parts []string
	for _, sp := range s.hours[wd] {
		parts = append(parts, sp.String())
	}
	return strings.Join(parts, ", ")
}

// shortDay is "Tue" ("di").
func shortDay(lang string, wd time.Weekday) string {
	if lang == "nl" {
		return dutchDays[wd]
	}
	return wd.String()[:3]
}

// openDays is "Tue, Wed, Thu, Fri, Sat".
func (s *shop) openDays(lang string) string {
	var out []string
	for d := time.Monday; d <= time.Saturday+1; d++ {
		wd := d % 7
		if len(s.hours[wd]) > 0 {
			out = append(out, shortDay(lang, wd))
		}
	}
	return strings.Join(out, ", ")
}

// plural is "Mondays" ("maandag", as in "op maandag").
func plural(lang string, wd time.Weekday) string {
	if lang == "nl" {
		return dutchWeekdays[wd]
	}
	return wd.String() + "s"
}

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

// leadText is "24 hours", "2 hours", "30 minutes", "2 days" ("24 uur",
// "30 minuten", "2 dagen").
func leadText(lang string, d time.Duration) string {
	unit := func(n time.Duration, en1, enN, nl1, nlN string) string {
		one, many := en1, enN
		if lang == "nl" {
			one, many = nl1, nlN
		}
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return unit(d/(24*time.Hour), "day", "days", "dag", "dagen")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(d/time.Hour, "hour", "hours", "uur", "uur")
	}
	return unit(d/time.Minute, "minute", "minutes", "minuut", "minuten")
}

// --- reading what customers type ---

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
	"january": 1, "february": 2, "march": 3, "april": 4, "june": 6, "july": 7, "august": 8, "september": 9,
	"october": 10, "november": 11, "december": 12,
}

var shortWeekdays = map[string]time.Weekday{"tues": time.Tuesday, "thur": time.Thursday, "thurs": time.Thursday, "weds": time.Wednesday,
	"maandag": time.Monday, "ma": time.Monday, "dinsdag": time.Tuesday, "di": time.Tuesday, "woensdag": time.Wednesday,
	"wo": time.Wednesday, "donderdag": time.Thursday, "do": time.Thursday, "vrijdag": time.Friday, "vr": time.Friday,
	"zaterdag": time.Saturday, "za": time.Saturday, "zondag": time.Sunday, "zo": time.Sunday}

// Dutch month names that differ from the English ones.
func init() {
	for name, m := range map[string]time.Month{"januari": 1, "februari": 2, "maart": 3, "mrt": 3, "mei": 5, "juni": 6,
		"juli": 7, "augustus": 8, "oktober": 10, "okt": 10} {
		months[name] = m
	}
}

// dayWords are the days said by name, in days from today.
var dayWords = map[string]int{"today": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "day after tomorrow": 2,
	"the day after tomorrow": 2, "vandaag": 0, "morgen": 1, "overmorgen": 2}

var (
	isoDate   = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`)
	numDate   = regexp.MustCompile(`^(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2}|\d{4}))?$`)
	dayMonth  = regexp.MustCompile(`^(\d{1,2})(?:st|nd|rd|th)?(?: of)? ([a-z]+)(?: (\d{4}))?$`)
	monthDay  = regexp.MustCompile(`^([a-z]+) (\d{1,2})(?:st|nd|rd|th)?(?:,? (\d{4}))?$`)
	clockTime = regexp.MustCompile(`^(?:at )?(\d{1,2})(?:[:.hu](\d{2})?)? ?(am|pm|a\.m\.|p\.m\.)?$`)
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
	for _, p := range []string{"on ", "op ", "a.s. ", "aanstaande ", "coming "} {
		t = strings.TrimPrefix(t, p)
	}
	today := s.day(now)
	if n, ok := dayWords[t]; ok {
		return s.addDays(today, n), true
	}
	name, next := strings.CutPrefix(t, "next ")
	if !next {
		name, next = strings.CutPrefix(t, "volgende ")
	}
	if !next {
		name, _ = strings.CutPrefix(t, "this ")
		name, _ = strings.CutPrefix(name, "deze ")
	}
	// "tuesday 20 jan", "dinsdag 20 januari": the date decides.
	if first, rest, ok := strings.Cut(t, " "); ok {
		if _, isDay := weekdays[first]; isDay || shortWeekdays[first] != 0 || first == "zondag" || first == "zo" {
			if d, ok := s.parseDay(rest, now); ok && rest != "" && !strings.HasPrefix(rest, "next") {
				return d, true
			}
		}
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

// parseDayTime reads a day, a time of day, or both typed together:
// "tuesday", "14:00", "tomorrow at 10", "dinsdag 14:00", "morgen om half
// acht", "at 3 on friday".
func (s *shop) parseDayTime(text string, now time.Time) (day time.Time, min int, hasDay, hasTime bool) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimRight(t, ".!?")
	t = strings.Join(strings.Fields(strings.ReplaceAll(t, ",", " ")), " ")
	for _, p := range []string{"please ", "graag ", "ik wil ", "i'd like ", "can i come "} {
		t = strings.TrimPrefix(t, p)
	}
	for _, p := range []string{" please", " graag", " alsjeblieft", " svp"} {
		t = strings.TrimSuffix(t, p)
	}
	if d, ok := s.parseDay(t, now); ok {
		return d, 0, true, false
	}
	if m, ok := parseClock(t); ok {
		return time.Time{}, m, false, true
	}
	w := strings.Fields(t)
	for i := 1; i < len(w); i++ {
		first, rest := strings.Join(w[:i], " "), strings.Join(w[i:], " ")
		if d, ok := s.parseDay(first, now); ok {
			if m, ok := parseClock(rest); ok {
				return d, m, true, true
			}
		}
		if m, ok := parseClock(first); ok {
			if d, ok := s.parseDay(rest, now); ok {
				return d, m, true, true
			}
		}
	}
	return time.Time{}, 0, false, false
}

// hourWords are the hours of a 12-hour clock said in words.
var hourWords = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
	"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5,
	"zes": 6, "zeven": 7, "acht": 8, "negen": 9, "tien": 10, "elf": 11, "twaalf": 12}

// clockHour reads an hour of a spoken time: "8", "acht".
func clockHour(w string) (int, bool) {
	if h, ok := hourWords[w]; ok {
		return h, true
	}
	h, err := strconv.Atoi(w)
	return h, err == nil && h >= 0 && h <= 23
}

// spokenClock reads the times people say rather than write: "half acht"
// (7:30, the Dutch half before the hour), "kwart over acht", "kwart voor
// acht", "acht uur", "half past two", "quarter to four", "noon".
func spokenClock(t string) (int, bool) {
	switch t {
	case "noon", "midday", "12 noon", "middag", "12 uur 's middags":
		return 12 * 60, true
	}
	w := strings.Fields(t)
	switch {
	case len(w) == 2 && w[0] == "half":
		if h, ok := clockHour(w[1]); ok && h >= 1 {
			return (h-1)*60 + 30, true
		}
	case len(w) == 3 && w[0] == "kwart" && (w[1] == "over" || w[1] == "voor"):
		if h, ok := clockHour(w[2]); ok {
			if w[1] == "over" {
				return h*60 + 15, true
			}
			return (h*60 + 24*60 - 15) % (24 * 60), true
		}
	case len(w) == 3 && (w[0] == "half" || w[0] == "quarter") && (w[1] == "past" || w[1] == "to"):
		if h, ok := clockHour(w[2]); ok {
			switch {
			case w[0] == "half" && w[1] == "past":
				return h*60 + 30, true
			case w[0] == "quarter" && w[1] == "past":
				return h*60 + 15, true
			case w[0] == "quarter" && w[1] == "to":
				return (h*60 + 24*60 - 15) % (24 * 60), true
			}
		}
	case len(w) == 2 && (w[1] == "uur" || w[1] == "o'clock"):
		if h, ok := clockHour(w[0]); ok {
			return h * 60, true
		}
	case len(w) == 1:
		if h, ok := hourWords[w[0]]; ok {
			return h * 60, true
		}
	}
	return 0, false
}

// parseClock reads a typed time of day as minutes after midnight: "14:15",
// "14.15", "1415", "14h15", "14u15", "14 uur", "2pm", "2:30 pm", "at 10",
// "om half acht", "'s middags om 3". A 12-hour time without am or pm is
// taken as written; the caller may move it to the afternoon.
func parseClock(text string) (int, bool) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimRight(t, "!?")
	t = strings.ReplaceAll(t, "’", "'")
	pm, am := false, false
	for _, p := range []string{"'s middags", "'s avonds", "in the afternoon", "in the evening", "tonight"} {
		if strings.Contains(t, p) {
			pm, t = true, strings.TrimSpace(strings.ReplaceAll(t, p, ""))
		}
	}
	for _, p := range []string{"'s ochtends", "'s morgens", "in the morning"} {
		if strings.Contains(t, p) {
			am, t = true, strings.TrimSpace(strings.ReplaceAll(t, p, ""))
		}
	}
	for _, p := range []string{"om ", "at ", "rond ", "around ", "omstreeks ", "tegen "} {
		t = strings.TrimPrefix(t, p)
	}
	t = strings.TrimSuffix(t, " uur")
	m, ok := writtenClock(t)
	if !ok {
		m, ok = spokenClock(t)
	}
	if ok && pm && m < 12*60 {
		m += 12 * 60
	}
	if ok && am && m >= 13*60 {
		return 0, false
	}
	return m, ok
}

// writtenClock reads "14:15", "1415", "14u", "2pm".
func writtenClock(t string) (int, bool) {
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
