// Command bizbots-demo runs bizbots behind a throw-away Dendrite homeserver
// on 127.0.0.1 for `make demo` (scripts/demo.sh builds and runs it).
//
// It runs `bizbots init` into -dir, starts Dendrite with the registration,
// creates a staff account with a staff room for the pizza bot (the
// kitchen) and one for the support bot (the help desk), starts `bizbots
// serve` with those rooms in its config, has the staff account invite the
// bots, creates a customer account, and prints how to log in as either
// with any Matrix client. Ctrl-C (or SIGTERM) stops bizbots, then Dendrite. With
// -smoke it instead runs e2e/client.py once against @echo (the default
// config's install check: it answers "You said: …") and exits 0 or 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/e2e/harness"
	"github.com/bizbots/bizbots/services/ordering"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		bizbots   = flag.String("bizbots", "", "path to the bizbots binary (required)")
		dir       = flag.String("dir", "", "demo work dir (required; configs, databases, logs)")
		hsPort    = flag.Int("hs-port", 0, "homeserver port on 127.0.0.1 (0: 8008 if free, else any free port)")
		asPort    = flag.Int("as-port", 0, "bizbots appservice port on 127.0.0.1 (0: any free port)")
		user      = flag.String("user", "demo", "demo user localpart")
		password  = flag.String("password", "bizbots-demo", "demo user password")
		staffUser = flag.String("staff-user", "staff", "staff user localpart (kitchen and help desk)")
		staffPass = flag.String("staff-password", "bizbots-staff", "staff user password")
		smoke     = flag.Bool("smoke", false, "run e2e/client.py once against @echo, then stop and exit 0/1")
		messages  = flag.Int("messages", 3, "messages the -smoke client sends")
		client    = flag.String("client", "", "path to e2e/client.py (default: from the repository)")
		python    = flag.String("python", harness.Python(), "python with matrix-nio, for -smoke")
		verbose   = flag.Bool("v", false, "copy bizbots' and Dendrite's logs to stdout")
	)
	flag.Parse()
	if *bizbots == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "bizbots-demo: -bizbots and -dir are required")
		flag.Usage()
		return 2
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...) }

	if *hsPort == 0 && !*smoke && portFree(8008) {
		*hsPort = 8008
	}
	var logOut io.Writer
	if *verbose {
		logOut = os.Stdout
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logf("starting Dendrite %s and bizbots in %s ...", harness.DendriteVersion, *dir)
	start := time.Now()
	var staff *staffSide
	var consoleURL string
	s, err := harness.StartStack(ctx, harness.StackOptions{
		BizbotsBin: *bizbots,
		Dir:        *dir,
		HSPort:     *hsPort,
		ASPort:     *asPort,
		Log:        logOut,
		BeforeServe: func(ctx context.Context, s *harness.Stack) error {
			if *smoke {
				return nil
			}
			var err error
			staff, err = setUpStaff(ctx, s, *staffUser, *staffPass)
			if err == nil {
				consoleURL, err = enableConsole(s.ConfigPath, staff.user.UserID)
			}
			return err
		},
	})
	if err != nil {
		logf("FAILED to start: %v", err)
		return 1
	}
	defer func() {
		logf("stopping bizbots and Dendrite ...")
		if err := s.Stop(); err != nil {
			logf("stop: %v", err)
		}
		logf("stopped")
	}()

	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = s.Dendrite.RegisterUser(uctx, *user, *password, false)
	cancel()
	if err != nil {
		logf("FAILED to create the demo user: %v", err)
		return 1
	}
	userID := s.Dendrite.UserID(*user)

	if *smoke {
		logf("up in %s", time.Since(start).Round(100*time.Millisecond))
		return runSmoke(s, *python, *client, *user, *password, *messages, logf)
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = staff.inviteBots(ictx, s)
	cancel()
	if err != nil {
		logf("FAILED to bring the bots into the staff rooms: %v", err)
		return 1
	}
	logf("up in %s", time.Since(start).Round(100*time.Millisecond))

	var bots []string
	for _, b := range []struct{ localpart, what string }{
		{"pizza", `order food (say "menu")`},
		{"taxi", `book a ride (say "book")`},
		{"support", "ask the support desk"},
		{"echo", "repeats what you say: a quick check that everything works"},
	} {
		bots = append(bots, fmt.Sprintf("%-22s %s", s.Dendrite.UserID(b.localpart), b.what))
	}
	fmt.Printf(`
bizbots demo is running.

  Homeserver URL:  %s

As a CUSTOMER log in as
  User:            %s   (username "%s")
  Password:        %s
start a direct message with one of these bots and say hello:

  %s

As STAFF log in (another client, or a private window) as
  User:            %s   (username "%s")
  Password:        %s
You are already in two rooms with the bots:
  %-22s new pizza orders appear here; reply "!order 1001 preparing", "ready", "delivered"
  %-22s support tickets appear here; reply in a ticket's thread to answer the customer, "!close" to close it

Log in with any Matrix client (Element: "Sign in" > "Edit" homeserver >
%s). These two accounts are the only ones: registration from clients
is disabled on this homeserver.

The business console (docs/console.md): %s
  sign in there as the staff user to see the bots' conversations, take
  one over from the bot and answer the customer yourself.

Files and logs:   %s
  bizbots log:    %s
  Dendrite log:   %s

Press Ctrl-C to stop.
`, s.Dendrite.URL, userID, *user, *password, strings.Join(bots, "\n  "),
		staff.user.UserID, *staffUser, *staffPass, staff.kitchenName, staff.deskName,
		s.Dendrite.URL, consoleURL, s.Dir, s.Bizbots.LogPath, s.Dendrite.LogPath)

	select {
	case <-ctx.Done():
		fmt.Println()
		return 0
	case <-s.Bizbots.Done():
		logf("bizbots exited unexpectedly (%v)\n--- tail of %s ---\n%s", s.Bizbots.ExitErr(), s.Bizbots.LogPath, harness.TailFile(s.Bizbots.LogPath, 40))
		return 1
	case <-s.Dendrite.Done():
		logf("Dendrite exited unexpectedly\n--- tail of %s ---\n%s", s.Dendrite.LogPath, harness.TailFile(s.Dendrite.LogPath, 40))
		return 1
	}
}

func runSmoke(s *harness.Stack, python, client, user, password string, messages int, logf func(string, ...any)) int {
	if client == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			logf("%v", err)
			return 1
		}
		client = filepath.Join(root, "e2e", "client.py")
	}
	if err := harness.CheckNio(python); err != nil {
		logf("%v", err)
		return 1
	}
	bot := s.Dendrite.UserID("echo")
	logf("smoke: %s opens a DM with %s and sends %d messages ...", user, bot, messages)
	res := harness.RunClient(python, client, harness.ClientArgs{
		Homeserver: s.Dendrite.URL, User: user, Password: password, Bot: bot,
		Messages: messages, Timeout: 60 * time.Second,
		Extra: []string{"--expect-echo", "--exact"}, // "You said: message i", nothing more
	})
	os.Stdout.WriteString(res.Stdout)
	if res.Err != nil {
		logf("smoke FAILED: %v\n%s", res.Err, res.Stderr)
		logf("--- tail of %s ---\n%s", s.Bizbots.LogPath, harness.TailFile(s.Bizbots.LogPath, 40))
		return 1
	}
	w := res.Welcome()
	if w == nil || len(res.Replies()) != messages {
		logf("smoke FAILED: welcome=%v, %d replies (want %d)", w != nil, len(res.Replies()), messages)
		return 1
	}
	logf("smoke OK: welcome %q and %d replies", w.Body, len(res.Replies()))
	return 0
}

