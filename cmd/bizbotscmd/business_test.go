package bizbotscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/webhook"
)

// flowers is a business's webhook server: it verifies each request with
// the secret it was given and answers like a tiny flower shop.
type flowers struct {
	mu     sync.Mutex
	secret string
	events []webhook.Event
}

func (f *flowers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	secret := f.secret
	f.mu.Unlock()
	if webhook.Verify(secret, r.Header, body, time.Now(), webhook.DefaultTolerance) != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev webhook.Event
	_ = json.Unmarshal(body, &ev)
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	switch ev.Type {
	case webhook.TypeConversationStarted:
		_, _ = io.WriteString(w, `{"replies":[{"text":"Welcome to Flowers!"}]}`)
	case webhook.TypeMessage:
		_, _ = io.WriteString(w, `{"replies":[{"text":"Red or white?","choices":[{"key":"red","label":"Red roses"},{"key":"white","label":"White roses"}]}]}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// A webhook bot added to a running bizbots through the admin API: it is
// registered on the homeserver, a customer talks to it, its business
// answers inline and later through the Send API; removed, it stops.
func TestWebhookBotAddedAtRunTime(t *testing.T) {
	shop := &flowers{}
	biz := httptest.NewServer(shop)
	defer biz.Close()

	listen, apiListen := freePort(t), freePort(t)
	p := initConfig(t, "--listen", listen, "--homeserver-url", "http://127.0.0.1:1")
	pre, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := fakehs.New(pre.AppService.ASToken)
	defer hs.Close()
	adminToken := strings.Repeat("a", 40)
	raw := readFile(t, p.cfg)
	raw = strings.Replace(raw, "http://127.0.0.1:1", hs.URL(), 1)
	raw = strings.Replace(raw, `bot_namespace: ""`, `bot_namespace: '@.*:example\.org'`, 1)
	raw = strings.Replace(raw, `listen: ""`, `listen: "`+apiListen+`"`, 1)
	raw = strings.Replace(raw, "\n  admin_token: \"\"", "\n  admin_token: \""+adminToken+"\"", 1) // send_api's, not encryption.homeserver_admin_token
	if err := os.WriteFile(p.cfg, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, "generate-registration", "--config", p.cfg, "--force"); r.code != 0 {
		t.Fatalf("generate-registration: %s", r.stderr)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}

	stderr := startServe(t, p.cfg).stderr
	api := "http://" + apiListen
	call := func(method, path, token string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, api+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// Wait for the API to answer (bounded).
	if !hs.WaitFor(30*time.Second, func() bool { s, _ := call("GET", "/_bizbots/v1/admin/bots", adminToken, nil); return s == 200 }) {
		t.Fatalf("admin API never answered; log:\n%s", stderr.String())
	}
	if s, out := call("GET", "/_bizbots/v1/admin/bots", "wrong", nil); s != 401 || out["errcode"] != "M_UNKNOWN_TOKEN" {
		t.Fatalf("admin API with a wrong token: %d %v", s, out)
	}

	status, added := call("POST", "/_bizbots/v1/admin/bots", adminToken, map[string]any{
		"localpart": "shop_flowers", "display_name": "Flowers", "business": "flowers", "url": biz.URL})
	if status != 201 || added["secret"] == nil || added["token"] == nil {
		t.Fatalf("add bot: %d %v", status, added)
	}
	shop.mu.Lock()
	shop.secret = added["secret"].(string)
	shop.mu.Unlock()
	token := added["token"].(string)
	bot := "@shop_flowers:example.org"
	if !hs.WaitFor(30*time.Second, func() bool { return hs.Registered("shop_flowers") && hs.Profile(bot)["displayname"] == "Flowers" }) {
		t.Fatalf("bot not registered with its name; log:\n%s", stderr.String())
	}

	room, alice := "!flowers-alice:example.org", "@alice:example.org"
	hs.SetMembers(room, map[string]string{alice: "Alice", bot: "Flowers"})
	push := func(txn string, events ...map[string]any) {
		t.Helper()
		if s, err := fakehs.Push(context.Background(), "http://"+listen, cfg.AppService.HSToken, txn, events); err != nil || s != 200 {
			t.Fatalf("push %s: %d %v", txn, s, err)
		}
	}
	bodies := func() []string {
		var out []string
		for _, s := range hs.SendsTo(room) {
			if b, ok := s.Content["body"].(string); ok {
				out = append(out, b)
			}
		}
		return out
	}
	has := func(text string) func() bool {
		return func() bool { return strings.Contains(strings.Join(bodies(), "\n"), text) }
	}
	push("t1", fakehs.Member(room, alice, "join", "Alice"), fakehs.Invite(room, alice, bot, true))
	if !hs.WaitFor(30*time.Second, has("Welcome to Flowers!")) {
		t.Fatalf("no welcome from the business; sent %q; log:\n%s", bodies(), stderr.String())
	}
	push("t2", fakehs.Message(room, alice, "Do you have roses?"))
	if !hs.WaitFor(30*time.Second, has("Red or white?")) {
		t.Fatalf("no inline answer; sent %q", bodies())
	}
	path := "/_bizbots/v1/bots/" + url.PathEscape(bot) + "/messages"
	if s, out := call("POST", path, token, map[string]any{"to": alice, "text": "Your roses are on their way."}); s != 202 || out["id"] == nil {
		t.Fatalf("send API: %d %v", s, out)
	}
	if !hs.WaitFor(30*time.Second, has("Your roses are on their way.")) {
		t.Fatalf("send API message not delivered; sent %q", bodies())
	}
	shop.mu.Lock()
	first := shop.events[0]
	shop.mu.Unlock()
	if first.Type != webhook.TypeConversationStarted || string(first.Data.Customer.ID) != alice ||
		first.Data.ReplyURL != "http://"+apiListen+path {
		t.Fatalf("first event: %+v", first)
	}

	// The admin API's status covers the run-time bot too (what `bizbots
	// status --json` prints for the config's bots).
	if s, st := call("GET", "/_bizbots/v1/admin/status", adminToken, nil); s != 200 || !strings.Contains(fmt.Sprint(st["bots"]), bot) {
		t.Fatalf("admin status: %d %v", s, st)
	}
	if s, out := call("GET", "/_bizbots/v1/admin/status?limit=0", adminToken, nil); s != 400 || out["errcode"] != "M_INVALID_PARAM" {
		t.Fatalf("admin status with a bad limit: %d %v", s, out)
	}
	if s, out := call("GET", "/_bizbots/v1/admin/status", "", nil); s != 401 || out["errcode"] != "M_MISSING_TOKEN" {
		t.Fatalf("admin status without a token: %d %v", s, out)
	}
	if r := runCmd(t, "bots", "list", "--config", p.cfg); r.code != 0 || !strings.Contains(r.stdout, bot) || !strings.Contains(r.stdout, "flowers") {
		t.Fatalf("bots list: %+v", r)
	}
	if r := runCmd(t, "bots", "remove", "shop_flowers", "--config", p.cfg); r.code != 0 {
		t.Fatalf("bots remove: %+v", r)
	}
	if !hs.WaitFor(30*time.Second, func() bool {
		s, _ := call("POST", path, token, map[string]any{"to": alice, "text": "x"})
		return s == 403
	}) {
		t.Fatal("a removed bot can still be used through the Send API")
	}
	if strings.Contains(stderr.String(), token) || strings.Contains(stderr.String(), shop.secret) {
		t.Error("a token or secret was logged")
	}
}
