// Package bizbotscmd is the bizbots command line, importable: it turns
// flags into a config and runs one of its commands (init, serve,
// generate-registration, chat, migrate, status, retry, version). The commands are thin:
// the work lives in the packages they call.
//
// A business that writes its own Go services builds its own bizbots binary
// without forking the project, the way caddy's caddycmd is used: a main
// package that imports the services it wants (each registers itself in
// init) and calls Main:
//
//	package main
//
//	import (
//		"github.com/bizbots/bizbots/cmd/bizbotscmd"
//		_ "github.com/bizbots/bizbots/services/builtin"
//		_ "example.com/shop/mybot"
//	)
//
//	func main() { bizbotscmd.Main() }
package bizbotscmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bizbots/bizbots/config"
)

// version is set at build time with
// -ldflags "-X github.com/bizbots/bizbots/cmd/bizbotscmd.version=…".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"init", "write a commented config.yaml and registration.yaml", cmdInit},
		{"serve", "run the appservice", cmdServe},
		{"generate-registration", "write the registration file from the config", cmdGenerateRegistration},
		{"chat", "talk to a bot in the terminal, no homeserver needed", cmdChat},
		{"migrate", "create or upgrade the database schema", cmdMigrate},
		{"backup", "copy the SQLite database while serve runs (Postgres: says how)", cmdBackup},
		{"doctor", "check the installation, config to homeserver, and say what to fix", cmdDoctor},
		{"healthcheck", "ask the running serve whether it is healthy (exit 0 if so)", cmdHealthcheck},
		{"status", "show waiting, parked and failed work per bot", cmdStatus},
		{"retry", "re-queue parked events or failed replies", cmdRetry},
		{"bots", "add, list, remove, re-key webhook bots while bizbots runs", cmdBots},
		{"token", "issue, list, revoke businesses' Send API tokens", cmdToken},
		{"webhook", "test a webhook bot's URL, re-enable it, make a secret", cmdWebhook},
		{"version", "print the version", cmdVersion},
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage error")

// Main runs the command line with the process's arguments and exits with
// its status: 0 on success, 1 when the command failed, 2 for a usage
// mistake. The services a bot may name are the ones registered before
// Main is called (by the imports of the caller's main package).
func Main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// A --config given before the command applies to it.
	var pre []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			usage(stdout)
			return 0
		case a == "--config" || a == "-config":
			if len(args) < 2 {
				fmt.Fprintln(stderr, "bizbots: flag needs an argument: --config")
				return 2
			}
			pre = append(pre, "--config", args[1])
			args = args[2:]
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			pre = append(pre, a)
			args = args[1:]
		case a == "--version":
			args = []string{"version"}
		default:
			fmt.Fprintf(stderr, "bizbots: unknown flag %s (see bizbots --help)\n", a)
			return 2
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(append(pre, args[1:]...), stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(stderr, "bizbots %s: %s\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
				return 2
			default:
				fmt.Fprintf(stderr, "bizbots %s: %v\n", name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "bizbots: unknown command %q (commands: %s)\n", name, commandNames())
	return 2
}

func commandNames() string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "bizbots %s: business bots for Matrix, as an application service.\n\n", version)
	fmt.Fprintln(w, "Usage: bizbots [--config FILE] <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The config file is --config, else $%s, else %s.\n", config.EnvConfigPath, config.DefaultPath)
	fmt.Fprintln(w, "Run `bizbots <command> --help` for a command's flags. Docs: docs/admin.md.")
}

// newFlags makes a command's flag set with the shared --config flag. Parse
// errors come back as errUsage with flag's one-line message.
func newFlags(name, synopsis string, out io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := os.Getenv(config.EnvConfigPath)
	if def == "" {
		def = config.DefaultPath
	}
	cfgPath := fs.String("config", def, "config file (env "+config.EnvConfigPath+")")
	// flag calls Usage on every parse error; help is printed by parse,
	// only when asked for.
	fs.Usage = func() {}
	helps[fs] = func() {
		fmt.Fprintf(out, "Usage: bizbots %s %s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs, cfgPath
}

var helps = map[*flag.FlagSet]func(){}

// parse parses args, turning flag's errors into one-line usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			helps[fs]()
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
