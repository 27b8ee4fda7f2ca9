package appointments

import (
	"testing"
	"time"
)

// FuzzParseClock: a typed time of day is minutes after midnight or
// nothing.
func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"14:15", "14.15", "1415", "14h15", "2pm", "2:30 pm", "at 10", "24:00", "12am", "0:00",
		"99:99", "9999", "13pm", "", "at ", "2 p.m.", "00000000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if m, ok := parseClock(text); ok && (m < 0 || m >= 24*60) {
			t.Fatalf("parseClock(%q) = %d minutes, not a time of day", text, m)
		}
	})
}

// FuzzParseDay: a typed day is the start of a day in the shop's zone, or
// nothing. (A past date is parsed too: the booking flow answers that it
// has passed.)
func FuzzParseDay(f *testing.F) {
	for _, s := range []string{"today", "Tomorrow", "next tuesday", "fri", "2027-01-20", "20-01", "20/1/2027", "20.01.27",
		"30/12", "29/2", "31/4", "20 jan", "January 20, 2027", "0/0", "99999-1-1", "2027-13-40", "on ", "the day after tomorrow"} {
		f.Add(s)
	}
	s, err := newShop(Config{}.withDefaults())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 29, 15, 0, 0, 0, s.loc)
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := s.parseDay(text, now)
		if ok && !got.Equal(s.day(got)) {
			t.Fatalf("parseDay(%q) = %s, not the start of a day (%s)", text, got, s.day(got))
		}
	})
}
