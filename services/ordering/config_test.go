package ordering_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/services"
	"github.com/bizbots/bizbots/services/ordering"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func build(t *testing.T, dir, block string) error {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(block), &node); err != nil {
		t.Fatal(err)
	}
	b := config.Bot{Localpart: "pizza", DisplayName: "Pizza Place", Service: ordering.ServiceID}
	if len(node.Content) > 0 {
		b.Config = *node.Content[0]
	}
	db := storetest.New(t, store.SQLite)
	_, err := services.Build(services.Env{Bot: b, ConfigFile: filepath.Join(dir, "config.yaml"), DB: db})
	return err
}

func TestEmptyConfigIsTheDemoPizzeria(t *testing.T) {
	if err := build(t, t.TempDir(), ""); err != nil {
		t.Fatal(err)
	}
	if err := build(t, t.TempDir(), "staff_room: '!kitchen:example.org'\ncart_ttl: 30m\n"); err != nil {
		t.Fatal(err)
	}
	cat, err := ordering.Build(ordering.DefaultCatalog(), "catalog.")
	if err != nil {
		t.Fatal(err)
	}
	if cat.Currency != "EUR" || cat.Location.String() != "Europe/Amsterdam" || len(cat.Items) < 6 || cat.HoursText() != "every day 11:00–23:00" {
		t.Fatalf("default catalog: %+v", cat)
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	item := func(extra string) string {
		return "catalog:\n  currency: EUR\n  categories: [{id: pizza, name: Pizzas}]\n  items:\n    - {id: m, name: M, category: pizza, price: 100}\n    - {" + extra + "}\n"
	}
	for block, want := range map[string]string{
		"colour: red\n":                                                                      `unknown key "colour"`,
		"staff_room: '#kitchen:example.org'\n":                                               `staff_room: "#kitchen:example.org" is not a room id`,
		"cart_ttl: 10s\n":                                                                    "cart_ttl: 10s must be between 1m and 720h",
		"staff_room: '!k:x'\nstaff: [chef]\n":                                                `staff[0]: "chef" is not a Matrix user id`,
		"staff: ['@chef:x']\n":                                                               "staff: set staff_room too",
		"staff_room: '!k:x'\nstaff_power_level: -5\n":                                        "staff_power_level: -5 is negative",
		"staff_room: '!k:x'\nstaff: ['@chef:x']\nstaff_power_level: 50\n":                    "staff_power_level: set it or staff, not both",
		"cart_ttl: soon\n":                                                                   `"soon" is not a duration`,
		item("id: x, name: X, category: pizza, price: 0"):                                    "catalog.items[1].price: must be > 0",
		item("id: x, name: X, category: pizza, price: 12.50"):                                `price "12.50" must be a whole number of minor units`,
		item("id: x, name: X, price: 100, category: drinks"):                                 `catalog.items[1].category: unknown category "drinks" (categories: pizza)`,
		item("id: x, name: X, category: pizza, sizes: [{id: s, price: -1}]"):                 "catalog.items[1].sizes[0].price: must be > 0",
		item("id: x, name: X, category: pizza, price: 5, sizes: [{id: s, price: 1}]"):        "catalog.items[1].price: give a price or sizes, not both",
		item("name: X, category: pizza, price: 5, id: m"):                                    `catalog.items[1].id: "m" is used twice`,
		item("name: X, category: pizza, price: 5, id: 'Big One'"):                            `catalog.items[1].id: "Big One" must be lower-case letters`,
		strings.Replace(item("id: x, name: X, category: pizza, price: 5"), "EUR", "euro", 1): `catalog.currency: "euro" is not a currency code`,
		strings.Replace(item("id: x, name: X, category: pizza, price: 5"), "currency: EUR", "currency: EUR\n  time_zone: Europe/Amsterdm", 1):     `catalog.time_zone: unknown time zone "Europe/Amsterdm"`,
		strings.Replace(item("id: x, name: X, category: pizza, price: 5"), "currency: EUR", "currency: EUR\n  hours: {mon: '9-5'}", 1):            `catalog.hours.mon: "9-5" must look like 11:00-23:00`,
		strings.Replace(item("id: x, name: X, category: pizza, price: 5"), "currency: EUR", "currency: EUR\n  hours: {monday: '09:00-17:00'}", 1): `catalog.hours.monday: use mon, tue`,
		"catalog:\n  currency: USD\n": "catalog.items: the catalog has no items",
		"catalog_file: nope.yaml\n":   "catalog_file: stat",
	} {
		err := build(t, t.TempDir(), block)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want %q, got %v", block, want, err)
		}
		if err != nil && !strings.Contains(err.Error(), "config.yaml") {
			t.Errorf("%q: the error does not name the config file: %v", block, err)
		}
	}
}

