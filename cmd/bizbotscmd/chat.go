package bizbotscmd

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/playground"
	"github.com/bizbots/bizbots/store"
)

// chatInput is where `bizbots chat` reads lines (tests replace it).
var chatInput io.Reader = os.Stdin

func cmdChat(args []string, stdout, stderr io.Writer) error {
	// The bot is a positional argument; flags may come before or after it.
	var bot string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-") && bot == "":
			bot = a
		case (a == "--as" || a == "-as" || a == "--config" || a == "-config" || a == "--name" || a == "-name" || a == "--database" || a == "-database") && i+1 < len(args):
			rest = append(rest, a, args[i+1])
			i++
		default:
			rest = append(rest, a)
		}
	}
	fs, cfgPath := newFlags("chat", "BOT [--as @user:domain] [--name NAME] [--database URI]", stdout)
	as := fs.String("as", "", "the customer you play (default @you:DOMAIN)")
	name := fs.String("name", "", "your display name (default: the localpart of --as)")
	dbURI := fs.String("database", "", "playground database (default sqlite:playground.db next to the config; never point it at a running service's database)")
	if err := parse(fs, rest); err != nil {
		return err
	}
	explicit := os.Getenv(config.EnvConfigPath) != ""
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.Load(*cfgPath)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		// A fresh checkout: play with the bots `bizbots init` would
		// configure, so the README's first command works.
		cfg, err = demoConfig()
		fmt.Fprintf(stderr, "bizbots chat: no %s here, so you are chatting with the demo bots `bizbots init` configures.\n", *cfgPath)
	}
	if err != nil {
		return err
	}
	if bot == "" {
		return fmt.Errorf("%w: which bot? e.g. `bizbots chat %s`", errUsage, cfg.Bots[0].Localpart)
	}
	botID := id.UserID(bot)
	if !strings.HasPrefix(bot, "@") {
		botID = cfg.UserID(bot)
	}
	if _, ok := cfg.BotByUserID(botID); !ok {
		var names []string
		for _, b := range cfg.Bots {
			names = append(names, b.Localpart)
		}
		return fmt.Errorf("%w: no bot %q in %s (bots: %s)", errUsage, bot, cfg.Path, strings.Join(names, ", "))
	}
	customer := id.UserID(*as)
	if customer == "" {
		customer = cfg.UserID("you")
	} else if _, _, err := customer.Parse(); err != nil || !strings.HasPrefix(*as, "@") {
		return fmt.Errorf("%w: --as %q is not a Matrix user id like @ana:example.org", errUsage, *as)
	}
	if *name == "" {
		*name = customer.Localpart()
	}
	if *dbURI == "" {
		*dbURI = "sqlite:" + filepath.Join(filepath.Dir(*cfgPath), "playground.db")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dbURI, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, _, err := db.Upgrade(ctx); err != nil {
		return err
	}
	log := zerolog.New(stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	bots, err := buildBots(cfg, db, nil, nil, log) // no homeserver: menus go out as text
	if err != nil {
		return err
	}
	clock := &offsetClock{}
	s := playground.New(db, bots, playground.Options{Clock: clock.Now, Log: log})
	r := &chatREPL{s: s, out: stdout, bot: botID, customer: customer, name: *name, clock: clock}
	return r.run(ctx, chatInput)
}

// demoConfig is the config `bizbots init` writes, for a playground with
// no config file. Its tokens are never used: the playground has no
// homeserver.
func demoConfig() (*config.Config, error) {
	data, err := config.Render(config.InitOptions{HomeserverURL: "http://localhost:8008", Domain: "localhost",
		ASToken: strings.Repeat("a", 64), HSToken: strings.Repeat("h", 64)})
	if err != nil {
		return nil, err
	}
	return config.Parse(data, "the demo config")
}

// offsetClock is the real time plus what /wait added.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type chatREPL struct {
	s        *playground.Session
	out      io.Writer
	bot      id.UserID
	customer id.UserID
	name     string
	clock    *offsetClock
	last     *playground.Reply // last question, for /react
}

const chatHelp = `Type to talk to the bot. Commands:
  /react N       click reaction N under the bot's last question (typing N works too)
  /as @user:dom  continue as another customer
  /wait 10m      let time pass (fires timers, expires conversations)
  /help          this text
  /quit          leave (Ctrl-D works too)`

func (r *chatREPL) run(ctx context.Context, in io.Reader) error {
	fmt.Fprintf(r.out, "Chatting with %s as %s (no homeserver: the playground). /help lists commands.\n", r.bot, r.customer)
	if err := r.show(r.s.Open(ctx, r.bot, r.customer, r.name)); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for {
		fmt.Fprint(r.out, "> ")
		if !sc.Scan() {
			fmt.Fprintln(r.out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		var err error
		switch cmd {
		case "/quit", "/exit":
			return nil
		case "/help":
			fmt.Fprintln(r.out, chatHelp)
		case "/react":
			n, convErr := strconv.Atoi(arg)
			switch {
			case r.last == nil || len(r.last.Reactions) == 0:
				fmt.Fprintln(r.out, "(no question with reactions to react to)")
			case convErr != nil || n < 1 || n > len(r.last.Reactions):
				fmt.Fprintf(r.out, "(pick a reaction from 1 to %d)\n", len(r.last.Reactions))
			default:
				err = r.show(r.s.React(ctx, r.bot, r.customer, r.last.EventID, r.last.Reactions[n-1]))
			}
		case "/as":
			uid := id.UserID(arg)
			if _, _, perr := uid.Parse(); perr != nil || !strings.HasPrefix(arg, "@") {
				fmt.Fprintln(r.out, "(usage: /as @user:domain)")
				continue
			}
			r.customer, r.name, r.last = uid, uid.Localpart(), nil
			fmt.Fprintf(r.out, "(you are now %s)\n", uid)
			err = r.show(r.s.Open(ctx, r.bot, r.customer, r.name))
		case "/wait":
			d, perr := time.ParseDuration(arg)
			if perr != nil || d <= 0 {
				fmt.Fprintln(r.out, "(usage: /wait 10m)")
				continue
			}
			r.clock.add(d)
			fmt.Fprintf(r.out, "(%s later)\n", d)
			err = r.show(r.s.Step(ctx))
		default:
			if strings.HasPrefix(cmd, "/") && !strings.HasPrefix(line, "//") {
				fmt.Fprintf(r.out, "(unknown command %s; /help lists them)\n", cmd)
				continue
			}
			err = r.show(r.s.Say(ctx, r.bot, r.customer, line))
		}
		if err != nil {
			return err
		}
	}
}

func (r *chatREPL) show(replies []playground.Reply, err error) error {
	if err != nil {
		return err
	}
	for i := range replies {
		rep := replies[i]
		who := rep.Bot.Localpart()
		if rep.Room != r.s.Room(r.bot, r.customer) {
			who += " → another chat"
		}
		for j, line := range strings.Split(rep.Body, "\n") {
			if j == 0 {
				fmt.Fprintf(r.out, "%s: %s\n", who, line)
			} else {
				fmt.Fprintf(r.out, "%s  %s\n", strings.Repeat(" ", len(who)), line)
			}
		}
		if len(rep.Reactions) > 0 {
			fmt.Fprintf(r.out, "%s  [reactions: %s — type a number or /react N]\n", strings.Repeat(" ", len(who)), strings.Join(rep.Reactions, " "))
			r.last = &replies[i]
		}
	}
	return nil
}
