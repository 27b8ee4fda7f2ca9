package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
)

// Instance is one configured bizbots: its config file, its address and
// its loaded config.
type Instance struct {
	Dir, CfgPath, Listen string
	Cfg                  *config.Config
}

// URL is the appservice's base URL.
func (in *Instance) URL() string { return "http://" + in.Listen }

// Init runs `bizbots init` (fresh tokens, the template's bots) in a new
// temporary directory, lets edit change the YAML document, and loads the
// result.
func Init(t testing.TB, bin, hsURL, dbURI string, edit func(doc map[string]any)) *Instance {
	t.Helper()
	dir := t.TempDir()
	in := &Instance{Dir: dir, CfgPath: filepath.Join(dir, "config.yaml"), Listen: FreeAddr(t)}
	out, err := exec.Command(bin, "init", "--homeserver-url", hsURL, "--domain", "example.org",
		"--listen", in.Listen, "--database", dbURI, "--config", in.CfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("bizbots init: %v\n%s", err, out)
	}
	data, err := os.ReadFile(in.CfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(doc)
	}
	if data, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.CfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if in.Cfg, err = config.Load(in.CfgPath); err != nil {
		t.Fatalf("load the edited config: %v", err)
	}
	return in
}

// Section returns a top-level section of a config document, failing the
// test if it is missing.
func Section(t testing.TB, doc map[string]any, name string) map[string]any {
	t.Helper()
	m, ok := doc[name].(map[string]any)
	if !ok {
		t.Fatalf("config has no %s section", name)
	}
	return m
}

// TestTuning makes a config fit a test: short leases (the minimum the
// config accepts) so rooms a killed process held free up quickly, fast
// polling, JSON logs.
func TestTuning(t testing.TB, doc map[string]any) {
	Section(t, doc, "dispatcher")["lease_timeout"] = "5s"
	Section(t, doc, "dispatcher")["poll_interval"] = "50ms"
	Section(t, doc, "sender")["max_backoff"] = "2s"
	Section(t, doc, "logging")["format"] = "json"
	Section(t, doc, "logging")["level"] = "info"
}

// AllBots makes every bot of the template run service with a welcome
// naming the bot, whatever the template's defaults become.
func AllBots(t testing.TB, doc map[string]any, service string) {
	bots, ok := doc["bots"].([]any)
	if !ok || len(bots) == 0 {
		t.Fatal("config has no bots")
	}
	for _, b := range bots {
		bot := b.(map[string]any)
		bot["service"] = service
		bot["welcome"] = fmt.Sprintf("Welcome! This is %v.", bot["localpart"])
		delete(bot, "config")
	}
}
