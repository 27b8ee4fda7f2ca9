package appointments

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseDay(t *testing.T) {
	s, err := newShop(Config{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 29, 15, 0, 0, 0, s.loc) // a Tuesday
	for in, want := range map[string]string{
		"today": "2026-12-29", "Tomorrow": "2026-12-30", "the day after tomorrow": "2026-12-31",
		"tuesday": "2026-12-29", "next tuesday": "2027-01-05", "fri": "2027-01-01", "on Friday": "2027-01-01", "thurs": "2026-12-31",
		"2027-01-20": "2027-01-20", "20-01": "2027-01-20", "20/1/2027": "2027-01-20", "20.01.27": "2027-01-20",
		"30/12": "2026-12-30", "28/12": "2027-12-28", "2026-12-28": "2026-12-28",
		"20 jan": "2027-01-20", "20th of January": "2027-01-20", "jan 20th": "2027-01-20", "January 20, 2027": "2027-01-20",
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

func TestParseClock(t *testing.T) {
	for in, want := range map[string]int{
		"14:15": 14*60 + 15, "14.15": 14*60 + 15, "1415": 14*60 + 15, "930": 9*60 + 30, "14h15": 14*60 + 15,
		"2pm": 14 * 60, "2:30 pm": 14*60 + 30, "12am": 0, "12pm": 12 * 60, "9 a.m.": 9 * 60, "at 10": 10 * 60, "10": 10 * 60, "0:00": 0,
	} {
		if got, ok := parseClock(in); !ok || got != want {
			t.Errorf("%q: got %d %v, want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "noon", "25:00", "14:60", "13pm", "0am", "12345", "ten"} {
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
