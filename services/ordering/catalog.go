package ordering

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// CatalogConfig is a catalog as written in the bot's config block or in a
// catalog file: what is sold, at what price, and when the shop is open.
type CatalogConfig struct {
	// Currency is the ISO 4217 code every price is in (EUR, USD…).
	Currency string `yaml:"currency"`
	// TimeZone names the zone the hours are in (Europe/Amsterdam).
	TimeZone string `yaml:"time_zone"`
	// Hours per weekday: keys mon…sun, or daily for every day not listed;
	// values "11:00-23:00", several spans separated by commas, or
	// "closed". No hours means always open.
	Hours map[string]string `yaml:"hours"`
	// DeliveryFee is added to delivery orders, in minor units.
	DeliveryFee Price            `yaml:"delivery_fee"`
	Categories  []CategoryConfig `yaml:"categories"`
	Items       []ItemConfig     `yaml:"items"`
}

// CategoryConfig is one section of the menu.
type CategoryConfig struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

// ItemConfig is one thing on the menu: with one price, or with sizes
// that each have their own.
type ItemConfig struct {
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Category    string   `yaml:"category"`
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags"`
	// Aliases are other names customers use for the item ("coke" for
	// Cola), in any language.
	Aliases []string     `yaml:"aliases"`
	Price   Price        `yaml:"price"`
	Sizes   []SizeConfig `yaml:"sizes"`
	// Available is true unless set to false (sold out today).
	Available *bool `yaml:"available"`
	// Image is a photo of the item shown with the menu: a PNG, JPEG, GIF
	// or WebP file (a path relative to the config file's folder) or an
	// https:// URL. It is uploaded to the homeserver once.
	Image string `yaml:"image"`

	// where names the item in errors when it came from a CSV line.
	where string
}

// SizeConfig is one size of an item (small, large…) and its price.
type SizeConfig struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"`
	Price Price  `yaml:"price"`
}

// Price is an amount in minor units (cents): 1250 is 12.50. Written as a
// whole number in YAML; a decimal is refused rather than rounded.
type Price int64

// UnmarshalYAML accepts whole numbers only.
func (p *Price) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: price %q must be a whole number of minor units (write 1250 for 12.50)", n.Line, n.Value)
	}
	*p = Price(v)
	return nil
}

// Catalog is a validated catalog, ready to sell from.
type Catalog struct {
	Currency    string
	Location    *time.Location
	DeliveryFee int64
	Categories  []Category
	Items       []*Item
	byID        map[string]*Item
	hours       map[time.Weekday][]span
	alwaysOpen  bool
	// sizeWords are the words that name a size of any item ("large").
	sizeWords map[string]bool
}

// Category is one section of the menu.
type Category struct{ ID, Name string }

// Item is one thing on the menu.
type Item struct {
	ID, Name, Category, Description string
	Tags                            []string
	// Price is the price of an item without sizes.
	Price     int64
	Sizes     []Size
	Available bool
	// Image is the item's photo as configured (a path or an https URL),
	// or "".
	Image string
	// words are what a search matches: name, id, description, tags,
	// category name.
	words     []string
	nameWords []string
}

// Size is one size of an item.
type Size struct {
	ID, Name string
	Price    int64
}

// Short is the word a size goes by in a sentence ("large").
func (s Size) Short() string {
	if w := words(s.Name); len(w) > 0 {
		return w[0]
	}
	return strings.ToLower(s.ID)
}

// Size finds a size by id.
func (it *Item) Size(id string) (Size, bool) {
	for _, s := range it.Sizes {
		if s.ID == id {
			return s, true
		}
	}
	return Size{}, false
}

// PriceOf is the price of the item in the given size ("" for an item
// without sizes); ok is false when the size does not exist.
func (it *Item) PriceOf(size string) (int64, bool) {
	if len(it.Sizes) == 0 {
		return it.Price, size == ""
	}
	s, ok := it.Size(size)
	return s.Price, ok
}

// LineName is how a line of this item and size reads: "Margherita (Large)".
func (it *Item) LineName(size string) string {
	if s, ok := it.Size(size); ok {
		return it.Name + " (" + s.Name + ")"
	}
	return it.Name
}

// FromPrice is the lowest price of the item.
func (it *Item) FromPrice() int64 {
	if len(it.Sizes) == 0 {
		return it.Price
	}
	low := it.Sizes[0].Price
	for _, s := range it.Sizes[1:] {
		low = min(low, s.Price)
	}
	return low
}

// Item finds an item by id.
func (c *Catalog) Item(id string) *Item { return c.byID[id] }

// ItemsIn lists a category's items in menu order.
func (c *Catalog) ItemsIn(category string) []*Item {
	var out []*Item
	for _, it := range c.Items {
		if it.Category == category {
			out = append(out, it)
		}
	}
	return out
}

// Category finds a category by id.
func (c *Catalog) Category(id string) (Category, bool) {
	for _, cat := range c.Categories {
		if cat.ID == id {
			return cat, true
		}
	}
	return Category{}, false
}

