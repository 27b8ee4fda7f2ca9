package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

// TestMain builds bizbots once for all the tests of the package (unless
// $BIZBOTS_BIN names one), instead of once per test. If the build fails,
// each test's harness.BizbotsBin tries again and reports why.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if os.Getenv("BIZBOTS_BIN") == "" && !testing.Short() {
		dir, err := os.MkdirTemp("", "bizbots-e2e-")
		if err == nil {
			defer os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			bin := filepath.Join(dir, "bizbots")
			if err := harness.BuildBizbots(ctx, bin); err == nil {
				os.Setenv("BIZBOTS_BIN", bin)
			} else {
				fmt.Fprintf(os.Stderr, "e2e: building bizbots once failed (each test will try): %v\n", err)
			}
			cancel()
		}
	}
	return m.Run()
}
