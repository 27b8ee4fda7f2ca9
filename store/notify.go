package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/rs/zerolog"
)

// ChannelInbox is the Postgres notification channel that names rooms with
// new inbox events, so every process sharing the database hears of work
// for rooms it holds, however the load balancer spread the transactions.
const ChannelInbox = "bizbots_inbox"

// ChannelSettings is the Postgres notification channel that names bots
// whose settings changed in the business console, so every process
// applies them at once, not only the one that served the console.
const ChannelSettings = "bizbots_settings"

// notifyLimit keeps a payload under Postgres' 8000-byte limit.
const notifyLimit = 7000

// NotifySettings tells the other processes on a Postgres database, when
// tx commits, that bot's console settings changed.
func (db *DB) NotifySettings(ctx context.Context, tx Querier, bot string) error {
	return db.notify(ctx, tx, ChannelSettings, []string{bot})
}

// notify tells the other processes on a Postgres database, when tx
// commits, the names (rooms with new work, bots with new settings) on
// channel. SQLite has one process: nothing to do.
func (db *DB) notify(ctx context.Context, tx Querier, channel string, rooms []string) error {
	if db.Dialect != Postgres || len(rooms) == 0 {
		return nil
	}
	// The first line names the sender, which ignores its own.
	var b strings.Builder
	b.WriteString(db.instance)
	flush := func() error {
		if b.Len() == len(db.instance) {
			return nil
		}
		_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, b.String())
		b.Reset()
		b.WriteString(db.instance)
		return err
	}
	for _, r := range rooms {
		if b.Len()+len(r)+1 > notifyLimit {
			if err := flush(); err != nil {
				return fmt.Errorf("notify %s: %w", channel, err)
			}
		}
		b.WriteByte('\n')
		b.WriteString(r)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listen calls fn with the names of every notification on channel until
// ctx is cancelled (Postgres only; on SQLite it returns at once). The
// connection is its own, reconnected with backoff when it drops; after a
// reconnect fn is called with no rooms, since notifications sent meanwhile
// are lost (callers then look at the database).
func (db *DB) Listen(ctx context.Context, channel string, fn func(rooms []string), log zerolog.Logger) {
	if db.Dialect != Postgres {
		return
	}
	l := pq.NewListener(db.uri, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			if ctx.Err() == nil {
				log.Warn().Err(err).Str("channel", channel).Msg("database notifications interrupted; other processes' work is found by polling until they are back")
			}
		case pq.ListenerEventReconnected:
			fn(nil)
		}
	})
	defer l.Close()
	if err := l.Listen(channel); err != nil {
		log.Warn().Err(err).Str("channel", channel).Msg("cannot listen for database notifications; other processes' work is found by polling")
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-l.Notify:
			if n == nil {
				fn(nil) // reconnected
				continue
			}
			from, rooms, _ := strings.Cut(n.Extra, "\n")
			if from != db.instance && rooms != "" {
				fn(strings.Split(rooms, "\n"))
			}
		case <-time.After(90 * time.Second):
			go func() { _ = l.Ping() }()
		}
	}
}
