package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/e2e/harness"
	"github.com/bizbots/bizbots/store"
)

// TestWebhookExamples runs the two example business bots of
// examples/webhook-python (standard library only) and examples/webhook-node
// (no dependencies) against bizbots and Dendrite, with a real Matrix
// client (nio) as the customer. Each bot is added to the running bizbots
// with `bizbots bots add` (no restart) and checked with `bizbots webhook
// test`. Then, per bot:
//
//   - the customer opens a direct chat and gets the business's greeting
//     (conversation.started, answered inline);
//   - writes, gets the business's question, picks an option: the answer
//     comes inline, and a second one later through the Send API (the
//     example posts it to reply_url after two seconds);
//   - the business sends a proactive update through the Send API into
//     the open direct chat;
//   - the customer leaves (the business gets conversation.ended), and the
//     business's next update opens a new direct chat: the customer is
//     invited, joins, and reads it there.
func TestWebhookExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped with -short")
	}
	t.Parallel()
	py := harness.PythonWithNio(t)
	node, err := exec.LookPath("node")
	if err != nil {
		harness.SkipOrFail(t, "node is not installed: %v", err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	api := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	s := harness.StartStackT(t, harness.StackOptions{
		Config: map[string]string{
			"send_api.listen":      strconv.Quote("127.0.0.1:" + strconv.Itoa(apiPort)),
			"send_api.admin_token": strconv.Quote(harness.RandomToken(24)),
			// A prefix namespace, so bots added at run time are ours.
			"appservice.bot_namespace": `'@(pizza|taxi|support|echo|shop_.*):localhost'`,
		},
		AfterInit: func(ctx context.Context, s *harness.Stack) error {
			_, errOut, err := s.RunBizbots(ctx, "", "generate-registration", "--force")
			if err != nil {
				return fmt.Errorf("%w: %s", err, errOut)
			}
			return nil
		},
	})
	for _, ex := range []struct {
		name, localpart, prog, script     string
		greeting, question, inline, later string
	}{
		{"python", "shop_bakery", "python3", "examples/webhook-python/bot.py", "I am the Python bakery", "Bread or cake?", "One bread, coming up!", "Your bread is ready."},
		{"node", "shop_florist", node, "examples/webhook-node/bot.js", "I am the Node florist", "Roses or tulips?", "A bunch of roses, coming up!", "Your roses are on their way."},
	} {
		t.Run(ex.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			port, err := harness.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, err := s.RunBizbots(ctx, "", "bots", "add", "--localpart", ex.localpart, "--business", ex.localpart,
				"--name", ex.name+" shop", "--url", "http://127.0.0.1:"+strconv.Itoa(port)+"/")
			if err != nil {
				t.Fatalf("bots add: %v\n%s%s", err, out, errOut)
			}
			secret := regexp.MustCompile(`whsec_\S+`).FindString(out)
			token := regexp.MustCompile(`bzb_\S+`).FindString(out)
			if secret == "" || token == "" {
				t.Fatalf("bots add printed no secret or token:\n%s", out)
			}
			bot := s.Dendrite.UserID(ex.localpart)
			// The running bizbots picks the bot up within seconds; a
			// customer's invite before that would not reach it.
			waitFile(t, filepath.Join(s.Dir, "bizbots.log"), `"bot":"`+regexp.QuoteMeta(bot)+`".*serving a bot added at run time`, time.Minute)
			logPath := filepath.Join(s.Dir, ex.name+"-bot.log")
			harness.StartProcessT(t, logPath, []string{"BIZBOTS_SECRET=" + secret, "BIZBOTS_TOKEN=" + token},
				ex.prog, filepath.Join(root, ex.script), strconv.Itoa(port))
			waitListening(t, "127.0.0.1:"+strconv.Itoa(port), 30*time.Second)
			out, errOut, err = s.RunBizbots(ctx, "", "webhook", "test", ex.localpart)
			if err != nil || !strings.Contains(out, "HTTP 200") {
				t.Fatalf("webhook test: %v\n%s%s", err, out, errOut)
			}

			customer := "cust_" + ex.name
			registerUser(t, s, customer, "Kim")
			d := startSession(t, py, s, customer, ex.localpart, "", 4*time.Minute)
			if w := d.botMessages(); !strings.Contains(w[0].Body, "Hi Kim!") || !strings.Contains(w[0].Body, ex.greeting) {
				t.Fatalf("greeting: %q", w[0].Body)
			}
			firstRoom := d.botMessages()[0].RoomID
			must(t, d.cs.Send("hello"))
			d.waitBody(t, ex.question)
			must(t, d.cs.Send("1"))
			d.waitBody(t, ex.inline)
			d.waitBody(t, ex.later) // through the Send API

			user := s.Dendrite.UserID(customer)
			sendAPI(t, api, bot, token, "update-1", user, "Proactive update one")
			if got := d.waitBody(t, "Proactive update one"); got.RoomID != firstRoom {
				t.Fatalf("update went to %s, not the open direct chat %s", got.RoomID, firstRoom)
			}

			must(t, d.cs.Leave())
			waitFile(t, logPath, "conversation.ended", time.Minute)
			waitLeft(t, s, firstRoom, user, time.Minute)
			sendAPI(t, api, bot, token, "update-2", user, "Proactive update two")
			got := d.waitBody(t, "Proactive update two")
			if got.RoomID == firstRoom || got.RoomID == "" {
				t.Fatalf("update after leaving arrived in %q, want a new direct chat", got.RoomID)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitBody waits for a message from the bot containing text.
func (d *dm) waitBody(t *testing.T, text string) harness.ClientLine {
	t.Helper()
	var found harness.ClientLine
	_, err := d.cs.WaitFor(90*time.Second, fmt.Sprintf("%q from %s", text, d.bot), func(ls []harness.ClientLine) bool {
		for _, m := range harness.MessagesFrom(ls, d.bot) {
			if strings.Contains(m.Body, text) {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// sendAPI posts a message as the business's backend would.
func sendAPI(t *testing.T, api, bot, token, key, to, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"to": to, "text": text})
	req, _ := http.NewRequest("POST", api+"/_bizbots/v1/bots/"+url.PathEscape(bot)+"/messages", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	for attempt := 0; attempt < 10; attempt++ {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			return
		case http.StatusServiceUnavailable: // the direct chat is being opened: retry, as documented
			time.Sleep(2 * time.Second)
			req.Body, _ = req.GetBody()
			continue
		}
		t.Fatalf("send API: %d %v", resp.StatusCode, out)
	}
	t.Fatal("send API: still 503 after 10 tries")
}

func waitListening(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %s", addr, timeout)
}

// waitFile waits until a line of the file (a process's log) matches re.
func waitFile(t *testing.T, path, re string, timeout time.Duration) {
	t.Helper()
	match := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && match.Match(data) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s has no line matching %q after %s", path, re, timeout)
}

// waitLeft waits until bizbots has recorded that user left room: the
// webhook's conversation.ended reaches the business a moment before the
// leave commits, and a message sent in between would still go to the old
// room.
func waitLeft(t *testing.T, s *harness.Stack, room, user string, timeout time.Duration) {
	t.Helper()
	cfg, err := config.Load(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, cfg.Database.URI, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m, err := db.Membership(ctx, room, user); err == nil && m == "leave" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("bizbots did not record that %s left %s within %s", user, room, timeout)
}
