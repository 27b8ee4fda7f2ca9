package appointments

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
)

// Config is the service's `config:` block. Every option left out takes
// the default of a small barbershop (see Default).
type Config struct {
	// Business is the name customers see ("Welcome to …"); default the
	// bot's display name.
	Business string `yaml:"business"`
	// TimeZone is the IANA zone opening hours are in.
	TimeZone string `yaml:"time_zone"`
	// Currency is the ISO 4217 code prices are in.
	Currency string          `yaml:"currency"`
	Services []ServiceConfig `yaml:"services"`
	Staff    []StaffConfig   `yaml:"staff"`
	// Hours per weekday (mon … sun): "09:00-18:00", several periods
	// separated by commas; days left out are closed.
	Hours map[string]string `yaml:"hours"`
	// Breaks are taken out of every day's hours ("12:30-13:00").
	Breaks []string `yaml:"breaks"`
	// SlotGranularity is how far apart possible start times are.
	SlotGranularity *config.Duration `yaml:"slot_granularity"`
	// BookingHorizonDays is how many days ahead customers may book.
	BookingHorizonDays *int `yaml:"booking_horizon_days"`
	// MinNotice is how long before its start a slot can still be booked.
	MinNotice *config.Duration `yaml:"min_notice"`
	// Reminders are sent this long before an appointment ([] for none).
	Reminders []config.Duration `yaml:"reminders"`
	// CancellationCutoff: cancelling or moving is possible until this long
	// before the start.
	CancellationCutoff *config.Duration `yaml:"cancellation_cutoff"`
	// Contact is how to reach the business when the bot cannot help
	// ("call us on 020 123 4567").
	Contact string `yaml:"contact"`
	// StaffRoom, when set, gets a line for every booking, move and
	// cancellation (the bot must be in that room).
	StaffRoom string `yaml:"staff_room"`
	// Texts override or add to the service's texts per language
	// ({nl: {greet-new: "…"}}); see docs/services/appointments.md.
	Texts handlers.Texts `yaml:"texts"`
}

// ServiceConfig is one bookable service.
type ServiceConfig struct {
	ID       string          `yaml:"id"`
	Name     string          `yaml:"name"`
	Duration config.Duration `yaml:"duration"`
	// Price in minor units of the currency (2500 = €25.00).
	Price int64 `yaml:"price"`
	// Aliases are other words customers use for it, in any language
	// ("knipbeurt" for a haircut).
	Aliases []string `yaml:"aliases"`
}

// StaffConfig is one person (or chair, or room) appointments are with.
type StaffConfig struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Services this person does (ids); empty means all.
	Services []string `yaml:"services"`
	// Days this person works (mon … sun); empty means every open day.
	Days []string `yaml:"days"`
}

// Default is the barbershop every option falls back to.
func Default() Config {
	d := func(v time.Duration) *config.Duration { c := config.Duration(v); return &c }
	horizon := 30
	return Config{
		Business: "the barbershop",
		TimeZone: "Europe/Amsterdam",
		Currency: "EUR",
		Services: []ServiceConfig{
			{ID: "haircut", Name: "Haircut", Duration: config.Duration(30 * time.Minute), Price: 2500,
				Aliases: []string{"hair cut", "cut", "knippen", "knipbeurt", "kapper"}},
			{ID: "beard", Name: "Beard trim", Duration: config.Duration(15 * time.Minute), Price: 1500,
				Aliases: []string{"beard", "shave", "baard", "baard trimmen", "baard bijwerken"}},
		},
		Staff: []StaffConfig{{ID: "sam", Name: "Sam"}, {ID: "noor", Name: "Noor"}},
		Hours: map[string]string{
			"tue": "09:00-18:00", "wed": "09:00-18:00", "thu": "09:00-18:00", "fri": "09:00-18:00", "sat": "09:00-18:00",
		},
		Breaks:             []string{"12:30-13:00"},
		SlotGranularity:    d(15 * time.Minute),
		BookingHorizonDays: &horizon,
		MinNotice:          d(0),
		Reminders:          []config.Duration{config.Duration(24 * time.Hour), config.Duration(2 * time.Hour)},
		CancellationCutoff: d(2 * time.Hour),
	}
}

