package config_test

import (
	"strings"
	"testing"

	"github.com/bizbots/bizbots/config"
)

// FuzzParse: any config file loads into a config that validates, or gives
// an error naming the file; never a panic.
func FuzzParse(f *testing.F) {
	f.Add("homeserver:\n  url: http://localhost:8008\n  domain: example.org\n")
	f.Add("bots:\n  - localpart: pizza\n    service: ordering\n    config: {x: 1}\n")
	f.Add("dispatcher:\n  lease_timeout: 99999999999h\n  workers: -1\n")
	f.Add("appservice: [1, 2]\n")
	f.Add("a: &a [*a, *a]\n")
	f.Add("sender:\n  max_backoff: 1e400s\n")
	f.Add("\t- :\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := config.Parse([]byte(data), "fuzz.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
