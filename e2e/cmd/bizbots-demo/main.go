// Command bizbots-demo runs bizbots behind a throw-away Dendrite homeserver
// on 127.0.0.1 for `make demo` (scripts/demo.sh builds and runs it).
//
// It runs `bizbots init` into -dir, starts Dendrite with the registration,
// starts `bizbots serve`, creates a demo user, and prints how to log in with
// any Matrix client. Ctrl-C (or SIGTERM) stops bizbots, then Dendrite. With
// -smoke it instead runs e2e/client.py once against @echo (the default
// config's install check: it answers "You said: …") and exits 0 or 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bizbots/bizbots/e2e/harness"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		bizbots  = flag.String("bizbots", "", "path to the bizbots binary (required)")
		dir      = flag.String("dir", "", "demo work dir (required; configs, databases, logs)")
		hsPort   = flag.Int("hs-port", 0, "homeserver port on 127.0.0.1 (0: 8008 if free, else any free port)")
		asPort   = flag.Int("as-port", 0, "bizbots appservice port on 127.0.0.1 (0: any free port)")
		user     = flag.String("user", "demo", "demo user localpart")
		password = flag.String("password", "bizbots-demo", "demo user password")
		smoke    = flag.Bool("smoke", false, "run e2e/client.py once against @echo, then stop and exit 0/1")
		messages = flag.Int("messages", 3, "messages the -smoke client sends")
		client   = flag.String("client", "", "path to e2e/client.py (default: from the repository)")
		python   = flag.String("python", harness.Python(), "python with matrix-nio, for -smoke")
		verbose  = flag.Bool("v", false, "copy bizbots' and Dendrite's logs to stdout")
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
	s, err := harness.StartStack(ctx, harness.StackOptions{
		BizbotsBin:       *bizbots,
		Dir:              *dir,
		HSPort:           *hsPort,
		ASPort:           *asPort,
		Log:              logOut,
		OpenRegistration: true,
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
	logf("up in %s", time.Since(start).Round(100*time.Millisecond))

	if *smoke {
		return runSmoke(s, *python, *client, *user, *password, *messages, logf)
	}

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
  User:            %s   (username "%s")
  Password:        %s

Log in with any Matrix client (Element: "Sign in" > "Edit" homeserver >
%s), start a direct message with one of these bots and say hello:

  %s

Files and logs:   %s
  bizbots log:    %s
  Dendrite log:   %s
Registering more accounts from a client is allowed (loopback only).

Press Ctrl-C to stop.
`, s.Dendrite.URL, userID, *user, *password, s.Dendrite.URL, strings.Join(bots, "\n  "),
		s.Dir, s.Bizbots.LogPath, s.Dendrite.LogPath)

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

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
