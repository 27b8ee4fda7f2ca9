package bizbotscmd

import (
	"context"
	"errors"
	"fmt"
	"github.com/rs/zerolog"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/store"
)

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("init", "--homeserver-url URL --domain NAME [flags]", stdout)
	hsURL := fs.String("homeserver-url", "", "homeserver client-server API URL, e.g. http://localhost:8008 (required)")
	domain := fs.String("domain", "", "server name of your users, e.g. example.org (required)")
	listen := fs.String("listen", "127.0.0.1:29330", "address the appservice listens on")
	asURL := fs.String("url", "", "URL the homeserver uses to reach the appservice (default http://LISTEN)")
	regPath := fs.String("registration", "", "registration file to write (default registration.yaml next to the config)")
	dbURI := fs.String("database", "", "database URI: sqlite:FILE (default sqlite:bizbots.db next to the config) or postgres://…")
	force := fs.Bool("force", false, "overwrite existing config and registration files")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *hsURL == "" || *domain == "" {
		return fmt.Errorf("%w: --homeserver-url and --domain are required (e.g. --homeserver-url http://localhost:8008 --domain example.org)", errUsage)
	}
	// Relative paths inside the config are relative to the config file.
	dir := filepath.Dir(*cfgPath)
	regInConfig := "registration.yaml"
	if *regPath == "" {
		*regPath = filepath.Join(dir, regInConfig)
	} else if abs, err := filepath.Abs(*regPath); err == nil {
		regInConfig = abs
	}
	if *dbURI == "" {
		*dbURI = "sqlite:bizbots.db" // next to the config
	} else if p, ok := strings.CutPrefix(*dbURI, "sqlite:"); ok && !filepath.IsAbs(p) {
		// Like --registration: a path given on the command line is
		// relative to where the command runs.
		if abs, err := filepath.Abs(p); err == nil {
			*dbURI = "sqlite:" + abs
		}
	}
	if !*force {
		for _, p := range []string{*cfgPath, *regPath} {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s already exists; not overwriting it (use --force to replace it, which changes the tokens)", p)
			}
		}
	}
	asToken, err := registration.NewToken()
	if err != nil {
		return err
	}
	hsToken, err := registration.NewToken()
	if err != nil {
		return err
	}
	data, err := config.Render(config.InitOptions{
		HomeserverURL: *hsURL, Domain: *domain, Listen: *listen, URL: *asURL,
		ASToken: asToken, HSToken: hsToken, Registration: regInConfig, DatabaseURI: *dbURI,
	})
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: %v", errUsage, ve)
		}
		return err
	}
	cfg, err := config.Parse(data, *cfgPath)
	if err != nil {
		return err
	}
	// The config holds the tokens too: it gets the same 0600 as the
	// registration.
	if err := registration.WriteFileSecret(*cfgPath, data, *force); err != nil {
		return err
	}
	if err := registration.FromConfig(cfg).Write(*regPath, *force); err != nil {
		// Never leave a config whose tokens no registration carries.
		_ = os.Remove(*cfgPath)
		return err
	}
	fmt.Fprintf(stdout, "Wrote %s and %s (mode 0600: they hold the appservice tokens).\n\n", *cfgPath, *regPath)
	fmt.Fprintln(stdout, "Bots:")
	for _, b := range cfg.Bots {
		fmt.Fprintf(stdout, "  %-28s %s (service: %s)\n", cfg.UserID(b.Localpart), b.DisplayName, b.Service)
	}
	fmt.Fprintf(stdout, "\nNext:\n")
	fmt.Fprintf(stdout, "  1. Add %s to your homeserver's appservice config and restart it\n", *regPath)
	fmt.Fprintf(stdout, "     (Synapse: app_service_config_files; Dendrite: app_service_api.config_files). See docs/admin.md.\n")
	fmt.Fprintf(stdout, "  2. Run: bizbots serve --config %s\n", *cfgPath)
	fmt.Fprintf(stdout, "  3. Open a direct chat with %s from any Matrix client.\n", cfg.UserID(cfg.Bots[0].Localpart))
	return nil
}

func cmdGenerateRegistration(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("generate-registration", "[--output FILE] [--force]", stdout)
	output := fs.String("output", "", "where to write it (default: appservice.registration from the config; - for stdout)")
	force := fs.Bool("force", false, "overwrite an existing file")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	reg := registration.FromConfig(cfg)
	if *output == "-" {
		data, err := reg.Marshal()
		if err != nil {
			return err
		}
		_, err = stdout.Write(data)
		return err
	}
	if *output == "" {
		*output = cfg.AppService.Registration
	}
	if err := reg.Write(*output, *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %s. Add it to your homeserver's appservice config and restart the homeserver.\n", *output)
	return nil
}

func cmdMigrate(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("migrate", "", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := store.Open(ctx, cfg.Database.URI, cfg.Database.MaxOpenConns)
	if err != nil {
		return err
	}
	defer db.Close()
	p := newProgress(stderr, "migrate")
	db.UpgradeProgress = func(done, total int) { p.update(done, total, "steps") }
	from, to, err := db.Upgrade(ctx)
	p.done()
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(stdout, "Database schema is up to date (version %d, %s).\n", to, db.Dialect)
	} else {
		fmt.Fprintf(stdout, "Database schema upgraded from version %d to %d (%s).\n", from, to, db.Dialect)
	}
	return upgradeCrypto(ctx, cfg, db, stdout, zerolog.Nop())
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs, _ := newFlags("version", "", stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	if commit != "" {
		info = &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: commit}}}
	}
	fmt.Fprintln(stdout, versionLine(info, buildDate))
	return nil
}

// buildDate and commit are set at build time with
// -ldflags "-X github.com/bizbots/bizbots/cmd/bizbotscmd.buildDate=…" (and
// .commit; the Makefile and the Dockerfile do). Without them the commit
// comes from what Go records of the checkout (unless -buildvcs=false).
var buildDate, commit string

// versionLine says which bizbots this is: version, the commit it was built
// from (Go records it when building in a git checkout), the build date, the
// schema it migrates to and the toolchain.
func versionLine(info *debug.BuildInfo, built string) string {
	rev, modified := "unknown", false
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		rev += "+changes"
	}
	if built == "" {
		built = "unknown"
	}
	return fmt.Sprintf("bizbots %s (commit %s, built %s; schema version %d, %s, %s/%s)",
		version, rev, built, store.LatestVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
