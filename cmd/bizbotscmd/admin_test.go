package bizbotscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// adminSetup makes a config on the given engine, migrates its database
// and returns the config path and the open database, with one bot's
// parked event, failed replies and a waiting reply in it.
func adminSetup(t *testing.T, d store.Dialect) (cfgPath string, db *store.DB, bot string, parked int64, failed []int64) {
	t.Helper()
	p := initConfig(t)
	if d == store.Postgres {
		text := readFile(t, p.cfg)
		uri := storetest.URI(t, store.Postgres)
		if err := os.WriteFile(p.cfg, []byte(strings.Replace(text, `uri: "sqlite:bizbots.db"`, "uri: "+strconv.Quote(uri), 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := runCmd(t, "migrate", "--config", p.cfg); r.code != 0 {
		t.Fatalf("migrate: %s", r.stderr)
	}
	cfg, err := config.Load(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err = store.Open(ctx, cfg.Database.URI, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	bot = cfg.UserID(cfg.Bots[0].Localpart).String()
	if err := store.SetBotMembership(ctx, db, bot, "!dm:example.org", "join", true, "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	ev := `{"event_id":"$e1","room_id":"!dm:example.org","type":"m.room.message","sender":"@alice:example.org","content":{}}`
	if _, _, err := db.StoreTransaction(ctx, "t1", []store.IncomingEvent{{EventID: "$e1", RoomID: "!dm:example.org",
		Sender: "@alice:example.org", Type: "m.room.message", OriginTS: 1, JSON: []byte(ev)}}); err != nil {
		t.Fatal(err)
	}
	next, err := db.NextInboxEvent(ctx, "!dm:example.org")
	if err != nil {
		t.Fatal(err)
	}
	parked = next.Seq
	if err := db.Tx(ctx, func(tx store.Tx) error {
		return store.FailInboxEvent(ctx, tx, parked, 0, "handler panicked: boom", true)
	}); err != nil {
		t.Fatal(err)
	}
	var evs []store.OutgoingEvent
	for i := 0; i < 3; i++ {
		evs = append(evs, store.OutgoingEvent{RoomID: "!dm:example.org", BotUserID: bot, Type: "m.room.message",
			Content: []byte(`{"msgtype":"m.text","body":"hi"}`), ParentIndex: -1})
	}
	var ids []int64
	if err := db.Tx(ctx, func(tx store.Tx) error {
		var err error
		ids, err = store.AppendOutbox(ctx, tx, evs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:2] {
		if err := db.MarkOutboxFailed(ctx, id, 1, "403 M_FORBIDDEN: You are not in this room"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RetryOutboxRow(ctx, ids[2], 1, 0, "502 Bad Gateway"); err != nil {
		t.Fatal(err)
	}
	return p.cfg, db, bot, parked, ids[:2]
}

func eachEngine(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

func TestStatusCommand(t *testing.T) {
	eachEngine(t, func(t *testing.T, d store.Dialect) {
		cfg, _, bot, parked, failed := adminSetup(t, d)
		r := runCmd(t, "status", "--config", cfg)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d stderr %q", r.code, r.stderr)
		}
		for _, want := range []string{
			"Inbox:  0 events waiting · 1 parked",
			"Outbox: 1 reply waiting (oldest ",
			bot + "   1 room · 0 customers",
			"homeserver said: 502 Bad Gateway",
			fmt.Sprintf("event %d", parked), "handler panicked: boom",
			fmt.Sprintf("reply %d", failed[0]), fmt.Sprintf("reply %d", failed[1]), "403 M_FORBIDDEN: You are not in this room",
			"bizbots retry --event ID",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, r.stdout)
			}
		}

		r = runCmd(t, "status", "--config", cfg, "--json")
		var st store.Status
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
			t.Fatalf("--json: exit %d, %v:\n%s", r.code, err, r.stdout)
		}
		if len(st.Bots) < 1 || st.Outbox.Stuck != 2 || st.Inbox.Stuck != 1 || len(st.Failed) != 2 || st.Failed[0].Reason == "" {
			t.Fatalf("--json status %+v", st)
		}
		found := false
		for _, b := range st.Bots {
			if b.Bot == bot {
				found = b.FailedReplies == 2 && b.ParkedEvents == 1 && b.RepliesWaiting == 1 && b.Rooms == 1
			}
		}
		if !found {
			t.Fatalf("--json: bot %s not reported right: %+v", bot, st.Bots)
		}
	})
}

func TestRetryCommand(t *testing.T) {
	eachEngine(t, func(t *testing.T, d store.Dialect) {
		cfg, db, _, parked, failed := adminSetup(t, d)
		r := runCmd(t, "retry", "--config", cfg, "--reply", strconv.FormatInt(failed[0], 10))
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Re-queued 1 failed reply.") {
			t.Fatalf("--reply: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, `"message":"re-queued by an admin"`) || !strings.Contains(r.stderr, `"count":1`) {
			t.Errorf("no log line for the re-queue: %q", r.stderr)
		}
		// The same id again: nothing to do, said precisely.
		wantOneLineError(t, runCmd(t, "retry", "--config", cfg, "--reply", strconv.FormatInt(failed[0], 10)), 1,
			fmt.Sprintf("there is no failed reply with id %d", failed[0]), "bizbots status")

		r = runCmd(t, "retry", "--config", cfg, "--all")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Re-queued 1 parked event and 1 failed reply.") {
			t.Fatalf("--all: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		st, err := db.Status(context.Background(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Inbox.Stuck != 0 || st.Outbox.Stuck != 0 || st.Inbox.Waiting != 1 || st.Outbox.Waiting != 3 {
			t.Fatalf("after retry --all: inbox %+v outbox %+v", st.Inbox, st.Outbox)
		}
		if next, _ := db.NextInboxEvent(context.Background(), "!dm:example.org"); next == nil || next.Seq != parked || next.Attempts != 0 {
			t.Fatalf("the parked event is not back for the dispatcher: %+v", next)
		}
	})
}

func TestRetryUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name exactly one of --event ID, --reply ID, --room ROOM or --all"},
		{[]string{"--all", "--room", "!r:x"}, "name exactly one of"},
		{[]string{"--reply", "-3"}, "ids are positive numbers"},
		{[]string{"--reply", "seven"}, `invalid value "seven" for flag -reply`},
		{[]string{"--all", "--only", "everything"}, `--only "everything" must be events or replies`},
		{[]string{"--reply", "3", "--only", "events"}, "--only goes with --room or --all"},
	} {
		wantOneLineError(t, runCmd(t, append([]string{"retry"}, tc.args...)...), 2, "bizbots retry: "+tc.want)
	}
	wantOneLineError(t, runCmd(t, "status", "--limit", "0"), 2, "bizbots status: --limit 0 must be at least 1")
}

func TestStatusAndRetryHelp(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"status", "--json"}, {"retry", "--room"},
	} {
		r := runCmd(t, c.name, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: bizbots "+c.name) || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%s --help: exit %d stdout %q", c.name, r.code, r.stdout)
		}
	}
	if r := runCmd(t, "--help"); !strings.Contains(r.stdout, "status") || !strings.Contains(r.stdout, "retry") {
		t.Errorf("bizbots --help does not list status and retry:\n%s", r.stdout)
	}
}

// A database whose schema is behind the binary is refused with the fix.
func TestStatusNeedsAMigratedDatabase(t *testing.T) {
	p := initConfig(t)
	r := runCmd(t, "status", "--config", p.cfg)
	wantOneLineError(t, r, 1, "bizbots status:", "bizbots migrate")
}

// Re-queuing many rows shows progress on a terminal.
func TestRetryShowsProgressOnATerminal(t *testing.T) {
	cfg, db, bot, _, _ := adminSetup(t, store.SQLite)
	ctx := context.Background()
	evs := make([]store.OutgoingEvent, 1200)
	for i := range evs {
		evs[i] = store.OutgoingEvent{RoomID: "!r:example.org", BotUserID: bot, Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1}
	}
	if err := db.Tx(ctx, func(tx store.Tx) error { _, err := store.AppendOutbox(ctx, tx, evs); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE outbox SET status = 'failed' WHERE room_id = '!r:example.org'`); err != nil {
		t.Fatal(err)
	}
	term := isTerminal
	isTerminal = func(w io.Writer) bool { _, ok := w.(*bytes.Buffer); return ok }
	t.Cleanup(func() { isTerminal = term })
	r := runCmd(t, "retry", "--config", filepath.Clean(cfg), "--room", "!r:example.org", "--only", "replies")
	if r.code != 0 || !strings.Contains(r.stdout, "Re-queued 1200 failed replies.") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "re-queuing failed replies: 500/1200 rows") || !strings.Contains(r.stderr, "re-queuing failed replies: 1200/1200 rows (100%)") {
		t.Fatalf("no progress on the terminal: %q", r.stderr)
	}
}