// staffSide is the staff account and its rooms with the bots.
type staffSide struct {
	user                  *harness.User
	kitchen, desk         string // room ids
	kitchenName, deskName string
}

// setUpStaff creates the staff account and the two staff rooms before
// bizbots starts, and puts the rooms into the pizza and support bots'
// config (a staff room must be in the config when bizbots starts).
func setUpStaff(ctx context.Context, s *harness.Stack, localpart, password string) (*staffSide, error) {
	u, err := s.Dendrite.RegisterUser(ctx, localpart, password, false)
	if err != nil {
		return nil, fmt.Errorf("create the staff user: %w", err)
	}
	if err := s.Dendrite.SetDisplayName(ctx, u, "Sam (staff)"); err != nil {
		return nil, err
	}
	st := &staffSide{user: u, kitchenName: "Pizza Place kitchen", deskName: "Support desk"}
	if st.kitchen, err = s.Dendrite.CreateRoom(ctx, u, map[string]any{"name": st.kitchenName, "preset": "private_chat"}); err != nil {
		return nil, fmt.Errorf("create the kitchen room: %w", err)
	}
	if st.desk, err = s.Dendrite.CreateRoom(ctx, u, map[string]any{"name": st.deskName, "preset": "private_chat"}); err != nil {
		return nil, fmt.Errorf("create the support desk room: %w", err)
	}
	pizza, err := pizzaConfig(s.ConfigPath, st.kitchen)
	if err != nil {
		return nil, err
	}
	if err := harness.SetBotConfig(s.ConfigPath, "pizza", pizza); err != nil {
		return nil, err
	}
	support, _ := json.Marshal(map[string]any{"staff_room": st.desk, "staff": []string{u.UserID}})
	if err := harness.SetBotConfig(s.ConfigPath, "support", string(support)); err != nil {
		return nil, err
	}
	return st, nil
}