// withDefaults fills every option left out of c from Default. Hours and
// breaks go together: a config that sets its own hours has no default
// lunch break.
func (c Config) withDefaults() Config {
	def := Default()
	if c.Business == "" {
		c.Business = def.Business
	}
	if c.TimeZone == "" {
		c.TimeZone = def.TimeZone
	}
	if c.Currency == "" {
		c.Currency = def.Currency
	}
	if c.Services == nil {
		c.Services = def.Services
	}
	if c.Staff == nil {
		c.Staff = def.Staff
	}
	if c.Hours == nil {
		c.Hours = def.Hours
		if c.Breaks == nil {
			c.Breaks = def.Breaks
		}
	}
	if c.SlotGranularity == nil {
		c.SlotGranularity = def.SlotGranularity
	}
	if c.BookingHorizonDays == nil {
		c.BookingHorizonDays = def.BookingHorizonDays
	}
	if c.MinNotice == nil {
		c.MinNotice = def.MinNotice
	}
	if c.Reminders == nil {
		c.Reminders = def.Reminders
	}
	if c.CancellationCutoff == nil {
		c.CancellationCutoff = def.CancellationCutoff
	}
	return c
}

// granule is the unit of the no-double-booking constraint: every booking
// occupies the 5-minute granules (aligned to Unix time) its time touches.
// It is fixed, not configured, so that changing slot_granularity or the
// time zone can never let two bookings overlap unnoticed.
const granule = 5 * time.Minute

// anyone is the staff choice "whoever is free".
const anyone = "any"

// span is a period of a day, in minutes after midnight.
type span struct{ from, to int }

func (s span) String() string { return clockString(s.from) + "–" + clockString(s.to) }

