package ordering

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bizbots/bizbots/handlers/backoffice"
)

// What staff may change in the business console (backoffice.Settings):
// item names, categories, prices and sold-out, category names, opening
// hours per day and the welcome texts. The config (or catalog file) stays
// the default; an override replaces one value until it is reset.

var _ backoffice.Settings = (*Bot)(nil)

// hourKeys are the opening-hours settings, in the order staff read them.
var hourKeys = []string{"daily", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

var dayNames = map[string]string{"daily": "Every day not listed below", "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday",
	"thu": "Thursday", "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}

// Settings implements backoffice.Settings.
func (b *Bot) Settings() []backoffice.Setting {
	def, over := b.src.configured()
	now, _ := applyOverrides(def, over, false)
	var out []backoffice.Setting
	add := func(s backoffice.Setting, defVal, curVal string) {
		s.Default, s.Value = defVal, curVal
		out = append(out, s)
	}
	catName := func(cc CatalogConfig, id string) string {
		for _, c := range cc.Categories {
			if c.ID == id {
				return c.Name
			}
		}
		return id
	}
	for i, it := range def.Items {
		cur := now.Items[i]
		group := catName(now, cur.Category) + " · " + cur.Name
		k := "item." + it.ID + "."
		add(backoffice.Setting{Key: k + "name", Group: group, Label: "Name", Kind: backoffice.Text}, it.Name, cur.Name)
		add(backoffice.Setting{Key: k + "category", Group: group, Label: "Category", Kind: backoffice.Text,
			Help: "One of: " + categoryIDs(now)}, it.Category, cur.Category)
		if len(it.Sizes) == 0 {
			add(backoffice.Setting{Key: k + "price", Group: group, Label: "Price", Kind: backoffice.Money},
				backoffice.FormatMoney(int64(it.Price)), backoffice.FormatMoney(int64(cur.Price)))
		}
		for j, sz := range it.Sizes {
			name := sz.Name
			if name == "" {
				name = sz.ID
			}
			add(backoffice.Setting{Key: k + "size." + sz.ID + ".price", Group: group, Label: "Price, " + name, Kind: backoffice.Money},
				backoffice.FormatMoney(int64(sz.Price)), backoffice.FormatMoney(int64(cur.Sizes[j].Price)))
		}
		add(backoffice.Setting{Key: k + "sold_out", Group: group, Label: "Sold out", Kind: backoffice.SoldOut}, soldOut(it), soldOut(cur))
	}
	for i, c := range def.Categories {
		add(backoffice.Setting{Key: "category." + c.ID + ".name", Group: "Categories", Label: c.ID, Kind: backoffice.Text}, c.Name, now.Categories[i].Name)
	}
	for _, d := range hourKeys {
		label := dayNames[d]
		add(backoffice.Setting{Key: "hours." + d, Group: "Opening hours (" + timeZone(def) + ")", Label: label, Kind: backoffice.Text,
			Help: `"11:00-23:00", several spans with commas, "closed", or empty. No hours at all: always open.`}, def.Hours[d], now.Hours[d])
	}
	out = append(out, b.texts.Settings("Welcome texts")...)
	return out
}

func timeZone(cc CatalogConfig) string {
	if cc.TimeZone == "" {
		return "UTC"
	}
	return cc.TimeZone
}

func categoryIDs(cc CatalogConfig) string {
	ids := make([]string, len(cc.Categories))
	for i, c := range cc.Categories {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

func soldOut(it ItemConfig) string {
	if it.Available != nil && !*it.Available {
		return "yes"
	}
	return "no"
}

// ApplySettings implements backoffice.Settings: the catalog and the texts
// change together, or not at all.
func (b *Bot) ApplySettings(over map[string]string) error {
	catOver := map[string]string{}
	for k, v := range over {
		if !strings.HasPrefix(k, backoffice.TextPrefix) {
			catOver[k] = v
		}
	}
	errs := b.texts.Check(over)
	cc, _ := b.src.configured()
	if _, e := applyOverrides(cc, catOver, true); len(e) > 0 {
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		return errs
	}
	if err := b.src.setOverrides(catOver); err != nil {
		return err
	}
	b.texts.Apply(over)
	return nil
}

// applyOverrides returns cc with the overrides applied (a copy; cc is
// not changed). strict refuses overrides of things cc does not have;
// otherwise they are left out (a catalog file that dropped an item).
func applyOverrides(cc CatalogConfig, over map[string]string, strict bool) (CatalogConfig, backoffice.FieldErrors) {
	out := cc
	out.Items = slices.Clone(cc.Items)
	out.Categories = slices.Clone(cc.Categories)
	out.Hours = map[string]string{}
	for k, v := range cc.Hours {
		out.Hours[k] = v
	}
	var errs backoffice.FieldErrors
	bad := func(k, format string, args ...any) {
		errs = append(errs, backoffice.FieldError{Key: k, Msg: fmt.Sprintf(format, args...)})
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := strings.TrimSpace(over[k])
		switch {
		case strings.HasPrefix(k, "hours."):
			d := strings.TrimPrefix(k, "hours.")
			if !slices.Contains(hourKeys, d) {
				if strict {
					bad(k, "there is no such day")
				}
				continue
			}
			if v == "" {
				delete(out.Hours, d)
				continue
			}
			if _, err := parseHours(map[string]string{d: v}, ""); err != nil {
				bad(k, "%q is not opening hours: write them like 11:00-23:00, several spans with commas, or closed", v)
				continue
			}
			out.Hours[d] = v
		case strings.HasPrefix(k, "category."):
			i := slices.IndexFunc(out.Categories, func(c CategoryConfig) bool { return k == "category."+c.ID+".name" })
			switch {
			case i < 0:
				if strict {
					bad(k, "there is no such category")
				}
			case v == "":
				bad(k, "a category needs a name")
			default:
				out.Categories[i].Name = v
			}
		case strings.HasPrefix(k, "item."):
			i := slices.IndexFunc(out.Items, func(it ItemConfig) bool { return strings.HasPrefix(k, "item."+it.ID+".") })
			if i < 0 {
				if strict {
					bad(k, "there is no such item")
				}
				continue
			}
			it := out.Items[i]
			field := strings.TrimPrefix(k, "item."+it.ID+".")
			switch {
			case field == "name":
				if v == "" {
					bad(k, "an item needs a name")
					continue
				}
				it.Name = v
			case field == "category":
				if !slices.ContainsFunc(out.Categories, func(c CategoryConfig) bool { return c.ID == v }) {
					bad(k, "%q is not a category; use one of: %s", v, categoryIDs(out))
					continue
				}
				it.Category = v
			case field == "price" && len(it.Sizes) == 0:
				p, err := parsePrice(v)
				if err != nil {
					bad(k, "%s", err)
					continue
				}
				it.Price = p
			case strings.HasPrefix(field, "size.") && strings.HasSuffix(field, ".price"):
				sid := strings.TrimSuffix(strings.TrimPrefix(field, "size."), ".price")
				j := slices.IndexFunc(it.Sizes, func(s SizeConfig) bool { return s.ID == sid })
				if j < 0 {
					if strict {
						bad(k, "the item has no such size")
					}
					continue
				}
				p, err := parsePrice(v)
				if err != nil {
					bad(k, "%s", err)
					continue
				}
				it.Sizes = slices.Clone(it.Sizes)
				it.Sizes[j].Price = p
			case field == "sold_out":
				switch v {
				case "yes":
					f := false
					it.Available = &f
				case "no", "":
					it.Available = nil
				default:
					bad(k, "sold out is yes or no")
					continue
				}
			default:
				if strict {
					bad(k, "there is no such setting")
				}
				continue
			}
			out.Items[i] = it
		default:
			if strict {
				bad(k, "there is no such setting")
			}
		}
	}
	return out, errs
}

func parsePrice(v string) (Price, error) {
	p, err := backoffice.ParseMoney(v)
	if err != nil {
		return 0, err
	}
	if p <= 0 {
		return 0, fmt.Errorf("a price must be more than 0.00")
	}
	return Price(p), nil
}
