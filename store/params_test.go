package store_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// SQLite binds "$N" parameters by order of first appearance, not by N
// (they are named parameters to it), so a query that mentions $2 before
// $1 silently swaps its arguments on SQLite while working on Postgres.
// Every query in the module (store and the services' own tables) must
// introduce $1, $2, … in order.
func TestQueryParametersAppearInOrder(t *testing.T) {
	queries := regexp.MustCompile("(?s)`[^`]*`")
	param := regexp.MustCompile(`\$(\d+)`)
	checked := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "node_modules", "e2e", "tools":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, q := range queries.FindAllString(string(src), -1) {
			next := 1
			for _, m := range param.FindAllStringSubmatch(q, -1) {
				n, _ := strconv.Atoi(m[1])
				switch {
				case n == next:
					next++
				case n > next:
					t.Errorf("%s: $%d appears before $%d in %s", path, n, next, q)
					next = n + 1
				}
				checked++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 200 {
		t.Fatalf("checked only %d parameters: is the scan broken?", checked)
	}
}
