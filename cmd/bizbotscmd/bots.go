package bizbotscmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/runtimebots"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
)

// openStore loads the config and opens its database, migrated (the same
// upgrade serve runs).
func openStore(ctx context.Context, cfgPath string) (*config.Config, *store.DB, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, cfg.Database.URI, 2)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := db.Upgrade(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return cfg, db, nil
}

// subcommand splits "bizbots bots add …" into the subcommand and its args.
func subcommand(group string, args []string, subs map[string]string, stdout io.Writer) (string, []string, error) {
	names := slices.Sorted(maps.Keys(subs))
	usage := fmt.Sprintf("bizbots %s <%s> [flags] (see bizbots %s <sub> --help)", group, strings.Join(names, "|"), group)
	// A --config given before the subcommand is passed through.
	var pre []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprintln(stdout, "Usage: "+usage)
			for _, n := range names {
				fmt.Fprintf(stdout, "  %-15s %s\n", n, subs[n])
			}
			fmt.Fprintf(stdout, "\nFlags:\n  -config string\n    \tconfig file (env %s)\n", config.EnvConfigPath)
			return "", nil, flag.ErrHelp
		}
		if strings.Contains(args[0], "=") || len(args) < 2 {
			pre, args = append(pre, args[0]), args[1:]
		} else {
			pre, args = append(pre, args[0], args[1]), args[2:]
		}
	}
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%w: %s", errUsage, usage)
	}
	if _, ok := subs[args[0]]; !ok {
		return "", nil, fmt.Errorf("%w: unknown subcommand %q: %s", errUsage, args[0], usage)
	}
	return args[0], append(pre, args[1:]...), nil
}

// parseOne parses flags and exactly one positional argument (a bot).
func parseOne(fs *flag.FlagSet, args []string, what string) (string, error) {
	// Flags may come before or after the argument.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				helps[fs]()
				return "", err
			}
			return "", fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: name one %s", errUsage, what)
	}
	return pos[0], nil
}