var (
	slugRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Limits keep a catalog within what a chat menu can show and a state row
// can hold.
const (
	maxItems = 500
	maxSizes = 10
)

// Build validates a catalog and prepares it. where prefixes error paths
// ("catalog." or "menu.yaml: "), so an error reads
// "catalog.items[3].price: must be > 0".
func Build(cc CatalogConfig, where string) (*Catalog, error) {
	path := func(format string, args ...any) string { return where + fmt.Sprintf(format, args...) }
	cat := &Catalog{Currency: cc.Currency, DeliveryFee: int64(cc.DeliveryFee), byID: map[string]*Item{}, sizeWords: map[string]bool{}}
	if !currencyRe.MatchString(cc.Currency) {
		if cc.Currency == "" {
			return nil, fmt.Errorf("%s: required (an ISO 4217 code such as EUR)", path("currency"))
		}
		return nil, fmt.Errorf("%s: %q is not a currency code (use three capital letters, such as EUR)", path("currency"), cc.Currency)
	}
	tz := cc.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%s: unknown time zone %q (use an IANA name such as Europe/Amsterdam)", path("time_zone"), tz)
	}
	cat.Location = loc
	if cat.hours, err = parseHours(cc.Hours, path("hours")); err != nil {
		return nil, err
	}
	cat.alwaysOpen = len(cc.Hours) == 0
	if cc.DeliveryFee < 0 {
		return nil, fmt.Errorf("%s: must be ≥ 0", path("delivery_fee"))
	}

	known := map[string]bool{}
	for i, c := range cc.Categories {
		if !slugRe.MatchString(c.ID) {
			return nil, fmt.Errorf("%s: %q must be lower-case letters, digits, - or _", path("categories[%d].id", i), c.ID)
		}
		if known[c.ID] {
			return nil, fmt.Errorf("%s: %q is used twice", path("categories[%d].id", i), c.ID)
		}
		known[c.ID] = true
		name := strings.TrimSpace(c.Name)
		if name == "" {
			return nil, fmt.Errorf("%s: required", path("categories[%d].name", i))
		}
		cat.Categories = append(cat.Categories, Category{ID: c.ID, Name: name})
	}
	if len(cc.Items) == 0 {
		return nil, fmt.Errorf("%s: the catalog has no items", path("items"))
	}
	if len(cc.Items) > maxItems {
		return nil, fmt.Errorf("%s: %d items; at most %d", path("items"), len(cc.Items), maxItems)
	}
	for i, ic := range cc.Items {
		ip := func(field string) string {
			if ic.where != "" {
				return ic.where + ": " + field
			}
			return path("items[%d].%s", i, field)
		}
		if !slugRe.MatchString(ic.ID) {
			return nil, fmt.Errorf("%s: %q must be lower-case letters, digits, - or _", ip("id"), ic.ID)
		}
		if cat.byID[ic.ID] != nil {
			return nil, fmt.Errorf("%s: %q is used twice", ip("id"), ic.ID)
		}
		it := &Item{ID: ic.ID, Name: strings.TrimSpace(ic.Name), Category: ic.Category,
			Description: strings.TrimSpace(ic.Description), Price: int64(ic.Price), Available: ic.Available == nil || *ic.Available,
			Image: strings.TrimSpace(ic.Image)}
		if it.Name == "" {
			return nil, fmt.Errorf("%s: required", ip("name"))
		}
		if err := checkImageRef(it.Image); err != nil {
			return nil, fmt.Errorf("%s: %w", ip("image"), err)
		}
		if !known[ic.Category] {
			ids := make([]string, len(cat.Categories))
			for j, c := range cat.Categories {
				ids[j] = c.ID
			}
			return nil, fmt.Errorf("%s: unknown category %q (categories: %s)", ip("category"), ic.Category, strings.Join(ids, ", "))
		}
		for _, t := range ic.Tags {
			if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
				it.Tags = append(it.Tags, t)
			}
		}
		switch {
		case len(ic.Sizes) > 0 && ic.Price != 0:
			return nil, fmt.Errorf("%s: give a price or sizes, not both", ip("price"))
		case len(ic.Sizes) == 0 && ic.Price <= 0:
			return nil, fmt.Errorf("%s: must be > 0 (in minor units: 1250 for 12.50), or give sizes", ip("price"))
		case len(ic.Sizes) > maxSizes:
			return nil, fmt.Errorf("%s: %d sizes; at most %d", ip("sizes"), len(ic.Sizes), maxSizes)
		}
		for j, sc := range ic.Sizes {
			sp := func(field string) string { return ip(fmt.Sprintf("sizes[%d].%s", j, field)) }
			if !slugRe.MatchString(sc.ID) {
				return nil, fmt.Errorf("%s: %q must be lower-case letters, digits, - or _", sp("id"), sc.ID)
			}
			if _, dup := it.Size(sc.ID); dup {
				return nil, fmt.Errorf("%s: %q is used twice", sp("id"), sc.ID)
			}
			if sc.Price <= 0 {
				return nil, fmt.Errorf("%s: must be > 0 (in minor units: 1250 for 12.50)", sp("price"))
			}
			s := Size{ID: sc.ID, Name: strings.TrimSpace(sc.Name), Price: int64(sc.Price)}
			if s.Name == "" {
				s.Name = strings.ToUpper(sc.ID[:1]) + sc.ID[1:]
			}
			it.Sizes = append(it.Sizes, s)
			cat.sizeWords[s.Short()] = true
			cat.sizeWords[s.ID] = true
		}
		catName := ""
		if c, ok := cat.Category(it.Category); ok {
			catName = c.Name
		}
		it.nameWords = append(words(it.Name), words(strings.ReplaceAll(it.ID, "-", " "))...)
		it.nameWords = append(it.nameWords, words(strings.Join(ic.Aliases, " "))...)
		it.words = append(append(append([]string{}, it.nameWords...), words(it.Description)...), words(catName)...)
		it.words = append(it.words, words(strings.Join(it.Tags, " "))...)
		cat.Items = append(cat.Items, it)
		cat.byID[it.ID] = it
	}
	return cat, nil
}