func clockString(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

type service struct {
	ID, Name string
	Duration time.Duration
	Price    int64
	Aliases  []string
}

type staffMember struct {
	ID, Name string
	services map[string]bool       // nil: all
	days     map[time.Weekday]bool // nil: every open day
}

func (s staffMember) does(svc string) bool { return s.services == nil || s.services[svc] }

func (s staffMember) works(d time.Weekday) bool { return s.days == nil || s.days[d] }

// shop is the validated config.
type shop struct {
	name        string
	loc         *time.Location
	currency    string
	services    []service
	staff       []staffMember
	hours       map[time.Weekday][]span // breaks taken out
	hoursText   map[string]string       // as written, by mon … sun
	granularity time.Duration
	horizonDays int
	minNotice   time.Duration
	reminders   []time.Duration
	cutoff      time.Duration
	contact     string
	// texts are the bot's message catalogue (the service's, with the
	// business's overrides), for the dates and times it writes.
	texts     handlers.Texts
	staffRoom id.RoomID
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// newShop validates a config (defaults already applied) with errors that
// name the option.
func newShop(c Config) (*shop, error) {
	s := &shop{name: c.Business, contact: c.Contact, hours: map[time.Weekday][]span{},
		hoursText: map[string]string{}, texts: texts.Merge(c.Texts)}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time_zone %q: unknown time zone (use an IANA name like Europe/Amsterdam)", c.TimeZone)
	}
	s.loc = loc
	if !validCurrency(c.Currency) {
		return nil, fmt.Errorf("currency %q: use a three-letter ISO 4217 code like EUR", c.Currency)
	}
	s.currency = c.Currency

	g := c.SlotGranularity.D()
	if g < granule || g > 24*time.Hour || g%granule != 0 {
		return nil, fmt.Errorf("slot_granularity %s: must be a multiple of 5m between 5m and 24h", g)
	}
	s.granularity = g
	if h := *c.BookingHorizonDays; h < 1 || h > 366 {
		return nil, fmt.Errorf("booking_horizon_days %d: must be between 1 and 366", h)
	}
	s.horizonDays = *c.BookingHorizonDays
	if s.minNotice = c.MinNotice.D(); s.minNotice < 0 {
		return nil, fmt.Errorf("min_notice %s: must not be negative", s.minNotice)
	}
	if s.cutoff = c.CancellationCutoff.D(); s.cutoff < 0 {
		return nil, fmt.Errorf("cancellation_cutoff %s: must not be negative", s.cutoff)
	}
	for i, r := range c.Reminders {
		if r.D() <= 0 {
			return nil, fmt.Errorf("reminders[%d] %s: must be > 0", i, r.D())
		}
		s.reminders = append(s.reminders, r.D())
	}
	sort.Slice(s.reminders, func(i, j int) bool { return s.reminders[i] > s.reminders[j] })
	if c.StaffRoom != "" {
		if !strings.HasPrefix(c.StaffRoom, "!") || !strings.Contains(c.StaffRoom, ":") {
			return nil, fmt.Errorf("staff_room %q: use a room id like !abc:example.org", c.StaffRoom)
		}
		s.staffRoom = id.RoomID(c.StaffRoom)
	}

	if len(c.Services) == 0 {
		return nil, fmt.Errorf("services: at least one service is needed")
	}
	seen := map[string]bool{}
	for i, sc := range c.Services {
		name := fmt.Sprintf("services[%d]", i)
		if !validID(sc.ID) {
			return nil, fmt.Errorf("%s.id %q: use lowercase letters, digits, - and _", name, sc.ID)
		}
		if seen[sc.ID] {
			return nil, fmt.Errorf("%s.id %q: used twice", name, sc.ID)
		}
		seen[sc.ID] = true
		if strings.TrimSpace(sc.Name) == "" {
			return nil, fmt.Errorf("%s.name: required", name)
		}
		d := sc.Duration.D()
		if d <= 0 || d%granule != 0 || d > 12*time.Hour {
			return nil, fmt.Errorf("%s.duration %s: must be a multiple of 5m, at most 12h", name, d)
		}
		if sc.Price < 0 {
			return nil, fmt.Errorf("%s.price %d: must be ≥ 0 (minor units: 2500 = 25.00)", name, sc.Price)
		}
		s.services = append(s.services, service{ID: sc.ID, Name: sc.Name, Duration: d, Price: sc.Price, Aliases: sc.Aliases})
	}

	if len(c.Staff) == 0 {
		return nil, fmt.Errorf("staff: at least one person is needed")
	}
	seenStaff := map[string]bool{}
	for i, st := range c.Staff {
		name := fmt.Sprintf("staff[%d]", i)
		if !validID(st.ID) || st.ID == anyone {
			return nil, fmt.Errorf("%s.id %q: use lowercase letters, digits, - and _ (not %q)", name, st.ID, anyone)
		}
		if seenStaff[st.ID] {
			return nil, fmt.Errorf("%s.id %q: used twice", name, st.ID)
		}
		seenStaff[st.ID] = true
		if strings.TrimSpace(st.Name) == "" {
			return nil, fmt.Errorf("%s.name: required", name)
		}
		m := staffMember{ID: st.ID, Name: st.Name}
		for j, sv := range st.Services {
			if !seen[sv] {
				return nil, fmt.Errorf("%s.services[%d]: unknown service %q", name, j, sv)
			}
			if m.services == nil {
				m.services = map[string]bool{}
			}
			m.services[sv] = true
		}
		for j, d := range st.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				return nil, fmt.Errorf("%s.days[%d] %q: use mon, tue, wed, thu, fri, sat or sun", name, j, d)
			}
			if m.days == nil {
				m.days = map[time.Weekday]bool{}
			}
			m.days[wd] = true
		}
		s.staff = append(s.staff, m)
	}
	for i, sv := range s.services {
		if len(s.staffFor(sv.ID)) == 0 {
			return nil, fmt.Errorf("services[%d] (%s): no staff member does it", i, sv.ID)
		}
	}

	var breaks []span
	for i, b := range c.Breaks {
		sp, err := parseSpan(b)
		if err != nil {
			return nil, fmt.Errorf("breaks[%d] %q: must look like 12:30-13:00", i, b)
		}
		breaks = append(breaks, sp)
	}
	for day, v := range c.Hours {
		wd, ok := weekdays[strings.ToLower(day)]
		if !ok {
			return nil, fmt.Errorf("hours.%s: use mon, tue, wed, thu, fri, sat or sun", day)
		}
		s.hoursText[strings.ToLower(day)[:3]] = v
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || strings.EqualFold(part, "closed") {
				continue
			}
			sp, err := parseSpan(part)
			if err != nil {
				return nil, fmt.Errorf("hours.%s: %q must look like 09:00-18:00 (several separated by commas)", day, part)
			}
			s.hours[wd] = append(s.hours[wd], subtract(sp, breaks)...)
		}
		sort.Slice(s.hours[wd], func(i, j int) bool { return s.hours[wd][i].from < s.hours[wd][j].from })
		for i := 1; i < len(s.hours[wd]); i++ {
			if s.hours[wd][i].from < s.hours[wd][i-1].to {
				return nil, fmt.Errorf("hours.%s: periods overlap", day)
			}
		}
	}
	open := false
	for _, sp := range s.hours {
		open = open || len(sp) > 0
	}
	if !open {
		return nil, fmt.Errorf("hours: the business is never open")
	}
	return s, nil
}

