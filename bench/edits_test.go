package main

import (
	"strings"
	"testing"
)

// -set changes the first line that sets the key, keeps its indentation,
// and names a key the config does not have.
func TestConfigEdits(t *testing.T) {
	cfg := []byte("database:\n  max_open_conns: 0\ndispatcher:\n  workers: 32\nsender:\n  workers: 32\n")
	var e edits
	for _, kv := range []string{"max_open_conns=8", "workers=16"} {
		if err := e.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.apply(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "database:\n  max_open_conns: 8\ndispatcher:\n  workers: 16\nsender:\n  workers: 32\n"
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if err := e.Set("nokey"); err == nil {
		t.Fatal("-set without = accepted")
	}
	_, err = edits{"no_such_key=1"}.apply(cfg)
	if err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("unknown key: %v", err)
	}
}
