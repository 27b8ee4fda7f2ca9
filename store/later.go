package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lib/pq"
)

// later holds the writes the members of one group transaction (GroupTx)
// hand in to be made together at its end: one multi-row statement per
// kind for the whole group instead of one statement per member (on
// SQLite, where a statement costs no round trip, the sender's records
// are one prepared update a row; see flushMarks). On
// Postgres a statement costs a round trip and a wake-up of the server
// process whatever it carries, so a group of members that each touch a
// customer, add a history line and queue a reply costs three statements
// instead of three per member.
//
// Writes are made in the order they were handed in (per kind; customers
// and send records in key order, so that concurrent groups lock rows
// alike), before the commit, or earlier when a member calls FlushLater
// because a statement of its own must see them. Only writes whose result
// nobody reads in the same transaction go through later; the caller
// decides (see the *Later functions). Outside GroupTx, the *Later
// functions write at once.
type later struct {
	dialect Dialect
	// member is the index in the group of the member running now.
	member   int
	finishes []finish
	touches  []customerTouch
	touched  map[[2]string]int // (bot, user) → index in touches
	history  []historyEntry
	outbox   []OutgoingEvent
	marks    []outboxMark
}

type customerTouch struct {
	bot, user, name   string
	firstSeen, lastAt int64
}

type historyEntry struct {
	bot, user, kind, summary, data string
	at                             int64
}

// outboxMark is a sender's record: row id sent as eventID at sentAt.
type outboxMark struct {
	id      int64
	eventID string
	sentAt  int64
}

type laterKey struct{}

// withLater returns ctx carrying l for the members of a group.
func withLater(ctx context.Context, l *later) context.Context {
	return context.WithValue(ctx, laterKey{}, l)
}

// laterOf returns the group's deferred writes, nil outside GroupTx.
func laterOf(ctx context.Context) *later {
	l, _ := ctx.Value(laterKey{}).(*later)
	return l
}

// TouchCustomerLater is TouchCustomer made at the end of the caller's
// group transaction. Use it only when nothing in the transaction reads
// the customer row after it (UpdateCustomerFacts does: touch at once, or
// FlushLater first).
func TouchCustomerLater(ctx context.Context, tx Tx, bot, user, displayName string, now int64) error {
	l := laterOf(ctx)
	if l == nil {
		return TouchCustomer(ctx, tx, bot, user, displayName, now)
	}
	key := [2]string{bot, user}
	if i, ok := l.touched[key]; ok {
		// Two touches in one group: as if made one after the other.
		t := &l.touches[i]
		t.lastAt = now
		if n := Clean(displayName); n != "" {
			t.name = n
		}
		return nil
	}
	if l.touched == nil {
		l.touched = map[[2]string]int{}
	}
	l.touched[key] = len(l.touches)
	l.touches = append(l.touches, customerTouch{bot: bot, user: user, name: Clean(displayName), firstSeen: now, lastAt: now})
	return nil
}

// AddHistoryLater is AddHistory made at the end of the caller's group
// transaction (ForgetCustomer must come after a FlushLater).
func AddHistoryLater(ctx context.Context, tx Tx, bot, user, kind, summary string, data []byte, at int64) error {
	l := laterOf(ctx)
	if l == nil {
		return AddHistory(ctx, tx, bot, user, kind, summary, data, at)
	}
	if len(data) == 0 {
		data = []byte("{}")
	}
	l.history = append(l.history, historyEntry{bot: bot, user: user, kind: Clean(kind), summary: Clean(summary), data: Clean(string(data)), at: at})
	return nil
}

// AppendOutboxLater is AppendOutbox, made at the end of the caller's group
// transaction, for a caller that does not need the rows' ids. Rows of one
// caller keep their order, and stay behind the rows it appended before.
// Rows that relate to an earlier one need its id: those are written at
// once, after everything deferred so far.
func AppendOutboxLater(ctx context.Context, tx Tx, events []OutgoingEvent) error {
	l := laterOf(ctx)
	if l == nil || slices.ContainsFunc(events, func(e OutgoingEvent) bool { return e.ParentIndex >= 0 }) {
		if err := FlushLater(ctx, tx); err != nil {
			return err
		}
		_, err := AppendOutbox(ctx, tx, events)
		return err
	}
	l.outbox = append(l.outbox, events...)
	return nil
}

