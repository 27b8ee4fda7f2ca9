package appointments

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// testShop is the default barbershop, on Tuesday 29 Dec 2026 at 15:00.
func testShop(t *testing.T) (*shop, time.Time) {
	t.Helper()
	s, err := newShop(Config{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return s, time.Date(2026, 12, 29, 15, 0, 0, 0, s.loc)
}

func TestParseDay(t *testing.T) {
	s, now := testShop(t)
	for in, want := range map[string]string{
		"today": "2026-12-29", "Tomorrow": "2026-12-30", "the day after tomorrow": "2026-12-31",
		"tuesday": "2026-12-29", "next tuesday": "2027-01-05", "fri": "2027-01-01", "on Friday": "2027-01-01", "thurs": "2026-12-31",
		"2027-01-20": "2027-01-20", "20-01": "2027-01-20", "20/1/2027": "2027-01-20", "20.01.27": "2027-01-20",
		"30/12": "2026-12-30", "28/12": "2027-12-28", "2026-12-28": "2026-12-28",
		"20 jan": "2027-01-20", "20th of January": "2027-01-20", "jan 20th": "2027-01-20", "January 20, 2027": "2027-01-20",
		"vandaag": "2026-12-29", "Morgen": "2026-12-30", "overmorgen": "2026-12-31", "dinsdag": "2026-12-29",
		"volgende dinsdag": "2027-01-05", "op vrijdag": "2027-01-01", "vr": "2027-01-01", "20 januari": "2027-01-20",
		"3 mrt": "2027-03-03", "woensdag 20 januari": "2027-01-20",
	} {
		got, ok := s.parseDay(in, now)
		if !ok || dayKey(got) != want {
			t.Errorf("%q: got %s %v, want %s", in, dayKey(got), ok, want)
		}
	}
	for _, bad := range []string{"", "soon", "31/02", "2027-13-01", "32 jan", "20 foo", "1234", "next"} {
		if got, ok := s.parseDay(bad, now); ok {
			t.Errorf("%q: parsed as %s", bad, dayKey(got))
		}
	}
}

func TestParseDayTime(t *testing.T) {
	s, now := testShop(t)
	for in, want := range map[string]string{
		"morgen om half acht": "2026-12-30 07:30", "dinsdag 14:00": "2026-12-29 14:00", "tomorrow at 10": "2026-12-30 10:00",
		"next friday at 2pm": "2027-01-01 14:00", "at 3 on friday": "2027-01-01 03:00", "vrijdag om kwart over tien": "2027-01-01 10:15",
		"20 jan 11:30": "2027-01-20 11:30", "morgen 10 uur graag": "2026-12-30 10:00",
	} {
		day, min, hasDay, hasTime := s.parseDayTime(in, now)
		if got := dayKey(day) + " " + clockString(min); !hasDay || !hasTime || got != want {
			t.Errorf("%q: got %s (day %v, time %v), want %s", in, got, hasDay, hasTime, want)
		}
	}
	if _, _, hasDay, hasTime := s.parseDayTime("zaterdag", now); !hasDay || hasTime {
		t.Errorf("zaterdag: day %v time %v, want a day alone", hasDay, hasTime)
	}
	if _, min, hasDay, hasTime := s.parseDayTime("om 11", now); hasDay || !hasTime || min != 11*60 {
		t.Errorf("om 11: %d day %v time %v, want 11:00 alone", min, hasDay, hasTime)
	}
	for _, bad := range []string{"soon", "morgen misschien", "whenever"} {
		if _, _, hasDay, hasTime := s.parseDayTime(bad, now); hasDay || hasTime {
			t.Errorf("%q: understood as a day or time", bad)
		}
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]int{
		"14:15": 14*60 + 15, "14.15": 14*60 + 15, "1415": 14*60 + 15, "930": 9*60 + 30, "14h15": 14*60 + 15,
		"2pm": 14 * 60, "2:30 pm": 14*60 + 30, "12am": 0, "12pm": 12 * 60, "9 a.m.": 9 * 60, "at 10": 10 * 60, "10": 10 * 60, "0:00": 0,
		"noon": 12 * 60, "ten": 10 * 60, "half past two": 2*60 + 30, "quarter to four": 3*60 + 45,
		// Dutch: "half acht" is half an hour before eight.
		"om 14:00": 14 * 60, "14 uur": 14 * 60, "14u": 14 * 60, "14u30": 14*60 + 30, "om half acht": 7*60 + 30,
		"half 11": 10*60 + 30, "kwart over tien": 10*60 + 15, "kwart voor elf": 10*60 + 45, "tien uur": 10 * 60,
		"om drie uur 's middags": 15 * 60, "'s avonds om 7": 19 * 60,
	} {
		if got, ok := parseClock(in); !ok || got != want {
			t.Errorf("%q: got %d %v, want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "25:00", "14:60", "13pm", "0am", "12345", "half", "kwart over", "14:00 's ochtends"} {
		if got, ok := parseClock(bad); ok {
			t.Errorf("%q: parsed as %d", bad, got)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct {
		minor int64
		cur   string
		want  string
	}{{2500, "EUR", "€25.00"}, {5, "USD", "$0.05"}, {1999, "GBP", "£19.99"}, {4500, "JPY", "¥4500"},
		{12000, "SEK", "120.00 SEK"}, {1500, "KWD", "1.500 KWD"}, {0, "EUR", "€0.00"}} {
		if got := formatMoney(c.minor, c.cur); got != c.want {
			t.Errorf("%d %s: %q, want %q", c.minor, c.cur, got, c.want)
		}
	}
}

func TestGranules(t *testing.T) {
	ten := time.Date(2026, 1, 7, 10, 0, 0, 0, time.UTC)
	if g := granules(ten, 30*time.Minute); len(g) != 6 || g[0] != ten.UnixMilli() {
		t.Fatalf("aligned: %v", g)
	}
	// Off the grid: every granule the time touches, both ends rounded out.
	if g := granules(ten.Add(2*time.Minute), 5*time.Minute); len(g) != 2 || g[0] != ten.UnixMilli() {
		t.Fatalf("unaligned: %v", g)
	}
	// Across a DST change the granules follow real time (a 30-minute
	// appointment is 6 granules even when the clock jumps).
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	jump := time.Date(2026, 3, 29, 1, 45, 0, 0, ams)
	if g := granules(jump, 30*time.Minute); len(g) != 6 {
		t.Fatalf("DST: %v", g)
	}
}

func TestBreaksAreTakenOut(t *testing.T) {
	got := subtract(span{9 * 60, 18 * 60}, []span{{12*60 + 30, 13 * 60}, {8 * 60, 9*60 + 15}, {17 * 60, 19 * 60}})
	want := []span{{9*60 + 15, 12*60 + 30}, {13 * 60, 17 * 60}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestEmptyRemindersMeansNone(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte("reminders: []\ncancellation_cutoff: 0s\nmin_notice: 1h"), &c); err != nil {
		t.Fatal(err)
	}
	s, err := newShop(c.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.reminders) != 0 || s.cutoff != 0 || s.minNotice != time.Hour {
		t.Fatalf("reminders %v, cutoff %s, notice %s", s.reminders, s.cutoff, s.minNotice)
	}
	d, err := newShop(Config{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.reminders) != 2 || d.cutoff != 2*time.Hour || d.name != "the barbershop" || len(d.hours[time.Tuesday]) != 2 {
		t.Fatalf("defaults: %+v", d)
	}
}
