package bizbotscmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A scripted playground session through the real command: welcome, echo,
// a forget-me question answered by reaction, another customer.
func TestChatPlayground(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	var out, errb bytes.Buffer
	if code := run([]string{"init", "--config", cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org"}, &out, &errb); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	chatInput = strings.NewReader("hello\nforget me\n/react 1\n/react 9\n/as @bob:example.org\nhi bob here\n/bogus\n/quit\n")
	defer func() { chatInput = os.Stdin }()
	out.Reset()
	errb.Reset()
	if code := run([]string{"chat", "echo", "--config", cfg, "--as", "@ana:example.org"}, &out, &errb); code != 0 {
		t.Fatalf("chat: exit %d: %s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"Chatting with @echo:example.org as @ana:example.org",
		"echo: I repeat what you say.",
		"echo: You said: hello",
		"[reactions: 1️⃣ 2️⃣",
		"erased everything I knew about you",
		"(pick a reaction from 1 to 2)",
		"(you are now @bob:example.org)",
		"echo: You said: hi bob here",
		"(unknown command /bogus",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "playground.db")); err != nil {
		t.Errorf("the playground must use its own database next to the config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bizbots.db")); err == nil {
		t.Error("the playground touched the service's database")
	}
}

func TestChatRejectsUnknownBotAndBadCustomer(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	var out, errb bytes.Buffer
	run([]string{"init", "--config", cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org"}, &out, &errb)
	for _, args := range [][]string{
		{"chat", "nosuchbot", "--config", cfg},
		{"chat", "pizza", "--config", cfg, "--as", "ana"},
		{"chat", "--config", cfg},
	} {
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, errb.String())
		}
	}
}

// The README's `./bizbots chat pizza` must work on a fresh checkout: no
// config.yaml yet, so the playground runs the demo bots `init` would write.
func TestChatWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("BIZBOTS_CONFIG", "")
	chatInput = strings.NewReader("menu\n/quit\n")
	defer func() { chatInput = os.Stdin }()
	var out, errb bytes.Buffer
	if code := run([]string{"chat", "pizza"}, &out, &errb); code != 0 {
		t.Fatalf("chat: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Chatting with @pizza:localhost") || !strings.Contains(strings.ToLower(out.String()), "margherita") {
		t.Errorf("no pizza menu in:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "no config.yaml") || !strings.Contains(errb.String(), "demo bots") {
		t.Errorf("stderr does not say the demo bots are used: %q", errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
		t.Error("chat wrote a config.yaml")
	}
	// An explicitly named config that is missing stays an error.
	errb.Reset()
	if code := run([]string{"chat", "pizza", "--config", filepath.Join(dir, "nope.yaml")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Errorf("missing --config: exit %d, stderr %q", code, errb.String())
	}
}