// pizzaConfig is the pizza bot's config block: its staff room, and the
// demo pizzeria with a photo of each pizza (scripts/demo/menu, copied
// next to the config, where relative image paths start).
func pizzaConfig(configPath, kitchen string) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(filepath.Dir(configPath), "menu")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return "", err
	}
	cc := ordering.DefaultCatalog()
	for i, it := range cc.Items {
		data, err := os.ReadFile(filepath.Join(root, "scripts", "demo", "menu", it.ID+".png"))
		if errors.Is(err, os.ErrNotExist) {
			continue // no photo of this one
		}
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, it.ID+".png"), data, 0o600); err != nil {
			return "", err
		}
		cc.Items[i].Image = "menu/" + it.ID + ".png"
	}
	block, err := yaml.Marshal(map[string]any{"staff_room": kitchen, "catalog": cc})
	return string(block), err
}

// inviteBots has the staff account invite the pizza and support bots
// into their staff rooms, and waits until both have joined.
func (st *staffSide) inviteBots(ctx context.Context, s *harness.Stack) error {
	for _, r := range []struct{ room, bot string }{{st.kitchen, "pizza"}, {st.desk, "support"}} {
		path := "/_matrix/client/v3/rooms/" + url.PathEscape(r.room) + "/invite"
		if err := s.Dendrite.Do(ctx, http.MethodPost, path, st.user.AccessToken, map[string]string{"user_id": s.Dendrite.UserID(r.bot)}, nil); err != nil {
			return fmt.Errorf("invite %s: %w", r.bot, err)
		}
	}
	for _, r := range []struct{ room, bot string }{{st.kitchen, "pizza"}, {st.desk, "support"}} {
		if err := waitJoined(ctx, s, st.user.AccessToken, r.room, s.Dendrite.UserID(r.bot)); err != nil {
			return err
		}
	}
	return nil
}

// waitJoined polls the room's members until user has joined (bounded by ctx).
func waitJoined(ctx context.Context, s *harness.Stack, token, room, user string) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var members struct {
			Joined map[string]any `json:"joined"`
		}
		path := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/joined_members"
		if err := s.Dendrite.Do(ctx, http.MethodGet, path, token, nil, &members); err == nil {
			if _, ok := members.Joined[user]; ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not join its staff room %s: %w", user, room, ctx.Err())
		case <-tick.C:
		}
	}
}

// enableConsole turns the business console on in the demo config, on a
// free loopback port, with staff as owner of the pizza, taxi and support
// bots. It returns the console's address.
func enableConsole(path, staff string) (string, error) {
	if _, err := config.Load(path); err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	text := string(data)
	line := fmt.Sprintf("    console: {staff: [{user: %q, role: owner}]}\n", staff)
	for _, bot := range []string{"pizza", "taxi", "support"} {
		entry := "  - localpart: " + bot + "\n"
		if !strings.Contains(text, entry) {
			return "", fmt.Errorf("demo: no bot %q in %s", bot, path)
		}
		text = strings.Replace(text, entry, entry+line, 1)
	}
	text += fmt.Sprintf("\nconsole:\n  listen: %q\n", addr)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