// markOutboxLater records a send at the end of the caller's group
// transaction (it must run in one).
func markOutboxLater(ctx context.Context, m outboxMark) {
	l := laterOf(ctx)
	l.marks = append(l.marks, m)
}

// FlushLater makes the writes deferred so far in the caller's group
// transaction now, for a statement that must see them. Outside GroupTx,
// or with nothing deferred, it does nothing.
func FlushLater(ctx context.Context, tx Tx) error {
	l := laterOf(ctx)
	if l == nil {
		return nil
	}
	return l.flush(ctx, tx)
}

// laterBatch bounds the rows of one multi-row statement on SQLite (at
// most 7 parameters a row: well under its limit). Postgres takes each
// column as one array parameter, so its statements have one text whatever
// the number of rows and stay prepared (see preparingConnector).
const laterBatch = 100

// flush writes everything deferred and empties l.
func (l *later) flush(ctx context.Context, tx Tx) error {
	if err := l.flushFinishes(ctx, tx); err != nil {
		return err
	}
	if err := l.flushTouches(ctx, tx); err != nil {
		return fmt.Errorf("record customers: %w", err)
	}
	if err := l.flushHistory(ctx, tx); err != nil {
		return fmt.Errorf("add history: %w", err)
	}
	if err := l.flushOutbox(ctx, tx); err != nil {
		return fmt.Errorf("append to outbox: %w", err)
	}
	if err := l.flushMarks(ctx, tx); err != nil {
		return fmt.Errorf("record outbox sends: %w", err)
	}
	return nil
}

func (l *later) flushTouches(ctx context.Context, tx Tx) error {
	touches := l.touches
	l.touches, l.touched = nil, nil
	// One order for every group: two groups upserting the same customers
	// lock their rows in the same order and cannot deadlock.
	slices.SortFunc(touches, func(a, b customerTouch) int {
		return cmp.Or(strings.Compare(a.bot, b.bot), strings.Compare(a.user, b.user))
	})
	return l.exec(ctx, tx, len(touches), func(i int) []any {
		t := touches[i]
		return []any{t.bot, t.user, t.name, t.firstSeen, t.lastAt}
	}, func(rows string) string {
		return `INSERT INTO customers (bot_user_id, user_id, display_name, first_seen, last_seen) ` + rows + `
			ON CONFLICT (bot_user_id, user_id) DO UPDATE SET last_seen = excluded.last_seen,
				display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name ELSE customers.display_name END`
	}, "text", "text", "text", "bigint", "bigint")
}

func (l *later) flushHistory(ctx context.Context, tx Tx) error {
	history := l.history
	l.history = nil
	return l.exec(ctx, tx, len(history), func(i int) []any {
		h := history[i]
		return []any{h.bot, h.user, h.kind, h.summary, h.data, h.at}
	}, func(rows string) string {
		return `INSERT INTO customer_history (bot_user_id, user_id, kind, summary, data, created_at) ` + rows
	}, "text", "text", "text", "text", "text", "bigint")
}

func (l *later) flushOutbox(ctx context.Context, tx Tx) error {
	events := l.outbox
	l.outbox = nil
	now := Now()
	// Ids are drawn in the order of the rows, which keeps each room's
	// rows in the order they were appended.
	return l.exec(ctx, tx, len(events), func(i int) []any {
		e := events[i]
		return []any{e.RoomID, e.BotUserID, e.Type, string(e.Content), e.CauseEventID, string(e.Meta), now}
	}, func(rows string) string {
		return `INSERT INTO outbox (room_id, bot_user_id, event_type, content, cause_event_id, meta, created_at) ` + rows
	}, "text", "text", "text", "text", "text", "text", "bigint")
}

