// Package examples_test checks that the examples work: the custom bizbots
// binary (its own module) builds and migrates its service's own table,
// and the Python and Node webhook bots answer a customer inline and later
// through the Send API.
package examples_test

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
)

func TestCustomBinaryBuildsWithItsOwnService(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "shop")
	build := exec.Command("go", "build", "-tags", "goolm", "-o", bin, ".")
	build.Dir = "custom-binary"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the example module does not build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.yaml")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("shop %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "--config", cfg, "--homeserver-url", "http://127.0.0.1:1", "--domain", "example.org")
	raw, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "service: echo", "service: shop-visits", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	run("migrate", "--config", cfg)
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "bizbots.db"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM bb_schema_versions WHERE name = 'shop-visits'`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("the service's own schema: version %d, %v", v, err)
	}
	if _, err := db.Exec(`INSERT INTO shop_visits (bot, customer, count) VALUES ('@b:x', '@c:x', 1)`); err != nil {
		t.Fatalf("the service's own table: %v", err)
	}
}

// listenPort returns a free loopback port.
func listenPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestExampleWebhookBots(t *testing.T) {
	for _, ex := range []struct{ name, prog, file, greeting, question, picked, later string }{
		{"python", "python3", "webhook-python/bot.py", "I am the Python bakery", "Bread or cake?", "One cake, coming up!", "Your cake is ready."},
		{"node", "node", "webhook-node/bot.js", "I am the Node florist", "Roses or tulips?", "A bunch of tulips, coming up!", "Your tulips are on their way."},
	} {
		t.Run(ex.name, func(t *testing.T) {
			if _, err := exec.LookPath(ex.prog); err != nil {
				t.Fatalf("%s is needed to run this example (make deps installs the tools): %v", ex.prog, err)
			}
			secret, _ := webhook.NewSecret()
			var h *handlertest.Harness
			var api *httptest.Server
			h = handlertest.NewWith(t, func(db *store.DB) handlers.Handler {
				api = httptest.NewServer(&sendapi.Server{DB: db, Log: zerolog.Nop()})
				t.Cleanup(api.Close)
				port := listenPort(t)
				token, err := sendapi.IssueToken(context.Background(), db, "shop")
				if err != nil {
					t.Fatal(err)
				}
				if err := sendapi.Grant(context.Background(), db, "shop", handlertest.DefaultBot); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				cmd := exec.CommandContext(ctx, ex.prog, ex.file, port)
				cmd.Env = append(os.Environ(), "BIZBOTS_SECRET="+secret, "BIZBOTS_TOKEN="+token)
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cancel(); _ = cmd.Wait() })
				deadline := time.Now().Add(20 * time.Second)
				for {
					c, err := net.Dial("tcp", "127.0.0.1:"+port)
					if err == nil {
						c.Close()
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s never listened on %s", ex.file, port)
					}
					time.Sleep(50 * time.Millisecond)
				}
				return webhook.New(webhook.Config{URL: "http://127.0.0.1:" + port, Secret: secret, Timeout: config.Duration(5 * time.Second)},
					db, handlertest.DefaultBot, api.URL)
			})
			if got := handlertest.Text(h.Open()); !strings.Contains(got, ex.greeting) || !strings.Contains(got, "Alice") {
				t.Fatalf("greeting: %q", got)
			}
			q := h.Say("hello")
			if len(q) != 1 || !strings.Contains(q[0].Body, ex.question) || len(q[0].Options) != 2 {
				t.Fatalf("question: %+v", q)
			}
			if got := handlertest.Text(h.Choose(q[0], 2)); got != ex.picked {
				t.Fatalf("after picking: %q", got)
			}
			// The business answers later through the Send API (after ~2 s).
			deadline := time.Now().Add(20 * time.Second)
			var later []string
			for len(later) == 0 && time.Now().Before(deadline) {
				later = handlertest.Bodies(h.Advance(0))
				time.Sleep(100 * time.Millisecond)
			}
			if strings.Join(later, "|") != ex.later {
				t.Fatalf("later message: %q, want %q", later, ex.later)
			}
		})
	}
}
