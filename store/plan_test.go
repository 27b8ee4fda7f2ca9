package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

// recorder keeps every statement a database handle prepared, with the
// arguments it ran with, so a test can EXPLAIN the real queries of a code
// path instead of copies of them.
type recorder struct {
	mu    sync.Mutex
	stmts []recorded
}

type recorded struct {
	query string
	args  []any
}

func (r *recorder) add(q string, args []driver.NamedValue) {
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stmts = append(r.stmts, recorded{q, vals})
}

type recConnector struct {
	drv driver.Driver
	dsn string
	rec *recorder
}

func (c recConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: conn, rec: c.rec}, nil
}

func (c recConnector) Driver() driver.Driver { return c.drv }

// recConn hides the driver's direct query paths, so database/sql prepares
// every statement and recStmt sees its arguments.
type recConn struct {
	driver.Conn
	rec *recorder
}

func (c *recConn) Prepare(q string) (driver.Stmt, error) {
	s, err := c.Conn.Prepare(q)
	if err != nil {
		return nil, err
	}
	return &recStmt{Stmt: s, q: q, rec: c.rec}, nil
}

func (c *recConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

type recStmt struct {
	driver.Stmt
	q   string
	rec *recorder
}

func (s *recStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.rec.add(s.q, args)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *recStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.rec.add(s.q, args)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// recordingDB opens a fresh, migrated database of dialect d whose
// statements are recorded.
func recordingDB(t *testing.T, d store.Dialect) (*store.DB, *recorder) {
	t.Helper()
	ctx := context.Background()
	uri := storetest.URI(t, d)
	plain, err := store.Open(ctx, uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := plain.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	drv := plain.Driver()
	plain.Close()
	dsn := uri
	if d == store.SQLite {
		dsn = "file:" + strings.TrimPrefix(uri, "sqlite:") + "?_foreign_keys=on&_txlock=immediate&_busy_timeout=5000"
	}
	rec := &recorder{}
	db := &store.DB{DB: sql.OpenDB(recConnector{drv: drv, dsn: dsn, rec: rec}), Dialect: d}
	t.Cleanup(func() { db.Close() })
	if err := db.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	return db, rec
}

// pendingOnly are the partial indexes of pending rows: reading one whole
// reads only the work waiting, which is what finding work is meant to do.
var pendingOnly = map[string]bool{
	"inbox_pending_seq_idx": true, "outbox_pending_seq_idx": true,
	"inbox_pending_idx": true, "outbox_pending_idx": true, "timers_due_idx": true,
}

// fullScan returns a description of the step of a query's plan that reads
// a whole table (or a whole index of one, which costs the same), or "".
func fullScan(t *testing.T, ctx context.Context, db *store.DB, conn *sql.Conn, q string, args []any) string {
	t.Helper()
	if db.Dialect == store.SQLite {
		plan := explainRows(t, ctx, conn, "EXPLAIN QUERY PLAN "+q, args)
		// A subquery's result (CO-ROUTINE or MATERIALIZE b) is read
		// whole by design: "SCAN b" is no table scan.
		subqueries := map[string]bool{}
		for _, line := range plan {
			for _, kind := range []string{"CO-ROUTINE ", "MATERIALIZE "} {
				if name, ok := strings.CutPrefix(strings.TrimSpace(line), kind); ok {
					subqueries[name] = true
				}
			}
		}
		for _, line := range plan {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "SCAN ")
			// CONSTANT ROW: a FROM of literals (SELECT 1), no table; nor
			// is a multi-row VALUES list ("SCAN 2-ROW VALUES CLAUSE").
			if !ok || subqueries[rest] || rest == "CONSTANT ROW" || strings.HasSuffix(rest, "-ROW VALUES CLAUSE") {
				continue
			}
			if _, idx, ok := strings.Cut(rest, "INDEX "); !ok || !pendingOnly[idx] {
				return line
			}
		}
		return ""
	}
	// Postgres: sequential scans are priced out, so a Seq Scan in the plan
	// means no index can serve the query (test tables are tiny, where a
	// scan would win otherwise); an index scan without a condition reads
	// the whole index.
	rows := explainRows(t, ctx, conn, "EXPLAIN (FORMAT JSON) "+q, args)
	var plans []struct{ Plan pgPlan }
	if err := json.Unmarshal([]byte(strings.Join(rows, "")), &plans); err != nil {
		t.Fatalf("parse plan of %s: %v", q, err)
	}
	var walk func(p pgPlan) string
	walk = func(p pgPlan) string {
		switch p.NodeType {
		case "Seq Scan":
			return "Seq Scan on " + p.Relation
		case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
			if p.IndexCond == "" && !pendingOnly[p.IndexName] {
				return p.NodeType + " on " + p.IndexName + " without a condition"
			}
		}
		for _, c := range p.Plans {
			if s := walk(c); s != "" {
				return s
			}
		}
		return ""
	}
	return walk(plans[0].Plan)
}

type pgPlan struct {
	NodeType  string   `json:"Node Type"`
	Relation  string   `json:"Relation Name"`
	IndexName string   `json:"Index Name"`
	IndexCond string   `json:"Index Cond"`
	Plans     []pgPlan `json:"Plans"`
}

// explainRows runs an EXPLAIN and returns the last column of each row.
func explainRows(t *testing.T, ctx context.Context, conn *sql.Conn, q string, args []any) []string {
	t.Helper()
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		v := vals[len(vals)-1]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		out = append(out, fmt.Sprint(v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// messagePath runs what one customer message costs the store, from intake
// to the reply being sent, and the hourly prune.
func messagePath(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const room, bot, user = "!r:x", "@b:x", "@alice:x"
	storeTxn(t, db, "t1", msg(room, "$1"))
	pendingRooms(t, db, store.QueueInbox)
	_, err := db.AcquireLease(ctx, store.QueueInbox, room, "me", 60000)
	must(err)
	ev := next(t, db, room)
	_, err = db.ViewRoom(ctx, room, user)
	must(err)
	fact := "Main St 1"
	must(db.Tx(ctx, func(tx store.Tx) error {
		must(store.SetBotMembership(ctx, tx, bot, room, "join", true, user))
		must(store.SetMember(ctx, tx, room, user, "join", "Alice"))
		_, err := store.LoadTurn(ctx, tx, bot, room, user)
		must(err)
		must(store.TouchCustomer(ctx, tx, bot, user, "Alice", store.Now()))
		must(store.AddHistory(ctx, tx, bot, user, "message", "hi", nil, store.Now()))
		must(store.UpdateCustomerFacts(ctx, tx, bot, user, map[string]*string{"address": &fact}, nil))
		must(store.SaveState(ctx, tx, bot, room, user, store.StateRow{Step: "menu"}, store.Now()))
		_, err = store.History(ctx, tx, bot, user, 5, "order")
		must(err)
		_, err = store.AppendOutbox(ctx, tx, []store.OutgoingEvent{
			{RoomID: room, BotUserID: bot, Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1},
			{RoomID: room, BotUserID: bot, Type: "m.reaction", Content: []byte(`{}`), ParentIndex: 0},
		})
		must(err)
		_, err = db.FinishInboxEvent(ctx, tx, room, "me", ev.Seq, "", store.Now())
		return err
	}))
	// A turn's writes made with the rest of its group commit.
	storeTxn(t, db, "t2", msg(room, "$2"), msg(room, "$3"))
	ev2, err := db.NextInboxEvent(ctx, room)
	must(err)
	// The dispatcher takes the room over from a process that died.
	_, err = db.ExecContext(ctx, `UPDATE room_lease SET owner = 'dead', expires_at = 0 WHERE queue = 'inbox' AND room_id = $1`, room)
	must(err)
	_, err = db.AcquireLease(ctx, store.QueueInbox, room, "me", 60000)
	must(err)
	var ev3 *store.InboxEvent
	must(db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := db.FinishInboxEventLater(ctx, tx, room, "me", ev2.Seq, "", store.Now(), &ev3); err != nil {
			return err
		}
		if err := store.TouchCustomerLater(ctx, tx, bot, user, "Alice", store.Now()); err != nil {
			return err
		}
		if err := store.AddHistoryLater(ctx, tx, bot, user, "message", "hi", nil, store.Now()); err != nil {
			return err
		}
		return store.AppendOutboxLater(ctx, tx, []store.OutgoingEvent{{RoomID: room, BotUserID: bot, Type: "m.room.message", Content: []byte(`{}`), ParentIndex: -1}})
	}))
	must(db.ReleaseLease(ctx, store.QueueInbox, room, "me"))
	pendingRooms(t, db, store.QueueOutbox)
	// The sender takes the room over from a process that died.
	_, err = db.ExecContext(ctx, `INSERT INTO room_lease (queue, room_id, owner, expires_at) VALUES ('outbox', $1, 'dead', 0)`, room)
	must(err)
	_, err = db.AcquireLease(ctx, store.QueueOutbox, room, "me", 60000)
	must(err)
	rows, err := db.PendingOutboxRows(ctx, room, 50)
	must(err)
	row := rows[0]
	_, err = db.WakeEncrypted(ctx, room)
	must(err)
	must(db.RetryOutboxRow(ctx, row.ID, 1, 0, "busy"))
	must(db.MarkOutboxSent(ctx, row.ID, "$sent"))
	_, _, err = store.OutboxMeta(ctx, db, room, "$sent")
	must(err)
	_, err = db.FireDueTimers(ctx, store.Now(), 10)
	must(err)
	_, err = db.Prune(ctx, store.Now()+1)
	must(err)
}

// Every query a message runs, and the prune, must find its rows through an
// index: at 200 k rooms or a week of inbox, a scan is tens of milliseconds
// per message, and on SQLite it holds the write lock intake waits for.
func TestHotPathQueriesUseIndexes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			db, rec := recordingDB(t, d)
			messagePath(t, db)
			// What the foreign key does for every outbox row deleted.
			rec.stmts = append(rec.stmts, recorded{`UPDATE outbox SET parent_id = NULL WHERE parent_id = $1`, []any{int64(1)}})

			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if d == store.Postgres {
				if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
					t.Fatal(err)
				}
			}
			checked := 0
			seen := map[string]bool{}
			for _, s := range rec.stmts {
				q := strings.TrimSpace(s.query)
				verb := strings.ToUpper(strings.SplitN(q, " ", 2)[0])
				if seen[q] || (verb != "SELECT" && verb != "UPDATE" && verb != "DELETE" && verb != "INSERT") {
					continue
				}
				seen[q] = true
				if strings.Contains(q, "bb_version") || strings.Contains(q, "bb_meta") || strings.Contains(q, "bb_schema_versions") {
					continue // one row, read at start
				}
				checked++
				if scan := fullScan(t, ctx, db, conn, q, s.args); scan != "" {
					t.Errorf("query reads a whole table (%s):\n%s", strings.TrimSpace(scan), q)
				}
				if d == store.SQLite {
					// A materialized subquery is a temporary table, opened and
					// dropped at each run: a one-row update of the outbox took
					// 0.58 ms so, 0.28 ms (the commit's fsync) without.
					plan := strings.Join(explainRows(t, ctx, conn, "EXPLAIN QUERY PLAN "+q, s.args), "\n")
					if strings.Contains(plan, "MATERIALIZE") {
						t.Errorf("query builds a temporary table at each run:\n%s\n%s", q, plan)
					}
				}
				if d == store.SQLite && strings.Contains(q, "'pending'") {
					// A room's pending rows come from the pending index;
					// an index of all its rows walks its whole history.
					plan := strings.Join(explainRows(t, ctx, conn, "EXPLAIN QUERY PLAN "+q, s.args), "\n")
					if strings.Contains(plan, "console_inbox_room_idx") || strings.Contains(plan, "console_outbox_room_idx") {
						t.Errorf("query finds pending rows through an index of every row of the room:\n%s\n%s", q, plan)
					}
				}
			}
			if checked < 25 {
				t.Fatalf("explained only %d queries: is the recorder broken?", checked)
			}
		})
	}
}