// words splits text into lower-case words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// --- opening hours ---

// span is an opening period in minutes since midnight, to exclusive.
type span struct{ from, to int }

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseHours(h map[string]string, where string) (map[time.Weekday][]span, error) {
	out := map[time.Weekday][]span{}
	parse := func(key, v string) ([]span, error) {
		var spans []span
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || strings.EqualFold(part, "closed") {
				continue
			}
			a, z, ok := strings.Cut(part, "-")
			from, err1 := minutes(a)
			to, err2 := minutes(z)
			if !ok || err1 != nil || err2 != nil || to <= from {
				return nil, fmt.Errorf("%s.%s: %q must look like 11:00-23:00 (several separated by commas, or closed; 24:00 ends at midnight)", where, key, part)
			}
			spans = append(spans, span{from, to})
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
		return spans, nil
	}
	if v, ok := h["daily"]; ok {
		spans, err := parse("daily", v)
		if err != nil {
			return nil, err
		}
		for _, wd := range weekdays {
			out[wd] = spans
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error for the same config
	for _, k := range keys {
		if k == "daily" {
			continue
		}
		wd, ok := weekdays[strings.ToLower(k)]
		if !ok {
			return nil, fmt.Errorf("%s.%s: use mon, tue, wed, thu, fri, sat, sun or daily", where, k)
		}
		spans, err := parse(k, h[k])
		if err != nil {
			return nil, err
		}
		out[wd] = spans
	}
	return out, nil
}

func minutes(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// OpenAt says whether the shop takes orders at t.
func (c *Catalog) OpenAt(t time.Time) bool {
	if c.alwaysOpen {
		return true
	}
	t = t.In(c.Location)
	m := t.Hour()*60 + t.Minute()
	for _, s := range c.hours[t.Weekday()] {
		if m >= s.from && m < s.to {
			return true
		}
	}
	return false
}

// NextOpening is the next time after t the shop opens, within a week.
func (c *Catalog) NextOpening(t time.Time) (time.Time, bool) {
	t = t.In(c.Location)
	for d := 0; d <= 7; d++ {
		day := time.Date(t.Year(), t.Month(), t.Day()+d, 0, 0, 0, 0, c.Location)
		for _, s := range c.hours[day.Weekday()] {
			open := time.Date(day.Year(), day.Month(), day.Day(), s.from/60, s.from%60, 0, 0, c.Location)
			if open.After(t) {
				return open, true
			}
		}
	}
	return time.Time{}, false
}

// ClosedText says the shop is closed and when it opens next: "We're
// closed right now. We open at 11:00 tomorrow."
func (c *Catalog) ClosedText(now time.Time) string {
	next, ok := c.NextOpening(now)
	if !ok {
		return "We're closed right now and not taking orders."
	}
	now = now.In(c.Location)
	days := int(time.Date(next.Year(), next.Month(), next.Day(), 0, 0, 0, 0, time.UTC).Sub(
		time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)).Hours() / 24)
	when := "on " + next.Weekday().String()
	switch days {
	case 0:
		when = "today"
	case 1:
		when = "tomorrow"
	}
	return fmt.Sprintf("We're closed right now. We open at %s %s.", next.Format("15:04"), when)
}

// --- money ---

// minorDigits are the currencies whose minor unit is not a hundredth.
var minorDigits = map[string]int{"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "UGX": 0,
	"BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3, "TND": 3, "IQD": 3, "LYD": 3}

var symbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

// Money formats an amount in minor units: "€12.50", "CHF 12.50".
func (c *Catalog) Money(v int64) string { return formatMoney(v, c.Currency) }

func formatMoney(v int64, currency string) string {
	digits, ok := minorDigits[currency]
	if !ok {
		digits = 2
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	amount := strconv.FormatInt(v, 10)
	if digits > 0 {
		unit := int64(1)
		for range digits {
			unit *= 10
		}
		amount = fmt.Sprintf("%d.%0*d", v/unit, digits, v%unit)
	}
	if s, ok := symbols[currency]; ok {
		return sign + s + amount
	}
	return sign + currency + " " + amount
}
