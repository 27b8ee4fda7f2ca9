package ordering

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/handlers/backoffice"
)

// DefaultCatalog is the demo pizzeria a bot sells from when its config
// gives no catalog: four pizzas in three sizes, drinks and a dessert, in
// euros, open every day 11:00–23:00 Amsterdam time.
func DefaultCatalog() CatalogConfig {
	no := false
	sizes := func(s, m, l Price) []SizeConfig {
		return []SizeConfig{{"small", "Small 25 cm", s}, {"medium", "Medium 30 cm", m}, {"large", "Large 35 cm", l}}
	}
	return CatalogConfig{
		Currency:    "EUR",
		TimeZone:    "Europe/Amsterdam",
		Hours:       map[string]string{"daily": "11:00-23:00"},
		DeliveryFee: 250,
		Categories: []CategoryConfig{
			{ID: "pizza", Name: "Pizzas"},
			{ID: "drinks", Name: "Drinks"},
			{ID: "desserts", Name: "Desserts"},
		},
		Items: []ItemConfig{
			{ID: "margherita", Name: "Margherita", Category: "pizza", Description: "Tomato, mozzarella, basil",
				Tags: []string{"vegetarian", "classic"}, Sizes: sizes(850, 1050, 1250)},
			{ID: "pepperoni", Name: "Pepperoni", Category: "pizza", Description: "Tomato, mozzarella, spicy pepperoni",
				Tags: []string{"spicy", "meat"}, Sizes: sizes(950, 1150, 1400)},
			{ID: "quattro-formaggi", Name: "Quattro formaggi", Category: "pizza", Description: "Mozzarella, gorgonzola, fontina, parmesan",
				Tags: []string{"vegetarian", "cheese"}, Sizes: sizes(1000, 1250, 1450)},
			{ID: "vegana", Name: "Vegana", Category: "pizza", Description: "Tomato, grilled vegetables, vegan cheese, rocket",
				Tags: []string{"vegan", "vegetarian"}, Sizes: sizes(950, 1150, 1350)},
			{ID: "calzone", Name: "Calzone", Category: "pizza", Description: "Folded pizza with ham, mushrooms and ricotta",
				Tags: []string{"meat"}, Price: 1300, Available: &no},
			{ID: "cola", Name: "Cola", Category: "drinks", Description: "33 cl can", Price: 300, Aliases: []string{"coke", "coca cola"}},
			{ID: "water", Name: "Sparkling water", Category: "drinks", Description: "50 cl bottle", Tags: []string{"vegan"}, Price: 250,
				Aliases: []string{"spa", "bruiswater"}},
			{ID: "lemonade", Name: "Homemade lemonade", Category: "drinks", Description: "Lemon, mint, cane sugar", Aliases: []string{"limonade"},
				Tags: []string{"vegan"}, Sizes: []SizeConfig{{"small", "Small 30 cl", 300}, {"large", "Large 50 cl", 450}}},
			{ID: "tiramisu", Name: "Tiramisu", Category: "desserts", Description: "Mascarpone, espresso, cocoa",
				Tags: []string{"vegetarian"}, Price: 550},
		},
	}
}

// source provides the catalog: built once from config, or read from a
// catalog file and read again when the file changes, so a shop can change
// a price or mark an item sold out without a restart. A file that no
// longer validates is logged and the last good catalog kept. Overrides
// (staff's edits in the business console, see settings.go) apply on top
// of either.
type source struct {
	file string // "" when the catalog is in the config
	base CatalogConfig

	mu      sync.Mutex
	cc      CatalogConfig     // the catalog as configured, before overrides
	over    map[string]string // the console's overrides
	cat     *Catalog
	modTime time.Time
	size    int64
}

func newSource(cc CatalogConfig, file string) (*source, error) {
	s := &source{file: file, base: cc}
	if file == "" {
		cat, err := Build(cc, "catalog.")
		if err != nil {
			return nil, err
		}
		s.cc, s.cat = cc, cat
		return s, nil
	}
	if len(cc.Items) > 0 {
		return nil, errors.New("catalog.items: give the items either inline or in catalog_file, not both")
	}
	if !isCSV(file) && (cc.Currency != "" || cc.TimeZone != "" || len(cc.Hours) > 0 || cc.DeliveryFee != 0 || len(cc.Categories) > 0) {
		return nil, errors.New("catalog: with a YAML catalog_file the whole catalog goes in that file; remove the catalog block")
	}
	file2, fi, err := loadFile(file, cc)
	if err != nil {
		return nil, err
	}
	cat, err := Build(file2, where(file))
	if err != nil {
		return nil, err
	}
	s.cc, s.cat, s.modTime, s.size = file2, cat, fi.ModTime(), fi.Size()
	return s, nil
}

func where(file string) string {
	if isCSV(file) {
		return "catalog."
	}
	return filepath.Base(file) + ": "
}

// get returns the current catalog, reloading a changed file.
func (s *source) get(ctx context.Context) *Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == "" {
		return s.cat
	}
	fi, err := os.Stat(s.file)
	if err != nil || (fi.ModTime().Equal(s.modTime) && fi.Size() == s.size) {
		return s.cat
	}
	cc, fi, err := loadFile(s.file, s.base)
	s.modTime, s.size = fi.ModTime(), fi.Size() // a bad file is reported once, not on every message
	var cat *Catalog
	if err == nil {
		if cat, err = Build(cc, where(s.file)); err == nil {
			// Overrides of items the file no longer has are left out.
			over, _ := applyOverrides(cc, s.over, false)
			if withOver, oerr := Build(over, where(s.file)); oerr == nil {
				cat = withOver
			} else {
				zerolog.Ctx(ctx).Error().Err(oerr).Str("file", s.file).Msg("catalog file changed; the console's edits no longer fit it and are not applied")
			}
		}
	}
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("file", s.file).Msg("catalog file changed but is invalid; keeping the previous catalog")
		return s.cat
	}
	zerolog.Ctx(ctx).Info().Str("file", s.file).Int("items", len(cat.Items)).Msg("catalog reloaded")
	s.cc, s.cat = cc, cat
	return cat
}