// A room's pending work must be found through that room's own entries,
// whatever the planner's statistics say. Gathered while nothing was
// pending (a quiet hour, an ANALYZE after a bulk load), they make Postgres
// believe a walk of every pending row in queue order, filtered by room,
// is the cheap way; under a burst each event's finish then read every
// other room's waiting events, thousands of index entries a message
// (the benchmark's backlog with 1 M events stored: 10 000 buffers a
// finish, three fifths of the server's time). SQLite's plans are pinned
// with INDEXED BY and checked by TestHotPathQueriesUseIndexes.
func TestRoomPendingLookupsReadOnlyTheRoom(t *testing.T) {
	ctx := context.Background()
	db, rec := recordingDB(t, store.Postgres)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A quiet database: 100 rooms, every event handled and answered.
	must(db.ExecContext(ctx, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at, status, handled_at)
		SELECT '$q' || n, '!r' || (n % 100) || ':x', '@u:x', 'm.room.message', n, '{}', 'q', n, 'done', n FROM generate_series(1, 3000) n`))
	must(db.ExecContext(ctx, `INSERT INTO outbox (room_id, bot_user_id, event_type, content, status, event_id, created_at, sent_at)
		SELECT '!r' || (n % 100) || ':x', '@b:x', 'm.room.message', '{}', 'sent', '$s' || n, n, n FROM generate_series(1, 3000) n`))
	must(db.ExecContext(ctx, `ANALYZE`))
	// Then a burst: 40 events and 40 replies waiting in each of 50 rooms,
	// the rooms' rows interleaved in queue order.
	must(db.ExecContext(ctx, `INSERT INTO inbox (event_id, room_id, sender, event_type, origin_ts, event, txn_id, received_at)
		SELECT '$p' || n, '!r' || (n % 50) || ':x', '@u:x', 'm.room.message', n, '{}', 'p', n FROM generate_series(1, 2000) n`))
	must(db.ExecContext(ctx, `INSERT INTO outbox (room_id, bot_user_id, event_type, content, created_at)
		SELECT '!r' || (n % 50) || ':x', '@b:x', 'm.room.message', '{}', n FROM generate_series(1, 2000) n`))

	rec.stmts = nil
	const room = "!r49:x" // its rows come late in queue order
	must(db.AcquireLease(ctx, store.QueueInbox, room, "me", 60000))
	must(db.PendingRooms(ctx, store.QueueInbox, 100))
	must(db.PendingRooms(ctx, store.QueueOutbox, 100))
	ev, err := db.NextInboxEvent(ctx, room)
	if err != nil || ev == nil {
		t.Fatalf("next event of %s: %v, %v", room, ev, err)
	}
	var after *store.InboxEvent
	must(nil, db.GroupTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return db.FinishInboxEventLater(ctx, tx, room, "me", ev.Seq, "", store.Now(), &after)
	}))
	if after == nil {
		t.Fatalf("no next event of %s after the first", room)
	}
	must(nil, db.Tx(ctx, func(tx store.Tx) error {
		_, err := db.FinishInboxEvent(ctx, tx, room, "me", after.Seq, "", store.Now())
		return err
	}))
	replies, err := db.PendingOutboxRows(ctx, room, 50)
	if err != nil || len(replies) < 2 {
		t.Fatalf("replies of %s: %v, %v", room, replies, err)
	}
	must(nil, db.MarkOutboxSent(ctx, replies[0].ID, "$sent"))
	must(nil, db.RetryOutboxRow(ctx, replies[1].ID, 1, 0, "busy"))
	must(nil, db.MarkOutboxFailed(ctx, replies[1].ID, 2, "gone"))

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	checked := 0
	for _, s := range rec.stmts {
		verb := strings.ToUpper(strings.Fields(s.query)[0])
		if verb == "INSERT" || verb == "BEGIN" || verb == "COMMIT" || !strings.Contains(s.query, "inbox") && !strings.Contains(s.query, "outbox") {
			continue
		}
		checked++
		// ANALYZE runs the statement: in a transaction rolled back.
		must(conn.ExecContext(ctx, `BEGIN`))
		plan := strings.Join(explainRows(t, ctx, conn, "EXPLAIN (ANALYZE, FORMAT JSON) "+s.query, s.args), "")
		must(conn.ExecContext(ctx, `ROLLBACK`))
		var plans []struct{ Plan analyzedPlan }
		if err := json.Unmarshal([]byte(plan), &plans); err != nil {
			t.Fatalf("parse plan of %s: %v", s.query, err)
		}
		if waste := plans[0].Plan.filteredOut(); waste > 40 {
			t.Errorf("read %d pending rows of other rooms (or of no use) for one room's work:\n%s\n%s", waste, s.query, plan)
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d statements: is the recorder broken?", checked)
	}
}

type analyzedPlan struct {
	IndexName string         `json:"Index Name"`
	Removed   float64        `json:"Rows Removed by Filter"`
	Loops     float64        `json:"Actual Loops"`
	Plans     []analyzedPlan `json:"Plans"`
}

// filteredOut is how many rows the plan's index scans of pending rows
// read and threw away, in all.
func (p analyzedPlan) filteredOut() int {
	n := 0
	if pendingOnly[p.IndexName] {
		n += int(p.Removed * max(p.Loops, 1))
	}
	for _, c := range p.Plans {
		n += c.filteredOut()
	}
	return n
}
