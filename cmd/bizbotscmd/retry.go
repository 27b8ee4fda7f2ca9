package bizbotscmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/store"
)

func cmdRetry(args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("retry", "--event ID | --reply ID | --room ROOM | --all [--only events|replies]", stdout)
	event := fs.Int64("event", 0, "re-queue the parked event with this id (from `bizbots status`)")
	reply := fs.Int64("reply", 0, "re-queue the failed reply with this id (from `bizbots status`)")
	room := fs.String("room", "", "re-queue the room's parked events and failed replies")
	all := fs.Bool("all", false, "re-queue every parked event and failed reply")
	only := fs.String("only", "", "with --room or --all: only parked \"events\" or only failed \"replies\"")
	if err := parse(fs, args); err != nil {
		return err
	}
	chosen := 0
	for _, set := range []bool{*event != 0, *reply != 0, *room != "", *all} {
		if set {
			chosen++
		}
	}
	switch {
	case chosen != 1:
		return fmt.Errorf("%w: name exactly one of --event ID, --reply ID, --room ROOM or --all (ids are listed by `bizbots status`)", errUsage)
	case *event < 0 || *reply < 0:
		return fmt.Errorf("%w: ids are positive numbers, as `bizbots status` lists them", errUsage)
	case *only != "" && *only != "events" && *only != "replies":
		return fmt.Errorf("%w: --only %q must be events or replies", errUsage, *only)
	case *only != "" && *room == "" && !*all:
		return fmt.Errorf("%w: --only goes with --room or --all", errUsage)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Logging, stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	db, err := openPrepared(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	type kind struct {
		noun    string // singular, for the messages
		plural  string
		id      int64
		requeue func(context.Context, store.Selection, func(done, total int)) (int, error)
	}
	var kinds []kind
	if *reply == 0 && *only != "replies" {
		kinds = append(kinds, kind{"parked event", "parked events", *event, db.RequeueParkedEvents})
	}
	if *event == 0 && *only != "events" {
		kinds = append(kinds, kind{"failed reply", "failed replies", *reply, db.RequeueFailedReplies})
	}
	var done []string
	for _, k := range kinds {
		sel := store.Selection{ID: k.id, RoomID: *room, All: *all}
		shown := newProgress(stderr, "re-queuing "+k.plural)
		n, err := k.requeue(ctx, sel, func(done, total int) {
			if total > store.RequeueBatch { // one batch: the summary says it all
				shown.update(done, total, "rows")
			}
		})
		shown.done()
		if n > 0 {
			ev := log.Info().Str("what", k.noun).Int("count", n)
			switch {
			case k.id != 0:
				ev = ev.Int64("id", k.id)
			case *room != "":
				ev = ev.Str("room_id", *room)
			default:
				ev = ev.Bool("all", true)
			}
			ev.Msg("re-queued by an admin")
		}
		if err != nil {
			return fmt.Errorf("%w (re-queued %s before the error)", err, plural(n, k.noun))
		}
		if k.id != 0 && n == 0 {
			return fmt.Errorf("there is no %s with id %d (it may have been re-queued or sent already; `bizbots status` lists the current ones)", k.noun, k.id)
		}
		done = append(done, plural(n, k.noun))
	}
	if len(done) == 2 {
		fmt.Fprintf(stdout, "Re-queued %s and %s.", done[0], done[1])
	} else {
		fmt.Fprintf(stdout, "Re-queued %s.", done[0])
	}
	fmt.Fprintf(stdout, " A running bizbots picks them up within dispatcher.poll_interval (%s).\n", cfg.Dispatcher.PollInterval.D())
	return nil
}
