package bizbotscmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

// cmdBackup copies a SQLite database while serve keeps running. For
// Postgres it prints the pg_dump command to use instead.
func cmdBackup(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("backup", "--output FILE", stdout)
	out := fs.String("output", "", "file to write the backup to (must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		*out = "bizbots-backup-" + time.Now().UTC().Format("20060102-150405") + ".db"
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	db, err := store.Open(ctx, cfg.Database.URI, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect == store.Postgres {
		return fmt.Errorf("%w: for Postgres use its own tools while bizbots runs: pg_dump --format=custom --file=bizbots.dump <database.uri>; restore with pg_restore --no-owner --dbname=<new database> bizbots.dump (docs/admin.md, Backups)", errUsage)
	}
	abs, _ := filepath.Abs(*out)
	if _, err := os.Stat(abs); err == nil {
		return fmt.Errorf("%s exists; not overwriting it (choose another --output)", abs)
	}
	p := newProgress(stderr, "backup")
	err = store.BackupSQLite(ctx, db, abs, func(done, total int) { p.update(done, total, "pages") })
	p.done()
	if err != nil {
		_ = os.Remove(abs) // a partial copy is no backup (the file did not exist before)
		return err
	}
	if err := os.Chmod(abs, 0o600); err != nil {
		return err
	}
	st, _ := os.Stat(abs)
	fmt.Fprintf(stdout, "Backup written to %s (%d KiB). To restore: stop serve, put it in place of %s, run `bizbots doctor`, start serve.\n",
		abs, st.Size()/1024, cfg.Database.URI)
	return nil
}
