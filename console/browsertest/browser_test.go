package browsertest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/webhook"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the screenshots into docs/")

const (
	asToken  = "as0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	hsToken  = "hs0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	pizzaBot = "@pizza:example.org"
	helpBot  = "@help:example.org"
	hooksBot = "@hooks:example.org"
	alice    = "@alice:example.org" // owner of the pizza, help, hooks and shop bots
	bob      = "@bob:example.org"   // agent of the pizza bot
	customer = "@carla:example.org"
	room     = "!carla-pizza:example.org"
	helpDM   = "!carla-help:example.org"
	hooksDM  = "!dan-hooks:example.org"
	staff    = "!staff:example.org"

	// limit bounds the whole browser session; it is a hang guard.
	limit = 3 * time.Minute
)

// bizbots is a running bizbots binary with a fake homeserver.
type bizbots struct {
	hs      *fakehs.HS
	asURL   string
	console string
	txns    atomic.Int64
	shop    *shop
}

// shop is the webhook bot's business server: it takes conversation starts
// and, once up, messages.
type shop struct {
	srv     *httptest.Server
	up      atomic.Bool
	got, ok atomic.Int64
}

func newShop(t *testing.T) *shop {
	s := &shop{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"type":"message"`) {
			w.WriteHeader(http.StatusOK)
			return
		}
		s.got.Add(1)
		if !s.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.ok.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"replies":[{"text":"Yes, we ship to Belgium."}]}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startBizbots builds the binary and runs `bizbots serve` with the console on.
func startBizbots(t *testing.T) *bizbots {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bizbots")
	build := exec.Command(goTool(), "build", "-o", bin, "github.com/bizbots/bizbots/cmd/bizbots")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bizbots: %v\n%s", err, out)
	}
	hs := fakehs.New(asToken)
	t.Cleanup(hs.Close)
	hs.SetPassword(alice, "correct horse")
	hs.SetPassword(bob, "battery staple")
	sh := newShop(t)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	asAddr, conAddr := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`homeserver: {url: %q, domain: example.org}
appservice: {listen: %q, url: "http://%s", as_token: %s, hs_token: %s}
database: {uri: "sqlite:bizbots.db"}
logging: {level: info, format: json}
dispatcher: {poll_interval: 50ms}
console: {listen: %q, public_url: "http://%s", broadcast_rate: 20}
bots:
  - localpart: pizza
    display_name: Pizza Place
    service: echo
    welcome: "Welcome to Pizza Place!"
    console:
      time_zone: Europe/Amsterdam
      staff: [{user: %[8]q, role: owner}, {user: %[9]q, role: agent}]
  - localpart: taxi
    display_name: City Taxi
    service: echo
    console:
      staff: [{user: "@carol:example.org", role: owner}]
  - localpart: help
    display_name: Help Desk
    service: support
    config: {business: Help Desk, staff_room: %[10]q}
    console:
      staff: [{user: %[8]q, role: owner}]
  - localpart: hooks
    display_name: Hook Shop
    service: webhook
    config: {url: %[11]q, secret: %[12]q}
    console:
      staff: [{user: %[8]q, role: owner}]
  - localpart: shop
    display_name: Slice Shop
    service: ordering
    config:
      catalog:
        currency: EUR
        time_zone: Europe/Amsterdam
        categories: [{id: pizza, name: Pizzas}, {id: drinks, name: Drinks}]
        items:
          - {id: margherita, name: Margherita, category: pizza, description: "Tomato, mozzarella, basil", price: 1250}
          - {id: funghi, name: Funghi, category: pizza, description: "Mushrooms, mozzarella", price: 1350}
          - {id: cola, name: Cola, category: drinks, price: 300}
    console:
      time_zone: Europe/Amsterdam
      staff: [{user: %[8]q, role: owner}]
`, hs.URL(), asAddr, asAddr, asToken, hsToken, conAddr, conAddr, alice, bob, staff, sh.srv.URL, secret)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "generate-registration", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("generate-registration: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("bizbots did not stop within 30s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("bizbots log:\n%s", logs.String())
		}
	})
	b := &bizbots{hs: hs, asURL: "http://" + asAddr, console: "http://" + conAddr, shop: sh}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(b.console + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("bizbots exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a process we do not own; bounded by deadline
	}
	return b
}

// push delivers events to bizbots as the homeserver would.
func (b *bizbots) push(t *testing.T, events ...map[string]any) {
	t.Helper()
	status, err := fakehs.Push(context.Background(), b.asURL, hsToken, fmt.Sprintf("txn%d", b.txns.Add(1)), events)
	if err != nil || status != 200 {
		t.Fatalf("push: status %d, err %v", status, err)
	}
}

// waitSent waits until the homeserver got body from the pizza bot in room.
func (b *bizbots) waitSent(t *testing.T, body string) {
	t.Helper()
	b.waitFor(t, pizzaBot, room, body)
}

func (b *bizbots) sent(body string) int { return b.sentBy(pizzaBot, room, body) }

// sentBy counts the messages bot sent to in whose body contains part.
func (b *bizbots) sentBy(bot, in, part string) int {
	n := 0
	for _, s := range b.hs.SendsTo(in) {
		if body, _ := s.Content["body"].(string); s.User == bot && strings.Contains(body, part) {
			n++
		}
	}
	return n
}

// waitFor waits until bot sent a message containing part to in.
func (b *bizbots) waitFor(t *testing.T, bot, in, part string) {
	t.Helper()
	if !b.hs.WaitFor(time.Minute, func() bool { return b.sentBy(bot, in, part) > 0 }) {
		var got []string
		for _, s := range b.hs.SendsTo(in) {
			got = append(got, fmt.Sprint(s.Content["body"]))
		}
		t.Fatalf("%s never got %q; got %q", in, part, got)
	}
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make deps` (scripts/install-browser.sh)")
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(bcancel)
	return bctx
}

// screenshot saves the page as docs/console-<name>.png with
// -update-screenshots, else into the test's temp dir.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return err
		}
		dir := t.TempDir()
		if *updateScreenshots {
			dir = filepath.Join("..", "..", "docs")
		}
		return os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644)
	})
}

