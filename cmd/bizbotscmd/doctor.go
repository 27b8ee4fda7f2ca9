package bizbotscmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bizbots/bizbots/appservice/hscheck"
	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/registration"
	"github.com/bizbots/bizbots/store"
)

// cmdDoctor checks an installation from the config to the homeserver and
// prints each finding with what to do about it. It changes nothing (it
// does not even create a missing SQLite file). Exit status 1 when any
// check failed.
func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("doctor", "[--config FILE]", stdout)
	timeout := fs.Duration("timeout", 10*time.Second, "how long each network check may take")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := &doctor{out: stdout}
	d.run(*cfgPath, *timeout)
	fmt.Fprintf(stdout, "\n%d ok, %d warning(s), %d problem(s)\n", d.counts[hscheck.OK], d.counts[hscheck.Warn], d.counts[hscheck.Fail])
	if d.counts[hscheck.Fail] > 0 {
		return errDoctorFound
	}
	return nil
}

// errDoctorFound is returned when a check failed; the findings are already
// printed, so the error line only sums up.
var errDoctorFound = errors.New("some checks failed; fix the ✗ lines above")

type doctor struct {
	out    io.Writer
	counts [3]int
}

// docs names where each kind of problem is explained.
const (
	docConfig   = "docs/admin.md#2-write-the-config-and-the-registration"
	docRegister = "docs/admin.md#3-register-bizbots-with-the-homeserver"
	docDatabase = "docs/admin.md#5-choose-the-database"
	docTrouble  = "docs/admin.md#troubleshooting"
)

func (d *doctor) report(f hscheck.Finding, doc string) {
	d.counts[f.Level]++
	mark := [...]string{"✓", "⚠", "✗"}[f.Level]
	fmt.Fprintf(d.out, "%s %s: %s\n", mark, f.Check, f.Detail)
	if f.Level != hscheck.OK {
		if f.Fix != "" {
			fmt.Fprintf(d.out, "    fix: %s\n", f.Fix)
		}
		if doc != "" {
			fmt.Fprintf(d.out, "    see: %s\n", doc)
		}
	}
}

func (d *doctor) run(cfgPath string, timeout time.Duration) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		fix := "correct the line named above"
		if errors.Is(err, os.ErrNotExist) {
			fix = "bizbots init --config " + cfgPath + " --homeserver-url URL --domain NAME"
		}
		d.report(hscheck.Finding{Check: "config", Level: hscheck.Fail, Detail: err.Error(), Fix: fix}, docConfig)
		return // nothing else can be checked without it
	}
	d.report(hscheck.Finding{Check: "config", Detail: fmt.Sprintf("%s is valid (%d bots)", cfg.Path, len(cfg.Bots))}, "")
	d.private(cfg.Path, "config file permissions")

	d.registration(cfg)
	d.database(cfg, timeout)
	d.homeserver(cfg, timeout)
	d.encryption(cfg, timeout)
	d.webhooks(cfg, timeout)
}

// private warns when a file holding the tokens is readable by others.
func (d *doctor) private(path, check string) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	f := hscheck.Finding{Check: check, Detail: fmt.Sprintf("%s is private (%#o)", path, st.Mode().Perm())}
	if st.Mode().Perm()&0o077 != 0 {
		f.Level = hscheck.Warn
		f.Detail = fmt.Sprintf("%s can be read by other users (%#o) and holds the appservice tokens", path, st.Mode().Perm())
		f.Fix = "chmod 600 " + path
	}
	d.report(f, docConfig)
}

func (d *doctor) registration(cfg *config.Config) {
	path := cfg.AppService.Registration
	reg, err := registration.Load(path)
	if err != nil {
		d.report(hscheck.Finding{Check: "registration", Level: hscheck.Fail, Detail: err.Error(),
			Fix: "bizbots generate-registration --config " + cfg.Path + ", then give the file to your homeserver and restart it"}, docRegister)
		return
	}
	if err := registration.Check(reg, cfg); err != nil {
		msg := err.Error()
		head, problems, _ := strings.Cut(msg, ":\n")
		f := hscheck.Finding{Check: "registration matches the config", Level: hscheck.Fail, Detail: path + " differs:\n" + problems}
		if i := strings.Index(head, "`"); i >= 0 {
			f.Fix = strings.Trim(head[i:strings.LastIndex(head, "`")+1], "`") + ", then give the file to your homeserver and restart it"
		}
		d.report(f, docRegister)
	} else {
		d.report(hscheck.Finding{Check: "registration matches the config", Detail: path}, "")
	}
	d.private(path, "registration file permissions")
}