func validID(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// parseSpan reads "09:00-18:00" ("24:00" may end a day).
func parseSpan(s string) (span, error) {
	a, z, ok := strings.Cut(s, "-")
	from, ok1 := parseHHMM(a)
	to, ok2 := parseHHMM(z)
	if !ok || !ok1 || !ok2 || to <= from {
		return span{}, fmt.Errorf("bad period %q", s)
	}
	return span{from, to}, nil
}

func parseHHMM(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, true
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// subtract takes the breaks out of a period.
func subtract(sp span, breaks []span) []span {
	out := []span{sp}
	for _, b := range breaks {
		var next []span
		for _, p := range out {
			if b.to <= p.from || b.from >= p.to {
				next = append(next, p)
				continue
			}
			if b.from > p.from {
				next = append(next, span{p.from, b.from})
			}
			if b.to < p.to {
				next = append(next, span{b.to, p.to})
			}
		}
		out = next
	}
	return out
}

func (s *shop) service(key string) (service, bool) {
	for _, sv := range s.services {
		if sv.ID == key {
			return sv, true
		}
	}
	return service{}, false
}

func (s *shop) member(key string) (staffMember, bool) {
	for _, m := range s.staff {
		if m.ID == key {
			return m, true
		}
	}
	return staffMember{}, false
}

// staffName is the display name of a staff id, or the id when it is no
// longer configured.
func (s *shop) staffName(key string) string {
	if m, ok := s.member(key); ok {
		return m.Name
	}
	return key
}

// serviceName is the lowercase name of a service for sentences.
func (s *shop) serviceName(key string) string {
	if sv, ok := s.service(key); ok {
		return strings.ToLower(sv.Name)
	}
	return key
}

func (s *shop) staffFor(svc string) []staffMember {
	var out []staffMember
	for _, m := range s.staff {
		if m.does(svc) {
			out = append(out, m)
		}
	}
	return out
}

// --- money ---

// minorDigits lists the currencies whose minor unit is not 1/100.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// formatMoney renders minor units: 2500 EUR → "€25.00", 1200 SEK →
// "12.00 SEK", 500 JPY → "¥500".
func formatMoney(minor int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	neg := minor < 0
	if neg {
		minor = -minor
	}
	var num string
	if digits == 0 {
		num = fmt.Sprint(minor)
	} else {
		div := int64(1)
		for range digits {
			div *= 10
		}
		num = fmt.Sprintf("%d.%0*d", minor/div, digits, minor%div)
	}
	if neg {
		num = "-" + num
	}
	if sym, ok := currencySymbols[currency]; ok {
		return sym + num
	}
	return num + " " + currency
}
