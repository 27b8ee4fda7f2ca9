package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bizbots/bizbots/store"
)

// prefillSpec is how much history a bizbots database holds before a run.
type prefillSpec struct {
	events, rooms int
}

// prefillChunk is the rows one INSERT … SELECT writes: big enough that 1 M
// rows take a few dozen statements, small enough to show progress.
const prefillChunk = 50_000

// prefillDatabase creates the schema with `bizbots migrate` and stores,
// with set-based INSERT … SELECT statements (no per-row round trips):
//   - spec.events handled customer messages (inbox, status done) and as
//     many sent replies (outbox, status sent), spread over spec.rooms
//     rooms, the measured rooms [0, measured) among them, so the rooms the
//     run talks in have a history too; one as_txn row per 100 messages;
//   - for the rooms the run does not use, [measured, spec.rooms): the echo
//     bot's membership (bot_rooms), the customer's (room_members), the
//     customer, their conversation state; the measured rooms get these
//     from the invite path, as in an empty database;
//   - one customer_history row per ten messages.
//
// Timestamps spread over the last five days, inside the default retention
// (a week), so the hourly prune has nothing to delete during the run.
func prefillDatabase(ctx context.Context, bin, cfgPath, uri, domain string, measured int, spec prefillSpec) error {
	if out, err := exec.Command(bin, "migrate", "--config", cfgPath).CombinedOutput(); err != nil {
		return fmt.Errorf("bizbots migrate: %v\n%s", err, out)
	}
	db, err := store.OpenWith(ctx, uri, store.Options{MaxOpenConns: 1, Timeout: 10 * time.Minute})
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	defer db.Close()
	began := time.Now()
	now := time.Now().UnixMilli()
	span := int64(5 * 24 * time.Hour / time.Millisecond)
	m := max(spec.rooms, 1)
	// Shared SQL pieces; n is the row number of the series.
	ts := fmt.Sprintf("(%d + n * %d)", now-span, span/int64(max(spec.events, 1)))
	room := fmt.Sprintf("('!room' || (n %% %d) || ':%s')", m, domain)
	customer := fmt.Sprintf("('@customer' || (n %% %d) || ':%s')", m, domain)
	bot := "'@echo:" + domain + "'"
	// Event ids spread over the key space as real ones are (eventID), so
	// the run's messages land among them in the indexes, not after them.
	msgID, replyID := scatteredID(2654435761, "pf"), scatteredID(2246822519, "pfr")
	tables := []struct {
		name   string
		rows   int
		offset int // first n
		sql    string
	}{
		{"inbox", spec.events, 0, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at, status, attempts, handled_at)
			SELECT ` + msgID + `, ` + room + `, ` + customer + `, 'm.room.message', ` + ts + `,
			'{"event_id":"' || ` + msgID + ` || '","room_id":"' || ` + room + ` || '","sender":"' || ` + customer + ` || '","type":"m.room.message","origin_server_ts":' || ` + ts + ` || ',"content":{"msgtype":"m.text","body":"earlier message ' || n || '"}}',
			'pf' || (n / 100), ` + ts + `, 'done', 1, ` + ts + ` FROM s`},
		{"outbox", spec.events, 0, `INSERT INTO outbox (room_id, bot_user_id, event_type, content, cause_event_id, status, attempts, event_id, created_at, sent_at)
			SELECT ` + room + `, ` + bot + `, 'm.room.message', '{"msgtype":"m.text","body":"You said: earlier message ' || n || '"}',
			` + msgID + `, 'sent', 1, ` + replyID + `, ` + ts + `, ` + ts + ` FROM s`},
		{"as_txn", (spec.events + 99) / 100, 0, `INSERT INTO as_txn (txn_id, received_at, event_count) SELECT 'pf' || n, ` + ts + `, 100 FROM s`},
		{"customer_history", spec.events / 10, 0, `INSERT INTO customer_history (bot_user_id, user_id, kind, summary, data, created_at)
			SELECT ` + bot + `, ` + customer + `, 'note', 'earlier note ' || n, '{}', ` + ts + ` FROM s`},
	}
	if spec.rooms > measured {
		other := spec.rooms - measured
		for _, t := range []struct{ name, sql string }{
			{"bot_rooms", `INSERT INTO bot_rooms (bot_user_id, room_id, membership, is_direct, inviter, updated_at)
				SELECT ` + bot + `, ` + room + `, 'join', TRUE, ` + customer + `, ` + ts + ` FROM s`},
			{"room_members", `INSERT INTO room_members (room_id, user_id, membership, display_name, updated_at)
				SELECT ` + room + `, ` + customer + `, 'join', 'Customer ' || n, ` + ts + ` FROM s`},
			{"customers", `INSERT INTO customers (bot_user_id, user_id, display_name, first_seen, last_seen)
				SELECT ` + bot + `, ` + customer + `, 'Customer ' || n, ` + ts + `, ` + ts + ` FROM s`},
			{"conversation_state", `INSERT INTO conversation_state (bot_user_id, room_id, user_id, updated_at)
				SELECT ` + bot + `, ` + room + `, ` + customer + `, ` + ts + ` FROM s`},
		} {
			tables = append(tables, struct {
				name   string
				rows   int
				offset int
				sql    string
			}{t.name, other, measured, t.sql})
		}
	}
	for _, t := range tables {
		for lo := t.offset; lo < t.offset+t.rows; lo += prefillChunk {
			hi := min(lo+prefillChunk, t.offset+t.rows)
			q := fmt.Sprintf("WITH RECURSIVE s(n) AS (SELECT %d UNION ALL SELECT n + 1 FROM s WHERE n < %d) ", lo, hi-1) + t.sql
			if db.Dialect == store.Postgres {
				q = fmt.Sprintf("WITH s(n) AS (SELECT generate_series(%d, %d)) ", lo, hi-1) + t.sql
			}
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("prefill %s rows %d–%d: %w", t.name, lo, hi, err)
			}
		}
	}
	if db.Dialect == store.Postgres {
		// Autovacuum would have analysed a database that grew this big;
		// plan with the statistics it would have.
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return fmt.Errorf("prefill: analyze: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: prefilled %s with %d messages in %d rooms in %.1f s\n",
		strings.SplitN(uri, ":", 2)[0], spec.events, spec.rooms, time.Since(began).Seconds())
	return nil
}

// prefillCache builds each engine's prefilled database once per bench
// run; every "+data" run starts from a copy (a file copy on SQLite, CREATE
// DATABASE … TEMPLATE on Postgres), so rounds do not pay the fill again.
type prefillCache struct {
	b       *bench
	mu      sync.Mutex
	built   map[string]string // engine → SQLite file, or Postgres template database's URI
	cleanup []func()
}

func (c *prefillCache) source(ctx context.Context, engine string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if src, ok := c.built[engine]; ok {
		return src, nil
	}
	dir, err := os.MkdirTemp(c.b.work, "prefill-"+engine+"-")
	if err != nil {
		return "", err
	}
	var uri, src string
	if engine == "sqlite" {
		src = filepath.Join(dir, "bizbots.db")
		uri = "sqlite:" + src
	} else {
		var drop func()
		if uri, drop, err = postgresDB(c.b.o.postgres, nil)(); err != nil {
			return "", err
		}
		c.cleanup = append(c.cleanup, drop)
		src = uri
	}
	dummy := &homeserver{url: "http://127.0.0.1:1", domain: "example.org"}
	cfgPath := filepath.Join(dir, "config.yaml")
	if _, err := writeConfig(c.b.bizbots, cfgPath, dummy, "127.0.0.1:1", "", uri, ""); err != nil {
		return "", err
	}
	if err := prefillDatabase(ctx, c.b.bizbots, cfgPath, uri, dummy.domain, c.b.o.rooms, c.b.o.prefill); err != nil {
		return "", err
	}
	if c.built == nil {
		c.built = map[string]string{}
	}
	c.built[engine] = src
	return src, nil
}

func (c *prefillCache) close() {
	for _, f := range c.cleanup {
		f()
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// scatteredID is SQL for an event id of row n of a prefill series: "$",
// five base64 characters of a multiplicative hash of n (so consecutive
// rows fall all over the key space), then tag and n (unique).
func scatteredID(mul uint32, tag string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	h := fmt.Sprintf("((n * %d) %% 4294967296)", mul)
	id := "'$'"
	for k, div := 0, 1; k < 5; k, div = k+1, div*64 {
		id += fmt.Sprintf(" || substr('%s', CAST((%s / %d) %% 64 + 1 AS INTEGER), 1)", alphabet, h, div)
	}
	return "(" + id + " || '" + tag + "' || n)"
}