func (d *doctor) database(cfg *config.Config, timeout time.Duration) {
	uri := cfg.Database.URI
	shown := uri
	if !strings.HasPrefix(uri, "sqlite") {
		shown = "postgres database" // the URI may hold a password
	}
	if path, ok := strings.CutPrefix(strings.TrimPrefix(uri, "sqlite3:"), "sqlite:"); ok && !strings.HasPrefix(uri, "postgres") {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			d.report(hscheck.Finding{Check: "database", Level: hscheck.Warn, Detail: path + " does not exist yet",
				Fix: "`bizbots migrate --config " + cfg.Path + "` or `bizbots serve` creates it"}, docDatabase)
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := store.Open(ctx, uri, 1)
	if err != nil {
		d.report(hscheck.Finding{Check: "database reachable", Level: hscheck.Fail, Detail: err.Error(),
			Fix: "check database.uri, and that the database server runs and accepts this user"}, docDatabase)
		return
	}
	defer db.Close()
	d.report(hscheck.Finding{Check: "database reachable", Detail: fmt.Sprintf("%s (%s)", shown, db.Dialect)}, "")
	v, err := db.Version(ctx)
	latest := store.LatestVersion()
	switch {
	case err != nil:
		d.report(hscheck.Finding{Check: "database schema", Level: hscheck.Fail, Detail: err.Error()}, docDatabase)
	case v > latest:
		d.report(hscheck.Finding{Check: "database schema", Level: hscheck.Fail,
			Detail: fmt.Sprintf("version %d is newer than this bizbots knows (%d)", v, latest),
			Fix:    "run the bizbots version that migrated it, or a newer one"}, docDatabase)
	case v < latest:
		d.report(hscheck.Finding{Check: "database schema", Level: hscheck.Warn,
			Detail: fmt.Sprintf("version %d, this bizbots migrates it to %d", v, latest),
			Fix:    "bizbots migrate --config " + cfg.Path + " (serve does it too)"}, docDatabase)
	default:
		d.report(hscheck.Finding{Check: "database schema", Detail: fmt.Sprintf("current (version %d)", v)}, "")
	}
	if db.Dialect == store.Postgres {
		if off, err := db.AutovacuumOff(ctx); err != nil {
			d.report(hscheck.Finding{Check: "autovacuum", Level: hscheck.Warn, Detail: err.Error()}, docDatabase)
		} else {
			d.report(autovacuumFinding(off), docDatabase)
		}
	}
	if db.Dialect == store.SQLite {
		release, err := store.LockWriter(uri)
		var running *store.WriterRunningError
		switch {
		case errors.As(err, &running):
			d.report(hscheck.Finding{Check: "one process on SQLite", Detail: "a serve is running on it (pid " + running.PID + ")"}, "")
		case err != nil:
			d.report(hscheck.Finding{Check: "one process on SQLite", Level: hscheck.Warn, Detail: err.Error()}, docDatabase)
		default:
			release()
			d.report(hscheck.Finding{Check: "one process on SQLite", Detail: "no serve is running on it now"}, "")
		}
	}
}

// autovacuumFinding says what a Postgres server without autovacuum means
// for bizbots.
func autovacuumFinding(off bool) hscheck.Finding {
	if !off {
		return hscheck.Finding{Check: "autovacuum", Detail: "on"}
	}
	return hscheck.Finding{Check: "autovacuum", Level: hscheck.Warn,
		Detail: "off on this Postgres server: the inbox and outbox keep every dead row version, so each message costs more than the one before",
		Fix:    "set autovacuum = on (the default) in postgresql.conf and reload, or VACUUM (ANALYZE) inbox, outbox, room_lease every few minutes"}
}

func (d *doctor) homeserver(cfg *config.Config, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*timeout)
	defer cancel()
	c := &hscheck.Checker{URL: cfg.Homeserver.URL, Domain: cfg.Homeserver.Domain, ASToken: cfg.AppService.ASToken}
	hs := c.Homeserver(ctx)
	d.report(hs, docTrouble)
	if hs.Level == hscheck.Fail {
		return
	}
	tok, dom := c.Identity(ctx)
	d.report(tok, docTrouble)
	d.report(dom, docTrouble)
	if tok.Level == hscheck.Fail || dom.Level == hscheck.Fail {
		return
	}
	for _, b := range cfg.Bots {
		d.report(c.Bot(ctx, cfg.UserID(b.Localpart)), docTrouble)
	}
	d.report(c.Ping(ctx, cfg.AppService.ID), docTrouble)
}
