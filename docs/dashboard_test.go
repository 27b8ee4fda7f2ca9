// Package docs holds checks that keep the documentation true of the code.
package docs

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

var metricName = regexp.MustCompile(`\b(bizbots_[a-z0-9_]+|go_sql_[a-z0-9_]+)`)

// Every metric the Grafana dashboard queries is one bizbots exports, and
// one docs/operations.md explains.
func TestDashboardQueriesRealMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	exported := exportedMetrics(t)
	ops, err := os.ReadFile("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which bizbots does not export", p.Title, m)
				}
				if strings.HasPrefix(base, "bizbots_") && !strings.Contains(string(ops), base) {
					t.Errorf("panel %q: %s is not explained in docs/operations.md", p.Title, base)
				}
			}
		}
	}
}

// exportedMetrics lists the bizbots_* names the Go code registers (every
// metric is named by a string literal) and the go_sql_* names of the
// database pool collector.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	literal := regexp.MustCompile(`"(bizbots_[a-z0-9_]+)"`)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".cache" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".git")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc, 64)
	collectors.NewDBStatsCollector(&sql.DB{}, "bizbots").Describe(descs)
	close(descs)
	fq := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}