// configured returns the catalog as configured, and the overrides.
func (s *source) configured() (CatalogConfig, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cc, s.over
}

// setOverrides replaces the overrides, refusing all of them when one does
// not fit the catalog.
func (s *source) setOverrides(over map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc, errs := applyOverrides(s.cc, over, true)
	if len(errs) > 0 {
		return errs
	}
	cat, err := Build(cc, "")
	if err != nil {
		return backoffice.FieldErrors{{Msg: err.Error()}}
	}
	s.cat, s.over = cat, over
	return nil
}

func isCSV(file string) bool { return strings.EqualFold(filepath.Ext(file), ".csv") }

// loadFile reads a YAML catalog (the same keys as the inline catalog
// block) or a CSV of items, whose currency, hours and categories come
// from the inline block.
func loadFile(file string, inline CatalogConfig) (CatalogConfig, os.FileInfo, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return CatalogConfig{}, nil, fmt.Errorf("catalog_file: %w", err)
	}
	if fi.Size() > 4<<20 {
		return CatalogConfig{}, fi, fmt.Errorf("catalog_file %s: larger than 4 MiB", file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return CatalogConfig{}, fi, fmt.Errorf("catalog_file: %w", err)
	}
	if isCSV(file) {
		cc := inline
		if cc.Items, cc.Categories, err = parseCSV(data, filepath.Base(file), inline.Categories); err != nil {
			return CatalogConfig{}, fi, err
		}
		return cc, fi, nil
	}
	var cc CatalogConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cc); err != nil && !errors.Is(err, io.EOF) {
		return CatalogConfig{}, fi, fmt.Errorf("%s: %s", file, yamlError(err))
	}
	return cc, fi, nil
}

var fieldRe = regexp.MustCompile(`field (\S+) not found in type \S+`)

func yamlError(err error) string {
	msg := fieldRe.ReplaceAllString(err.Error(), `unknown key "$1"`)
	msg = strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:"))
	return strings.Join(strings.Fields(msg), " ")
}

// csvColumns are the columns a CSV catalog may have; id, name, category
// and price are required. One row per item, or one row per size of an
// item (same id, a size column).
var csvColumns = []string{"id", "name", "category", "description", "size", "size_name", "price", "available", "tags"}

// parseCSV reads items from CSV. A category that is not among the
// categories given inline becomes one, named as written.
func parseCSV(data []byte, name string, categories []CategoryConfig) ([]ItemConfig, []CategoryConfig, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: no header row: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range csvColumns {
			known = known || c == h
		}
		if !known {
			return nil, nil, fmt.Errorf("%s line 1: unknown column %q (columns: %s)", name, h, strings.Join(csvColumns, ", "))
		}
		col[h] = i
	}
	for _, req := range []string{"id", "name", "category", "price"} {
		if _, ok := col[req]; !ok {
			return nil, nil, fmt.Errorf("%s line 1: column %q is required", name, req)
		}
	}
	cats := append([]CategoryConfig{}, categories...)
	catID := map[string]string{} // id or lower-case name → id
	for _, c := range cats {
		catID[c.ID], catID[strings.ToLower(c.Name)] = c.ID, c.ID
	}
	var items []ItemConfig
	index := map[string]int{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue
		}
		where := fmt.Sprintf("%s line %d", name, line)
		price, err := strconv.ParseInt(get("price"), 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: price %q must be a whole number of minor units (write 1250 for 12.50)", where, get("price"))
		}
		category := get("category")
		id, ok := catID[strings.ToLower(category)]
		if !ok && category != "" {
			id = slug(category)
			cats = append(cats, CategoryConfig{ID: id, Name: category})
			catID[strings.ToLower(category)], catID[id] = id, id
		}
		var avail *bool
		switch strings.ToLower(get("available")) {
		case "", "yes", "true", "1", "y":
		case "no", "false", "0", "n", "sold out":
			f := false
			avail = &f
		default:
			return nil, nil, fmt.Errorf("%s: available %q must be yes or no", where, get("available"))
		}
		if size := get("size"); size != "" {
			sc := SizeConfig{ID: size, Name: get("size_name"), Price: Price(price)}
			if i, ok := index[get("id")]; ok {
				items[i].Sizes = append(items[i].Sizes, sc)
				continue
			}
			price = 0
			items = append(items, ItemConfig{Sizes: []SizeConfig{sc}})
		} else {
			items = append(items, ItemConfig{Price: Price(price)})
		}
		it := &items[len(items)-1]
		it.ID, it.Name, it.Category, it.Description, it.Available, it.where = get("id"), get("name"), id, get("description"), avail, where
		for _, t := range strings.FieldsFunc(get("tags"), func(r rune) bool { return r == ';' || r == '|' }) {
			it.Tags = append(it.Tags, t)
		}
		index[it.ID] = len(items) - 1
	}
	return items, cats, nil
}

func slug(s string) string {
	return strings.Join(words(s), "-")
}