func (l *later) flushMarks(ctx context.Context, tx Tx) error {
	marks := l.marks
	l.marks = nil
	// One order for every group (see flushTouches).
	slices.SortFunc(marks, func(a, b outboxMark) int { return cmp.Compare(a.id, b.id) })
	if l.dialect == Postgres && len(marks) > 0 {
		return pgMarkOutbox(ctx, tx, marks)
	}
	// SQLite: a statement costs no round trip, and a multi-row update
	// would have to read its rows from a temporary table (UPDATE ... FROM
	// materializes them, at twice the cost of the commit; see the plan
	// test), so each row is one prepared update.
	for _, m := range marks {
		if err := markOutboxSent(ctx, tx, m.id, m.eventID, m.sentAt); err != nil {
			return err
		}
	}
	return nil
}

// pgMarkOutbox is flushMarks on Postgres, without a join: a join with the
// marks let the planner, misled by a young table's statistics, read every
// pending row of the outbox and hash them (12 ms for two marks under a
// backlog). Nor does it test status = 'pending', which, with statistics
// that saw no pending rows, made the planner walk every pending row for
// the ids instead of looking them up by key; "neither sent nor failed" is
// the same by the column's CHECK (TestRoomPendingLookupsReadOnlyTheRoom).
func pgMarkOutbox(ctx context.Context, tx Tx, marks []outboxMark) error {
	eventIDs := make(pq.StringArray, len(marks))
	at, ids := make(pq.Int64Array, len(marks)), make(pq.Int64Array, len(marks))
	for i, m := range marks {
		eventIDs[i], at[i], ids[i] = m.eventID, m.sentAt, m.id
	}
	_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'sent',
			event_id = (CAST($1 AS text[]))[array_position(CAST($2 AS bigint[]), id)],
			sent_at = (CAST($3 AS bigint[]))[array_position(CAST($2 AS bigint[]), id)]
		WHERE id = ANY(CAST($2 AS bigint[])) AND status NOT IN ('sent', 'failed')`, eventIDs, ids, at)
	return err
}

// exec runs the statement stmt makes of a row source, for n rows whose
// values row gives, in the order given. The row source is, on Postgres,
// one array parameter per column (of the given types) unnested in order;
// on SQLite a VALUES list, laterBatch rows at a time. Both name their
// columns column1, column2, ...
func (l *later) exec(ctx context.Context, tx Tx, n int, row func(i int) []any, stmt func(rows string) string, types ...string) error {
	if n == 0 {
		return nil
	}
	if l.dialect == Postgres {
		cols := make([][]any, len(types))
		for i := range n {
			for c, v := range row(i) {
				cols[c] = append(cols[c], v)
			}
		}
		args := make([]any, len(types))
		params := make([]string, len(types))
		names := make([]string, len(types))
		for c, t := range types {
			args[c] = pgArray(t, cols[c])
			params[c] = fmt.Sprintf("CAST($%d AS %s[])", c+1, t)
			names[c] = fmt.Sprintf("column%d", c+1)
		}
		rows := `SELECT ` + strings.Join(names, ", ") + ` FROM unnest(` + strings.Join(params, ", ") + `) WITH ORDINALITY AS u(` +
			strings.Join(names, ", ") + `, n) ORDER BY n`
		_, err := tx.ExecContext(ctx, stmt(rows), args...)
		return err
	}
	for start := 0; start < n; start += laterBatch {
		var values strings.Builder
		var args []any
		values.WriteString("VALUES ")
		for i := start; i < min(start+laterBatch, n); i++ {
			if i > start {
				values.WriteString(", ")
			}
			values.WriteByte('(')
			for c, v := range row(i) {
				if c > 0 {
					values.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&values, "$%d", len(args))
			}
			values.WriteByte(')')
		}
		if _, err := tx.ExecContext(ctx, stmt(values.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

// pgArray turns one column's values into a lib/pq array parameter.
func pgArray(typ string, vals []any) any {
	if typ == "bigint" {
		a := make(pq.Int64Array, len(vals))
		for i, v := range vals {
			a[i] = v.(int64)
		}
		return a
	}
	a := make(pq.StringArray, len(vals))
	for i, v := range vals {
		a[i] = v.(string)
	}
	return a
}
