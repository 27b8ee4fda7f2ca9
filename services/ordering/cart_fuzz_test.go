package ordering

import (
	"strings"
	"testing"
)

// FuzzParseQty: a quantity token is 1..maxQty, a polite error, or no
// quantity at all.
func FuzzParseQty(f *testing.F) {
	for _, s := range []string{"2", "2x", "x2", "×3", "two", "0", "100", "99", "99999999999999999999999", "x", "-1", "٣", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		qty, ok, err := parseQty(tok)
		switch {
		case !ok && (err != nil || qty != 0):
			t.Fatalf("parseQty(%q) = %d, %v, %v: no quantity, yet a value or error", tok, qty, ok, err)
		case ok && err != nil && strings.TrimSpace(err.Error()) == "":
			t.Fatalf("parseQty(%q): an empty error", tok)
		case ok && err == nil && (qty < 1 || qty > maxQty):
			t.Fatalf("parseQty(%q) = %d, outside 1..%d", tok, qty, maxQty)
		}
	})
}

// FuzzParseCSV: a catalog CSV, however broken, builds a catalog or gives
// an error; what builds has items with an id and a name and no negative
// price.
func FuzzParseCSV(f *testing.F) {
	f.Add("id,name,category,price\nmarg,Margherita,pizza,9.50\n")
	f.Add("id,name,category,price,size,size_name\nm,M,p,9,s,Small\nm,M,p,12,l,Large\n")
	f.Add("id,name\n\"unterminated")
	f.Add("id,name,category,price\nx,y,z,-1\n")
	f.Add("id,name,category,price\nx,y,z,1e309\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		items, cats, err := parseCSV([]byte(data), "catalog.csv", nil)
		if err != nil {
			return
		}
		cat, err := Build(CatalogConfig{Currency: "EUR", Items: items, Categories: cats}, "catalog.")
		if err != nil {
			return
		}
		for _, it := range cat.Items {
			if it.ID == "" || it.Name == "" || it.Price < 0 {
				t.Fatalf("a catalog built with a bad item: %+v", it)
			}
			for _, sz := range it.Sizes {
				if sz.Price < 0 {
					t.Fatalf("a catalog built with a negative size price: %+v", it)
				}
			}
		}
	})
}
