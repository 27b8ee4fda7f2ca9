package store_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// SQLite binds "$N" parameters by order of first appearance, not by N
// (they are named parameters to it), so a query that mentions $2 before
// $1 silently swaps its arguments on SQLite while working on Postgres.
// Every query in this package must introduce $1, $2, … in order.
func TestQueryParametersAppearInOrder(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	queries := regexp.MustCompile("(?s)`[^`]*`")
	param := regexp.MustCompile(`\$(\d+)`)
	checked := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range queries.FindAllString(string(src), -1) {
			next := 1
			for _, m := range param.FindAllStringSubmatch(q, -1) {
				n, _ := strconv.Atoi(m[1])
				switch {
				case n == next:
					next++
				case n > next:
					t.Errorf("%s: $%d appears before $%d in %s", f, n, next, q)
					next = n + 1
				}
				checked++
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d parameters: is the scan broken?", checked)
	}
}
