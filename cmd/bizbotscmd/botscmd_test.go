package bizbotscmd

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/services/webhook"
)

// prefixConfig is an init'd config whose namespace is the prefix @shop_.*
// (plus the sender and the template's bots).
func prefixConfig(t *testing.T) paths {
	t.Helper()
	p := initConfig(t)
	raw := strings.Replace(readFile(t, p.cfg), `bot_namespace: ""`,
		`bot_namespace: '@(?:bizbots|pizza|taxi|support|echo|shop_.*):example\.org'`, 1)
	if err := os.WriteFile(p.cfg, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBotsCommands(t *testing.T) {
	var got []string
	var secret string
	biz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, r.Header.Get(webhook.HeaderSignature))
		_, _ = io.WriteString(w, `{"replies":[{"text":"pong","choices":[{"key":"a","label":"A"}]}]}`)
	}))
	defer biz.Close()
	p := prefixConfig(t)

	r := runCmd(t, "bots", "add", "--config", p.cfg, "--localpart", "flowers", "--business", "flowers", "--url", biz.URL)
	wantOneLineError(t, r, 1, "outside the registration's user namespace", "appservice.bot_namespace", "@shop_.*")
	r = runCmd(t, "bots", "add", "--config", p.cfg, "--localpart", "pizza", "--business", "flowers", "--url", biz.URL)
	wantOneLineError(t, r, 1, "is a bot of the config file")

	r = runCmd(t, "bots", "add", "--config", p.cfg, "--localpart", "shop_flowers", "--name", "Flowers", "--business", "flowers", "--url", biz.URL)
	if r.code != 0 {
		t.Fatalf("bots add: %+v", r)
	}
	secret = regexp.MustCompile(`whsec_\S+`).FindString(r.stdout)
	if secret == "" || !strings.Contains(r.stdout, "bzb_") {
		t.Fatalf("bots add printed no secret or token:\n%s", r.stdout)
	}
	r = runCmd(t, "bots", "add", "--config", p.cfg, "--localpart", "shop_flowers", "--business", "flowers", "--url", biz.URL)
	wantOneLineError(t, r, 1, "already exists")

	r = runCmd(t, "webhook", "test", "--config", p.cfg, "shop_flowers")
	if r.code != 0 || !strings.Contains(r.stdout, "HTTP 200") || !strings.Contains(r.stdout, `Reply 1: "pong" [a: A]`) {
		t.Fatalf("webhook test: %+v", r)
	}

	r = runCmd(t, "bots", "rotate-secret", "--config", p.cfg, "shop_flowers")
	newSecret := regexp.MustCompile(`whsec_\S+`).FindString(r.stdout)
	if r.code != 0 || newSecret == "" || newSecret == secret {
		t.Fatalf("rotate-secret: %+v", r)
	}
	// While rotating, both secrets sign: the business still on the old one
	// verifies, then switches.
	if r := runCmd(t, "webhook", "test", "--config", p.cfg, "shop_flowers"); r.code != 0 || len(strings.Fields(got[len(got)-1])) != 2 {
		t.Fatalf("test during rotation: %+v, signature %q", r, got[len(got)-1])
	}
	secret = newSecret
	runCmd(t, "bots", "rotate-secret", "--config", p.cfg, "shop_flowers", "--finish")
	if r := runCmd(t, "webhook", "test", "--config", p.cfg, "shop_flowers"); r.code != 0 || len(strings.Fields(got[len(got)-1])) != 1 {
		t.Fatalf("test after rotation: %+v", r)
	}

	r = runCmd(t, "token", "add", "--config", p.cfg, "--business", "taxi", "--bot", "taxi")
	if r.code != 0 || !strings.Contains(r.stdout, "bzb_") {
		t.Fatalf("token add: %+v", r)
	}
	r = runCmd(t, "token", "list", "--config", p.cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "@taxi:example.org") || !strings.Contains(r.stdout, "@shop_flowers:example.org") {
		t.Fatalf("token list: %+v", r)
	}
	if r := runCmd(t, "token", "revoke", "--config", p.cfg, "--business", "taxi"); r.code != 0 || !strings.Contains(r.stdout, "Revoked 1") {
		t.Fatalf("token revoke: %+v", r)
	}
	r = runCmd(t, "webhook", "test", "--config", p.cfg, "pizza")
	wantOneLineError(t, r, 1, "runs service ordering, not webhook")
	r = runCmd(t, "bots", "remove", "--config", p.cfg, "shop_flowers")
	if r.code != 0 {
		t.Fatalf("remove: %+v", r)
	}
	r = runCmd(t, "bots", "remove", "--config", p.cfg, "shop_flowers")
	wantOneLineError(t, r, 1, "no such run-time bot")
	wantOneLineError(t, runCmd(t, "bots", "frobnicate"), 2, "unknown subcommand")
}