const menuYAML = `currency: EUR
time_zone: Europe/Amsterdam
hours:
  daily: "11:00-23:00"
  sun: closed
categories:
  - {id: pizza, name: Pizzas}
  - {id: drinks, name: Drinks}
items:
  - id: margherita
    name: Margherita
    category: pizza
    sizes:
      - {id: small, name: Small, price: 800}
      - {id: large, name: Large, price: 1200}
  - {id: cola, name: Cola, category: drinks, price: 300}
  - {id: beer, name: Beer, category: drinks, price: 450}
`

func TestCatalogFileIsRelativeAndReloaded(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "menu.yaml")
	if err := os.WriteFile(file, []byte(menuYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := build(t, dir, "catalog_file: menu.yaml\n"); err != nil {
		t.Fatalf("relative to the config's folder: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(strings.Replace(menuYAML, "price: 300", "price: 0", 1)+"\nextra: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := build(t, dir, "catalog_file: bad.yaml\n"); err == nil || !strings.Contains(err.Error(), `unknown key "extra"`) {
		t.Fatalf("bad file: %v", err)
	}
	if err := build(t, dir, "catalog_file: menu.yaml\ncatalog: {currency: EUR}\n"); err == nil || !strings.Contains(err.Error(), "whole catalog goes in that file") {
		t.Fatalf("both: %v", err)
	}

	h := newHarness(t, setup{cfg: ordering.Config{CatalogFile: file}})
	h.openStaffRoom()
	expect(t, "hours", h.say("hours"), "Mon 11:00–23:00", "Sun closed")
	h.say("add 2 margherita large")
	h.say("add beer")
	expect(t, "cart", h.say("cart"), "Total: €28.50")

	// The shop raises a price and runs out of beer: the file is read again
	// and the checkout says so before anything is confirmed.
	changed := strings.Replace(strings.Replace(menuYAML, "price: 1200", "price: 1300", 1), "price: 450}", "price: 450, available: false}", 1)
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	got := h.say("checkout")
	expect(t, "recheck", got, "Margherita (Large) now costs €13.00 (was €12.00).", "Beer is sold out right now, so I took it out of your cart.",
		"1. 2 × Margherita (Large) — €26.00", "Total: €26.00", "Delivery or pickup?")
	h.say("pickup")
	h.say("no")
	expect(t, "placed", h.say("yes"), "Your order number is 1001", "Total: €26.00")
	h.staff("!order 1001 delivered")

	// Prices change again; the usual says so.
	if err := os.WriteFile(file, []byte(strings.Replace(changed, "price: 1300", "price: 1350", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Minute)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	expect(t, "usual", h.say("same as last time"), "Heads up: Margherita (Large) now costs €13.50 (it was €13.00 last time).", "Total: €27.00")

	// A broken edit keeps the last good catalog.
	if err := os.WriteFile(file, []byte("currency: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Minute)
	_ = os.Chtimes(file, later, later)
	expect(t, "still sells", h.say("add cola"), "Added 1 × Cola")
}

func TestConfirmRechecksPrices(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "menu.yaml")
	if err := os.WriteFile(file, []byte(menuYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{cfg: ordering.Config{CatalogFile: file}})
	h.say("add cola")
	h.say("checkout")
	h.say("pickup")
	expect(t, "confirm", h.say("no"), "Total: €3.00", "Place this order?")
	if err := os.WriteFile(file, []byte(strings.Replace(menuYAML, "price: 300", "price: 350", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	_ = os.Chtimes(file, later, later)
	got := h.say("yes")
	expect(t, "changed", got, "Something changed since you added it: Cola now costs €3.50 (was €3.00).", "Total: €3.50", "Place this order?")
	reject(t, "not placed", got, "order number")
	expect(t, "placed", h.say("yes"), "Your order number is 1001", "Total: €3.50")
}

func TestCatalogCSV(t *testing.T) {
	dir := t.TempDir()
	csv := "id,name,category,description,size,size_name,price,available,tags\n" +
		"margherita,Margherita,Pizzas,\"Tomato, mozzarella\",small,Small,800,yes,vegetarian\n" +
		"margherita,Margherita,Pizzas,,large,Large,1200,,\n" +
		"cola,Cola,Drinks,33 cl,,,300,,vegan;cold\n" +
		"ice-tea,Ice tea,Drinks,,,,280,no,\n"
	if err := os.WriteFile(filepath.Join(dir, "menu.csv"), []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	block := "catalog_file: menu.csv\ncatalog:\n  currency: GBP\n  time_zone: Europe/London\n  hours: {daily: '00:00-24:00'}\n"
	if err := build(t, dir, block); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{cfg: ordering.Config{CatalogFile: filepath.Join(dir, "menu.csv"),
		Catalog: ordering.CatalogConfig{Currency: "GBP", TimeZone: "Europe/London"}}})
	menu := h.Say("menu")
	expect(t, "categories from the CSV", handlertest.Text(menu), "1. Pizzas", "2. Drinks")
	expect(t, "drinks", handlertest.Text(h.Choose(menu[0], 2)), "Drinks: (sold out right now: Ice tea)", "Cola (33 cl) · £3.00")
	expect(t, "sizes", h.say("add 2 margherita large"), "Added 2 × Margherita (Large) (£24.00)")
	expect(t, "tags", h.say("search cold"), "Added 1 × Cola")

	for content, want := range map[string]string{
		"id,name,category,price,colour\n":                                `menu.csv line 1: unknown column "colour"`,
		"id,name,price\n":                                                `menu.csv line 1: column "category" is required`,
		"id,name,category,price\ncola,Cola,Drinks,3.00\n":                `menu.csv line 2: price "3.00" must be a whole number`,
		"id,name,category,price\ncola,,Drinks,300\n":                     "menu.csv line 2: name: required",
		"id,name,category,price,available\ncola,Cola,Drinks,300,maybe\n": `menu.csv line 2: available "maybe" must be yes or no`,
	} {
		if err := os.WriteFile(filepath.Join(dir, "bad.csv"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := build(t, dir, strings.Replace(block, "menu.csv", "bad.csv", 1))
		if err == nil || !strings.Contains(err.Error(), strings.Replace(want, "menu.csv", "bad.csv", 1)) {
			t.Errorf("%q: want %q, got %v", content, want, err)
		}
	}
}

func TestMoneyFormats(t *testing.T) {
	for cur, want := range map[string]string{"EUR": "€12.50", "USD": "$12.50", "CHF": "CHF 12.50", "JPY": "¥1250", "KWD": "KWD 1.250"} {
		cat, err := ordering.Build(ordering.CatalogConfig{Currency: cur, Categories: []ordering.CategoryConfig{{ID: "a", Name: "A"}},
			Items: []ordering.ItemConfig{{ID: "x", Name: "X", Category: "a", Price: 1}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := cat.Money(1250); got != want {
			t.Errorf("%s: %q, want %q", cur, got, want)
		}
	}
}

func TestNextOpening(t *testing.T) {
	cc := ordering.DefaultCatalog()
	cc.Hours = map[string]string{"daily": "11:00-14:00, 17:00-23:00", "mon": "closed"}
	cat, err := ordering.Build(cc, "")
	if err != nil {
		t.Fatal(err)
	}
	ams := cat.Location
	for at, want := range map[time.Time]string{
		time.Date(2026, 1, 4, 15, 0, 0, 0, ams):   "We open at 17:00 today.",      // Sunday between spans
		time.Date(2026, 1, 4, 23, 30, 0, 0, ams):  "We open at 11:00 on Tuesday.", // Monday closed
		time.Date(2026, 1, 6, 9, 0, 0, 0, ams):    "We open at 11:00 today.",
		time.Date(2026, 3, 28, 23, 30, 0, 0, ams): "We open at 11:00 tomorrow.", // across the DST change
	} {
		if cat.OpenAt(at) {
			t.Errorf("%s: open", at)
		}
		if got := cat.ClosedText(at); !strings.HasSuffix(got, want) {
			t.Errorf("%s: %q, want %q", at, got, want)
		}
	}
	if !cat.OpenAt(time.Date(2026, 3, 29, 12, 0, 0, 0, ams)) {
		t.Error("closed on Sunday noon")
	}
}