func cmdBots(args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("bots", args, map[string]string{
		"add":           "add a webhook bot to a running bizbots (no restart)",
		"list":          "list the bots (config file and run time)",
		"remove":        "remove a bot added at run time",
		"rotate-secret": "give a bot a new webhook secret (both sign until --finish)",
	}, stdout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch sub {
	case "add":
		fs, cfgPath := newFlags("bots add", "--localpart NAME --business NAME --url URL [--name TEXT] [--avatar URL]", stdout)
		var s runtimebots.Spec
		fs.StringVar(&s.Localpart, "localpart", "", "the bot's localpart, inside appservice.bot_namespace (e.g. shop_flowers)")
		fs.StringVar(&s.DisplayName, "name", "", "display name customers see")
		fs.StringVar(&s.Avatar, "avatar", "", "avatar: mxc:// URI or http(s) URL")
		fs.StringVar(&s.Business, "business", "", "the business that owns it (its Send API token acts as the bot)")
		fs.StringVar(&s.URL, "url", "", "the business server's webhook URL")
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, db, err := openStore(ctx, *cfgPath)
		if err != nil {
			return err
		}
		defer db.Close()
		added, err := runtimebots.Add(ctx, db, cfg, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added %s (business %s). A running bizbots serves it within seconds.\n\n", added.UserID, s.Business)
		fmt.Fprintf(stdout, "Webhook secret (verify every request with it; shown once):\n  %s\n", added.Secret)
		if added.Token != "" {
			fmt.Fprintf(stdout, "Send API token of business %s (shown once):\n  %s\n", s.Business, added.Token)
		} else {
			fmt.Fprintf(stdout, "Business %s already has a Send API token; it may now act as %s too.\n", s.Business, added.UserID)
		}
		fmt.Fprintf(stdout, "\nCheck the business server answers: bizbots webhook test %s\n", s.Localpart)
		return nil
	case "list":
		fs, cfgPath := newFlags("bots list", "", stdout)
		if err := parse(fs, args); err != nil {
			return err
		}
		cfg, db, err := openStore(ctx, *cfgPath)
		if err != nil {
			return err
		}
		defer db.Close()
		return listBots(ctx, cfg, db, stdout)
	case "remove":
		fs, cfgPath := newFlags("bots remove", "LOCALPART", stdout)
		cfg, db, lp, err := runtimeBotArg(ctx, fs, args, *cfgPath, "remove it there and restart")
		if err != nil {
			return err
		}
		defer db.Close()
		if err := runtimebots.Remove(ctx, db, cfg, lp); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed %s. Running bizbots processes stop serving it within seconds.\n", cfg.UserID(lp))
		return nil
	default: // rotate-secret
		fs, cfgPath := newFlags("bots rotate-secret", "LOCALPART [--finish]", stdout)
		finish := fs.Bool("finish", false, "stop signing with the old secret (after the business switched)")
		cfg, db, lp, err := runtimeBotArg(ctx, fs, args, *cfgPath,
			"put the new secret in its config block and the old one in old_secrets (make one with `bizbots webhook secret`)")
		if err != nil {
			return err
		}
		defer db.Close()
		secret, err := runtimebots.RotateSecret(ctx, db, lp, *finish)
		if err != nil {
			return err
		}
		if *finish {
			fmt.Fprintf(stdout, "%s now signs with its new secret only.\n", cfg.UserID(lp))
			return nil
		}
		fmt.Fprintf(stdout, "New webhook secret of %s (shown once):\n  %s\n\n", cfg.UserID(lp), secret)
		fmt.Fprintf(stdout, "Requests are signed with the new and the old secret until you run\n  bizbots bots rotate-secret %s --finish\n", lp)
		return nil
	}
}

// runtimeBotArg parses a command naming one run-time bot and opens the
// store; a config-file bot is refused with how to change it there.
func runtimeBotArg(ctx context.Context, fs *flag.FlagSet, args []string, cfgPath, configFix string) (*config.Config, *store.DB, string, error) {
	lp, err := parseOne(fs, args, "bot (its localpart)")
	if err != nil {
		return nil, nil, "", err
	}
	// Flags may follow the bot: read --config after parsing.
	if f := fs.Lookup("config"); f != nil {
		cfgPath = f.Value.String()
	}
	cfg, db, err := openStore(ctx, cfgPath)
	if err != nil {
		return nil, nil, "", err
	}
	if _, ok := cfg.BotByUserID(cfg.UserID(lp)); ok {
		db.Close()
		return nil, nil, "", fmt.Errorf("%s is a bot of the config file %s: %s", cfg.UserID(lp), cfg.Path, configFix)
	}
	return cfg, db, lp, nil
}

func listBots(ctx context.Context, cfg *config.Config, db *store.DB, stdout io.Writer) error {
	rt, err := runtimebots.List(ctx, db, cfg)
	if err != nil {
		return err
	}
	disabled := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT bot_user_id, reason FROM webhook_disabled`)
	if err == nil {
		for rows.Next() {
			var bot, reason string
			if rows.Scan(&bot, &reason) == nil {
				disabled[bot] = reason
			}
		}
		rows.Close()
	}
	tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "BOT\tSERVICE\tFROM\tBUSINESS\tSTATE")
	state := func(uid string) string {
		if r, ok := disabled[uid]; ok {
			return "webhook DISABLED (" + r + "): bizbots webhook enable"
		}
		return "ok"
	}
	for _, b := range cfg.Bots {
		uid := cfg.UserID(b.Localpart).String()
		fmt.Fprintf(tw, "%s\t%s\tconfig\t-\t%s\n", uid, b.Service, state(uid))
	}
	for _, b := range rt {
		st := state(b.UserID.String())
		if b.OldSecret != "" {
			st += ", rotating secret"
		}
		fmt.Fprintf(tw, "%s\twebhook\trun time\t%s\t%s\n", b.UserID, b.Business, st)
	}
	return tw.Flush()
}

func cmdToken(args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("token", args, map[string]string{
		"add":    "issue a Send API token for a business and let it act as bots",
		"list":   "list businesses, their live tokens and bots",
		"revoke": "revoke every token of a business",
	}, stdout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fs, cfgPath := newFlags("token "+sub, "--business NAME [--bot LOCALPART]…", stdout)
	business := fs.String("business", "", "the business")
	var bots stringList
	if sub == "add" {
		fs.Var(&bots, "bot", "a bot (localpart) the business's tokens may act as; repeat for several")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if sub != "list" && *business == "" {
		return fmt.Errorf("%w: --business is required", errUsage)
	}
	cfg, db, err := openStore(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "add":
		for _, lp := range bots {
			uid := cfg.UserID(lp)
			if err := sendapi.Grant(ctx, db, *business, uid); err != nil {
				return err
			}
		}
		token, err := sendapi.IssueToken(ctx, db, *business)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Send API token of business %s (shown once; stored hashed):\n  %s\n", *business, token)
		return nil
	case "revoke":
		n, err := sendapi.RevokeTokens(ctx, db, *business)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked %d token(s) of business %s.\n", n, *business)
		return nil
	default:
		list, err := sendapi.Businesses(ctx, db)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "BUSINESS\tLIVE TOKENS\tBOTS")
		for _, b := range list {
			names := make([]string, len(b.Bots))
			for i, u := range b.Bots {
				names[i] = u.String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", b.Name, b.Tokens, strings.Join(names, ", "))
		}
		return tw.Flush()
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