// leaving marks the page shown now, so that a wait after a click that
// loads another page can tell the two apart (//html[not(@data-left)]).
func leaving() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`document.documentElement.setAttribute("data-left", "1"); true`)(ctx, target)
		return err
	})
}

func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", step, err, loc)
	}
}

// The staff's day, in the browser: sign in, see a customer arrive live,
// take over, answer, hand back, and find another business's bot closed.
func TestConsoleInTheBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	b := startBizbots(t)
	ctx := browser(t)

	run(t, ctx, "open the sign-in page",
		chromedp.Navigate(b.console+"/b/pizza/"),
		chromedp.WaitVisible(chromedp.CSS(`#user`)),
		screenshot(t, "login"),
	)
	run(t, ctx, "a wrong password is refused",
		chromedp.SendKeys(chromedp.CSS(`#user`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "wrong"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "Wrong user name or password")]`),
	)
	run(t, ctx, "sign in through the homeserver (OpenID): the password goes to the homeserver only",
		chromedp.SendKeys(chromedp.CSS(`#oid-user`), alice),
		chromedp.SendKeys(chromedp.CSS(`#oid-password`), "correct horse"),
		chromedp.Click(`//button[normalize-space()="Sign in at my homeserver"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="Conversations"]`),
		chromedp.WaitReady(chromedp.CSS(`body[data-live-open]`)),
	)
	if n := b.hs.OpenLogins(); n != 0 {
		t.Fatalf("%d homeserver logins left open by the sign-in page", n)
	}
	run(t, ctx, "an owner adds a saved reply",
		chromedp.Click(`//nav//a[normalize-space()="Saved replies"]`),
		chromedp.WaitVisible(chromedp.CSS(`#new-title`)),
		chromedp.SendKeys(chromedp.CSS(`#new-title`), "Delivery time"),
		chromedp.SendKeys(chromedp.CSS(`#new-body`), "Your pizza is in the oven and reaches you in about 25 minutes."),
		chromedp.Click(`//button[normalize-space()="Add saved reply"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Saved reply added")]`),
		screenshot(t, "saved"),
		chromedp.Click(`//nav//a[normalize-space()="Conversations"]`),
		chromedp.WaitVisible(`//h1[normalize-space()="Conversations"]`),
		chromedp.WaitReady(chromedp.CSS(`body[data-live-open]`)),
	)

	// A customer opens a chat with the pizza bot while the page is open.
	b.hs.SetMembers(room, map[string]string{customer: "Carla", pizzaBot: "Pizza Place"})
	b.push(t, fakehs.Invite(room, customer, pizzaBot, true))
	b.waitSent(t, "Welcome to Pizza Place!")
	b.push(t, fakehs.Message(room, customer, "Hi, can I get a gluten-free crust?"))
	b.waitSent(t, "You said: Hi, can I get a gluten-free crust?")
	run(t, ctx, "the conversation arrives without a reload",
		chromedp.WaitVisible(`//a[contains(., "Carla")][contains(., "You said: Hi, can I get a gluten-free crust?")]`),
		screenshot(t, "inbox"),
	)
	run(t, ctx, "open it and take over",
		chromedp.Click(`//a[contains(., "Carla")]`),
		chromedp.WaitVisible(`//button[normalize-space()="Take over"]`),
		chromedp.Click(`//button[normalize-space()="Take over"]`),
		chromedp.WaitVisible(chromedp.CSS(`#reply-text`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-live-open]`)),
	)
	b.waitSent(t, "A person from Pizza Place is answering you now.")

	// While a person has it, the bot stays silent; the message shows live.
	b.push(t, fakehs.Message(room, customer, "Also, is it vegan?"))
	run(t, ctx, "the customer's message arrives live",
		chromedp.WaitVisible(`//li[contains(@class,"from-customer")][contains(., "Also, is it vegan?")]`),
	)
	if n := b.sent("You said: Also, is it vegan?"); n != 0 {
		t.Fatal("the bot answered while a person had the conversation")
	}
	run(t, ctx, "reply as the bot",
		chromedp.SendKeys(chromedp.CSS(`#reply-text`), "Yes to both: gluten-free crust and vegan cheese."),
		chromedp.Click(`//button[normalize-space()="Send reply"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Reply queued")]`),
	)
	b.waitSent(t, "Yes to both: gluten-free crust and vegan cheese.")
	run(t, ctx, "insert the saved reply and send it",
		chromedp.Click(`//a[@data-insert][normalize-space()="Delivery time"]`),
		chromedp.WaitVisible(`//textarea[@id="reply-text"]`),
	)
	draft, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#reply-text`)))
	if err != nil || draft != "Your pizza is in the oven and reaches you in about 25 minutes." {
		t.Fatalf("reply box after picking the saved reply: %q, %v", draft, err)
	}
	run(t, ctx, "send the saved reply",
		// The page shows "Reply queued" from the first reply already:
		// wait for the page the form loads, not the one it leaves.
		leaving(),
		chromedp.Click(`//button[normalize-space()="Send reply"]`),
		chromedp.WaitVisible(`//html[not(@data-left)]//p[@role="status"][contains(., "Reply queued")]`),
	)
	b.waitSent(t, "Your pizza is in the oven and reaches you in about 25 minutes.")
	run(t, ctx, "the reply shows as sent",
		chromedp.Reload(),
		chromedp.WaitVisible(`//li[contains(@class,"from-bot")][contains(., "Yes to both")][not(contains(., "sending"))]`),
		screenshot(t, "conversation"),
	)
	run(t, ctx, "on a phone",
		chromedp.EmulateViewport(390, 844),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#reply-text`)),
		screenshot(t, "phone"),
		chromedp.EmulateViewport(1200, 900),
	)
	run(t, ctx, "hand back to the bot",
		chromedp.Click(`//button[normalize-space()="Hand back to the bot"]`),
		chromedp.WaitVisible(`//button[normalize-space()="Take over"]`),
	)
	b.waitSent(t, "You are back with the Pizza Place bot.")
	b.push(t, fakehs.Message(room, customer, "thanks!"))
	b.waitSent(t, "You said: thanks!")
	if n := b.sent("Yes to both: gluten-free crust and vegan cheese."); n != 1 {
		t.Fatalf("the reply reached the customer %d times", n)
	}

	// The support desk: a ticket posted to the staff room, taken over in
	// the console, and the staff room told who has it.
	b.hs.SetMembers(staff, map[string]string{"@admin:example.org": "Admin", "@sam:example.org": "Sam", helpBot: "Help Desk"})
	b.push(t, fakehs.Invite(staff, "@admin:example.org", helpBot, false))
	b.waitFor(t, helpBot, staff, "New tickets appear in this room")
	b.hs.SetMembers(helpDM, map[string]string{customer: "Carla", helpBot: "Help Desk"})
	b.push(t, fakehs.Invite(helpDM, customer, helpBot, true))
	b.push(t, fakehs.Message(helpDM, customer, "I want to talk to a person about my invoice"))
	b.waitFor(t, helpBot, staff, "New ticket 1 from Carla")
	run(t, ctx, "take the ticket over in the console",
		// Straight to the conversation: the inbox's live list is still
		// changing while the ticket is posted.
		chromedp.Navigate(b.console+"/b/help/c/"+url.PathEscape(helpDM)),
		chromedp.WaitVisible(`//button[normalize-space()="Take over"]`),
		chromedp.Click(`//button[normalize-space()="Take over"]`),
		chromedp.WaitVisible(chromedp.CSS(`#reply-text`)),
	)
	b.waitFor(t, helpBot, staff, "✋ "+alice+" took ticket 1 over in the business console.")
	run(t, ctx, "the ticket shows as the customer's, claimed",
		chromedp.Reload(),
		chromedp.WaitVisible(`//ul[@class="records"]//li[contains(., "ticket 1")][contains(., "claimed by `+alice+`")]`),
		screenshot(t, "ticket"),
	)

	// The webhook bot: the shop's server is down when Dan writes; the
	// owner sees the failed delivery and retries it once the server is up.
	b.hs.SetMembers(hooksDM, map[string]string{"@dan:example.org": "Dan", hooksBot: "Hook Shop"})
	b.push(t, fakehs.Invite(hooksDM, "@dan:example.org", hooksBot, true))
	b.push(t, fakehs.Message(hooksDM, "@dan:example.org", "Do you ship to Belgium?"))
	b.waitFor(t, hooksBot, hooksDM, "we have your message")
	run(t, ctx, "the webhook page shows the failed delivery",
		chromedp.Navigate(b.console+"/b/hooks/"),
		chromedp.Click(`//nav//a[normalize-space()="Webhook"]`),
		chromedp.WaitVisible(`//tr[contains(., "message")][contains(., "Failed")]//button[normalize-space()="Retry now"]`),
		screenshot(t, "webhook"),
	)
	// Let the bot's own first retry (5 s) fail too, so the next is minutes
	// away and the button, not the schedule, sends it.
	for deadline := time.Now().Add(time.Minute); b.shop.got.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not retry the delivery by itself (%d attempts)", b.shop.got.Load())
		}
		time.Sleep(100 * time.Millisecond) // polling another process's retry; bounded by deadline
	}
	b.shop.up.Store(true)
	run(t, ctx, "retry it",
		chromedp.Reload(),
		chromedp.WaitVisible(`//tr[contains(., "message")][contains(., "attempt 2")]`),
		chromedp.Click(`//tr[contains(., "message")]//button[normalize-space()="Retry now"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "sent again")]`),
	)
	b.waitFor(t, hooksBot, hooksDM, "Yes, we ship to Belgium.")
	run(t, ctx, "the delivery shows as delivered",
		chromedp.Reload(),
		chromedp.WaitVisible(`//tr[contains(., "message")][contains(., "Delivered")]`),
	)
	if n := b.shop.ok.Load(); n != 1 {
		t.Fatalf("the shop took the message %d times", n)
	}

	run(t, ctx, "another business's bot is out of reach",
		chromedp.Navigate(b.console+"/b/taxi/"),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
	)
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "no such bot, or you are not one of its staff") {
		t.Fatalf("taxi's console as pizza's owner: %q", body)
	}
	if strings.Contains(body, "City Taxi") {
		t.Fatal("the page names the other business's bot")
	}

	run(t, ctx, "sign out, and sign in as an agent",
		chromedp.Navigate(b.console+"/"),
		chromedp.Click(`//button[normalize-space()="Sign out"]`),
		chromedp.WaitVisible(chromedp.CSS(`#user`)),
		chromedp.SendKeys(chromedp.CSS(`#user`), "bob"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "battery staple"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(`//h1[normalize-space()="Your bots"]`),
	)
	run(t, ctx, "an agent is refused an owner page",
		chromedp.Navigate(b.console+"/b/pizza/saved"),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "Only the bot's owners can use this page")]`),
		screenshot(t, "refused"),
	)
}
