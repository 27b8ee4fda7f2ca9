package bizbotscmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("status", "[--json] [--limit N]", stdout)
	asJSON := fs.Bool("json", false, "print the status as JSON (the fields are described in docs/admin.md)")
	limit := fs.Int("limit", store.DefaultStatusLimit, "list at most this many parked events and failed replies (the newest)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return fmt.Errorf("%w: --limit %d must be at least 1", errUsage, *limit)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := openPrepared(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	bots := make([]string, len(cfg.Bots))
	for i, b := range cfg.Bots {
		bots[i] = cfg.UserID(b.Localpart).String()
	}
	st, err := db.Status(ctx, bots, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(stdout, st)
	return nil
}

// openPrepared opens the configured database for an admin command; it
// must already be migrated to this binary's schema (it is never changed
// here).
func openPrepared(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.Database.URI, cfg.Database.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	if err := db.Prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func printStatus(w io.Writer, st *store.Status) {
	fmt.Fprintf(w, "Inbox:  %s waiting%s · %d parked\n", plural(st.Inbox.Waiting, "event"), oldest(st.Inbox.OldestWaitingSeconds), st.Inbox.Stuck)
	fmt.Fprintf(w, "Outbox: %s waiting%s · %d failed\n", plural(st.Outbox.Waiting, "reply"), oldest(st.Outbox.OldestWaitingSeconds), st.Outbox.Stuck)
	for _, b := range st.Bots {
		fmt.Fprintln(w)
		if b.Bot == "" {
			fmt.Fprintln(w, "(rooms no bot has joined yet)")
		} else {
			fmt.Fprintf(w, "%s   %s · %s\n", b.Bot, plural(b.Rooms, "room"), plural(b.Customers, "customer"))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  events waiting\t%d%s\n", b.EventsWaiting, oldest(b.OldestEventWaitSeconds))
		if b.Bot != "" {
			why := ""
			if b.LastReplyError != "" {
				why = " — homeserver said: " + short(b.LastReplyError)
			}
			fmt.Fprintf(tw, "  replies waiting\t%d%s%s\n", b.RepliesWaiting, oldest(b.OldestReplyWaitSeconds), why)
		}
		fmt.Fprintf(tw, "  parked events\t%d\n", b.ParkedEvents)
		if b.Bot != "" {
			fmt.Fprintf(tw, "  failed replies\t%d\n", b.FailedReplies)
		}
		tw.Flush()
	}
	for _, list := range []struct {
		title, kind string
		total       int
		rows        []store.StuckRow
	}{
		{"Parked events", "event", st.Inbox.Stuck, st.Parked},
		{"Failed replies", "reply", st.Outbox.Stuck, st.Failed},
	} {
		if len(list.rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		if list.total > len(list.rows) {
			fmt.Fprintf(w, "%s (newest %d of %d):\n", list.title, len(list.rows), list.total)
		} else {
			fmt.Fprintf(w, "%s:\n", list.title)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, r := range list.rows {
			fmt.Fprintf(tw, "  %s %d\t%s\t%s\t%s\t%s\t%s\n", list.kind, r.ID, orNone(r.Bot), r.RoomID,
				time.UnixMilli(r.At).UTC().Format("2006-01-02 15:04 UTC"), plural(r.Attempts, "attempt"), short(r.Reason))
		}
		tw.Flush()
	}
	if st.Inbox.Stuck+st.Outbox.Stuck > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Re-queue with: bizbots retry --event ID | --reply ID | --room ROOM | --all (see docs/admin.md)")
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func oldest(seconds float64) string {
	if seconds <= 0 {
		return ""
	}
	return fmt.Sprintf(" (oldest %s)", time.Duration(seconds*float64(time.Second)).Round(time.Second))
}

func orNone(bot string) string {
	if bot == "" {
		return "(no bot)"
	}
	return bot
}

// short keeps a reason to one readable line; --json has it whole.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:119]) + "…"
	}
	return s
}

// isTerminal reports whether w is a terminal (pretty logs, progress).
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
