package harness

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAS records the events Dendrite pushes to an appservice.
type fakeAS struct {
	hsToken string
	mu      sync.Mutex
	events  []map[string]any
	badAuth int
	notify  chan struct{}
}

func (f *fakeAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.hsToken {
		f.mu.Lock()
		f.badAuth++
		f.mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN"}`))
		return
	}
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
		var txn struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&txn); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.events = append(f.events, txn.Events...)
		f.mu.Unlock()
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

// waitEvent waits up to timeout for an event matching pred.
func (f *fakeAS) waitEvent(t *testing.T, timeout time.Duration, what string, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		for _, ev := range f.events {
			if pred(ev) {
				f.mu.Unlock()
				return ev
			}
		}
		n, bad := len(f.events), f.badAuth
		f.mu.Unlock()
		select {
		case <-f.notify:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("appservice never received %s within %s (%d events, %d bad-auth requests)", what, timeout, n, bad)
		}
	}
}

// TestDendriteAppservice starts Dendrite with a hand-written registration
// pointing at a fake appservice and walks the path bizbots relies on:
// register a bot with the AS token, a user opens a DM with it, the invite
// reaches the appservice, the bot joins and speaks, the user sees it.
func TestDendriteAppservice(t *testing.T) {
	as := &fakeAS{hsToken: RandomToken(16), notify: make(chan struct{}, 1)}
	srv := httptest.NewServer(as) // listens on 127.0.0.1
	defer srv.Close()

	work := t.TempDir()
	reg := Registration{
		ID:              "bizbots-test",
		URL:             srv.URL,
		ASToken:         RandomToken(16),
		HSToken:         as.hsToken,
		SenderLocalpart: "bizbots",
		UserRegex:       "@(pizza|taxi|support|bizbots):localhost",
	}
	regPath := filepath.Join(work, "registration.yaml")
	if err := reg.Write(regPath); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d := Start(t, Options{WorkDir: filepath.Join(work, "dendrite"), Registrations: []string{regPath}})
	t.Logf("dendrite up at %s in %s", d.URL, time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The bot user, registered the way an appservice does it.
	if err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/register", reg.ASToken,
		map[string]any{"type": "m.login.application_service", "username": "pizza"}, nil); err != nil {
		t.Fatalf("register bot: %v", err)
	}
	// Registering it again answers M_USER_IN_USE.
	err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/register", reg.ASToken,
		map[string]any{"type": "m.login.application_service", "username": "pizza"}, nil)
	if he, ok := err.(*HTTPError); !ok || he.ErrCode != "M_USER_IN_USE" {
		t.Errorf("second bot registration: got %v, want M_USER_IN_USE", err)
	}
	// The appservice's sender user exists already: Dendrite creates it at
	// start-up, so registering it answers M_USER_IN_USE too.
	err = d.Do(ctx, http.MethodPost, "/_matrix/client/v3/register", reg.ASToken,
		map[string]any{"type": "m.login.application_service", "username": "bizbots"}, nil)
	if he, ok := err.(*HTTPError); !ok || he.ErrCode != "M_USER_IN_USE" {
		t.Errorf("registration of the sender user: got %v, want M_USER_IN_USE", err)
	}
	// Note: Dendrite v0.13.8's shared-secret admin API does NOT check the
	// exclusive appservice namespaces (creating @taxi that way succeeds), so
	// tests must not create users whose names match the bots' regex.

	if _, err := d.RegisterUser(ctx, "alice", "alice-password", false); err != nil {
		t.Fatal(err)
	}
	alice, err := d.Login(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	if alice.UserID != "@alice:localhost" {
		t.Fatalf("login user_id = %q", alice.UserID)
	}

	var created struct {
		RoomID string `json:"room_id"`
	}
	if err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/createRoom", alice.AccessToken, map[string]any{
		"is_direct": true,
		"invite":    []string{"@pizza:localhost"},
		"preset":    "trusted_private_chat",
	}, &created); err != nil {
		t.Fatalf("createRoom: %v", err)
	}
	as.waitEvent(t, 30*time.Second, "the invite of @pizza", func(ev map[string]any) bool {
		content, _ := ev["content"].(map[string]any)
		return ev["type"] == "m.room.member" && ev["state_key"] == "@pizza:localhost" &&
			ev["room_id"] == created.RoomID && content["membership"] == "invite"
	})

	asUser := "?user_id=" + url.QueryEscape("@pizza:localhost")
	if err := d.Do(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(created.RoomID)+asUser,
		reg.ASToken, map[string]any{}, nil); err != nil {
		t.Fatalf("bot join: %v", err)
	}
	if err := d.Do(ctx, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(created.RoomID)+
		"/send/m.room.message/txn1"+asUser, reg.ASToken,
		map[string]any{"msgtype": "m.text", "body": "welcome"}, nil); err != nil {
		t.Fatalf("bot send: %v", err)
	}
	// The user's message reaches the appservice.
	if err := d.Do(ctx, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(created.RoomID)+
		"/send/m.room.message/a1", alice.AccessToken,
		map[string]any{"msgtype": "m.text", "body": "hello pizza"}, nil); err != nil {
		t.Fatalf("alice send: %v", err)
	}
	as.waitEvent(t, 30*time.Second, "alice's message", func(ev map[string]any) bool {
		content, _ := ev["content"].(map[string]any)
		return ev["type"] == "m.room.message" && ev["sender"] == "@alice:localhost" && content["body"] == "hello pizza"
	})

	// Alice sees the bot's welcome through /sync.
	var sync struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct {
					Events []map[string]any `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	if err := d.Do(ctx, http.MethodGet, "/_matrix/client/v3/sync?timeout=0", alice.AccessToken, nil, &sync); err != nil {
		t.Fatalf("sync: %v", err)
	}
	found := false
	for _, ev := range sync.Rooms.Join[created.RoomID].Timeline.Events {
		content, _ := ev["content"].(map[string]any)
		if ev["sender"] == "@pizza:localhost" && content["body"] == "welcome" {
			found = true
		}
	}
	if !found {
		t.Errorf("alice's sync has no welcome from @pizza in %s", created.RoomID)
	}

	stopStart := time.Now()
	if err := d.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	t.Logf("dendrite stopped in %s", time.Since(stopStart).Round(time.Millisecond))
}

// buildFake builds testdata/fakebizbots, a stand-in that follows the
// bizbots CLI contract (init, serve) and echoes messages.
func buildFake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakebizbots")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./testdata/fakebizbots").CombinedOutput()
	if err != nil {
		t.Fatalf("build fakebizbots: %v\n%s", err, out)
	}
	return bin
}

// TestStackClientScript runs the whole stack (bizbots init, Dendrite with
// the registration, bizbots serve) with the fake bizbots, and drives it
// with e2e/client.py (matrix-nio), checking the client's JSON lines.
func TestStackClientScript(t *testing.T) {
	py := PythonWithNio(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := StartStackT(t, StackOptions{BizbotsBin: buildFake(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Dendrite.RegisterUser(ctx, "alice", "alice-password", false); err != nil {
		t.Fatal(err)
	}

	const n = 5
	res := RunClient(py, filepath.Join(root, "e2e", "client.py"), ClientArgs{
		Homeserver: s.Dendrite.URL, User: "alice", Password: "alice-password", Bot: "@pizza:localhost",
		Messages: n, Timeout: 60 * time.Second, Extra: []string{"--expect-echo", "--exact"},
	})
	if res.Err != nil {
		t.Fatalf("client.py: %v\nstderr:\n%s\nstdout:\n%s", res.Err, res.Stderr, res.Stdout)
	}
	t.Logf("client.py output:\n%s", res.Stdout)
	if got := len(res.Replies()); got != n {
		t.Fatalf("replies = %d, want %d\n%s", got, n, res.Stdout)
	}
	for i, r := range res.Replies() {
		if want := "echo: message " + strconv.Itoa(i+1); r.Body != want {
			t.Errorf("reply %d = %q, want %q", i+1, r.Body, want)
		}
	}
	if w := res.Welcome(); w == nil || !strings.Contains(w.Body, "Welcome") {
		t.Errorf("no welcome in client output:\n%s", res.Stdout)
	}
}

// TestRequiredByDefault: missing prerequisites fail unless E2E_ALLOW_SKIP
// is exactly "1".
func TestRequiredByDefault(t *testing.T) {
	for _, tc := range []struct {
		val  string
		set  bool
		want bool
	}{
		{"", false, true},
		{"", true, true},
		{"0", true, true},
		{"true", true, true},
		{"1", true, false},
	} {
		if tc.set {
			t.Setenv(AllowSkipEnv, tc.val)
		} else {
			t.Setenv(AllowSkipEnv, "")
		}
		if got := Required(); got != tc.want {
			t.Errorf("%s=%q (set %v): Required() = %v, want %v", AllowSkipEnv, tc.val, tc.set, got, tc.want)
		}
	}
}

// TestEditConfig edits values inside sections of a bizbots-style YAML and
// refuses keys that are not there.
func TestEditConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	in := "logging:\n  # a comment\n  level: info\n  format: auto\n\ndispatcher:\n  workers: 8\n  lease_timeout: 2m\nsender:\n  workers: 8\n"
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EditConfig(path, map[string]string{"logging.level": "debug", "dispatcher.lease_timeout": "5s", "sender.workers": "2"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "logging:\n  # a comment\n  level: debug\n  format: auto\n\ndispatcher:\n  workers: 8\n  lease_timeout: 5s\nsender:\n  workers: 2\n"
	if string(got) != want {
		t.Errorf("edited config:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{"logging.colour", "nosuch.level", "level", "dispatcher.lease_timeout.x"} {
		if err := EditConfig(path, map[string]string{bad: "x"}); err == nil {
			t.Errorf("EditConfig(%q) succeeded, want an error", bad)
		}
	}
}

// TestBotConfigEdits sets, replaces and adds config blocks and bots in a
// bots section shaped like the one `bizbots init` writes.
func TestBotConfigEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	in := `logging:
  level: info

# The bots.
bots:
  - localpart: pizza
    display_name: "Pizza Place"
    # a comment
    service: ordering
    welcome: "Hi!"
  - localpart: echo
    service: echo
`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetBotConfig(path, "pizza", "catalog:\n  currency: EUR\n\n  items: []\n"); err != nil {
		t.Fatal(err)
	}
	if err := SetBotConfig(path, "echo", `{"a": 1}`); err != nil {
		t.Fatal(err)
	}
	// Replacing a block drops the old one, block or one line.
	if err := SetBotConfig(path, "pizza", `{"shop": "P"}`); err != nil {
		t.Fatal(err)
	}
	if err := SetBotConfig(path, "echo", "x: 1\ny: [2]"); err != nil {
		t.Fatal(err)
	}
	if err := AddBot(path, BotEntry{Localpart: "coffee", DisplayName: "Corner Coffee", Service: "example-coffee", Welcome: `Say "menu"`, Config: `{"shop": "C"}`}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := `logging:
  level: info

# The bots.
bots:
  - localpart: pizza
    display_name: "Pizza Place"
    # a comment
    service: ordering
    welcome: "Hi!"
    config: {"shop": "P"}
  - localpart: echo
    service: echo
    config:
      x: 1
      y: [2]
  - localpart: "coffee"
    display_name: "Corner Coffee"
    service: "example-coffee"
    welcome: "Say \"menu\""
    config: {"shop": "C"}
`
	if string(got) != want {
		t.Errorf("edited config:\n%s\nwant:\n%s", got, want)
	}
	if err := SetBotConfig(path, "taxi", "{}"); err == nil {
		t.Error("SetBotConfig of a bot that is not there succeeded")
	}
}

// TestClientSessionCommands drives client.py --interactive against the
// fake bizbots in an existing room (--room: the client invites the bot)
// and checks each command's event: a text, a location, a message in a
// thread, and a reaction.
func TestClientSessionCommands(t *testing.T) {
	py := PythonWithNio(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := StartStackT(t, StackOptions{BizbotsBin: buildFake(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	alice, err := s.Dendrite.RegisterUser(ctx, "alice", "alice-password", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Dendrite.SetDisplayName(ctx, alice, "Alice"); err != nil {
		t.Fatal(err)
	}
	room, err := s.Dendrite.CreateRoom(ctx, alice, map[string]any{"name": "staff", "preset": "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := StartClientSession(py, filepath.Join(root, "e2e", "client.py"), ClientArgs{
		Homeserver: s.Dendrite.URL, User: "alice", Password: "alice-password", Bot: "@echo:localhost",
		Room: room, Timeout: 60 * time.Second,
	})
	if err != nil {
		if cs != nil {
			out, errOut := cs.Output()
			t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		t.Fatal(err)
	}
	defer func() {
		res := cs.Close()
		if res.Err != nil || t.Failed() {
			t.Errorf("client.py: %v\n%s\n%s", res.Err, res.Stdout, res.Stderr)
		}
	}()
	welcome := cs.Messages("@echo:localhost")
	if len(welcome) != 1 || welcome[0].RoomID != room {
		t.Fatalf("want the bot's welcome in %s, got %+v", room, welcome)
	}
	root0 := welcome[0].EventID
	for _, step := range []struct {
		send func() error
		what string
	}{
		{func() error { return cs.Send("hello") }, "text"},
		{func() error { return cs.SendLocation("geo:52.3731,4.8926", "Dam Square") }, "location"},
		{func() error { return cs.SendThread(root0, "in the thread") }, "thread"},
		{func() error { return cs.React(root0, "1️⃣") }, "reaction"},
	} {
		if err := step.send(); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := cs.WaitFor(30*time.Second, "the four sent events and three echoes", func(ls []ClientLine) bool {
		events, echoes := 0, 0
		for _, l := range ls {
			if l.Kind == "event" && l.Sender == "@alice:localhost" && (l.Type == "m.room.message" || l.Type == "m.reaction") {
				events++
			}
			if l.Kind == "event" && l.Sender == "@echo:localhost" && strings.HasPrefix(l.Body, "echo: ") {
				echoes++
			}
		}
		return events == 4 && echoes == 3
	})
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	var loc, thread, reaction *ClientLine
	for i, l := range lines {
		switch {
		case l.Kind == "sent":
			sent = append(sent, l.What)
		case l.Kind == "event" && l.Sender == "@alice:localhost" && l.MsgType == "m.location":
			loc = &lines[i]
		case l.Kind == "event" && l.Sender == "@alice:localhost" && l.Body == "in the thread":
			thread = &lines[i]
		case l.Kind == "event" && l.Sender == "@alice:localhost" && l.Type == "m.reaction":
			reaction = &lines[i]
		}
	}
	if strings.Join(sent, ",") != "text,location,thread,reaction" {
		t.Errorf("sent lines: %v", sent)
	}
	if loc == nil || loc.GeoURI != "geo:52.3731,4.8926" || loc.Body != "Dam Square" {
		t.Errorf("location event: %+v", loc)
	}
	if thread == nil || thread.Thread != root0 || thread.InReplyTo != root0 {
		t.Errorf("thread event: %+v (want thread and in_reply_to %s)", thread, root0)
	}
	if reaction == nil || reaction.Key != "1️⃣" || reaction.RelatesTo != root0 {
		t.Errorf("reaction event: %+v (want key 1️⃣ on %s)", reaction, root0)
	}
}
