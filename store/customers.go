package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CustomerRow is what a business knows about a customer.
type CustomerRow struct {
	DisplayName         string
	FirstSeen, LastSeen int64
	Facts               map[string]string
	Consent             map[string]bool
}

// LoadCustomer reads a customer of a bot; nil when the bot never met them.
func LoadCustomer(ctx context.Context, q Querier, bot, user string) (*CustomerRow, error) {
	var c CustomerRow
	var profile, consent string
	err := q.QueryRowContext(ctx, `SELECT display_name, first_seen, last_seen, profile, consent
		FROM customers WHERE bot_user_id = $1 AND user_id = $2`, bot, user).
		Scan(&c.DisplayName, &c.FirstSeen, &c.LastSeen, &profile, &consent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load customer: %w", err)
	}
	if err := c.decode(profile, consent); err != nil {
		return nil, err
	}
	return &c, nil
}

// decode fills the row's columns kept as JSON.
func (c *CustomerRow) decode(profile, consent string) error {
	if err := decodeColumn("customers.profile", profile, &c.Facts); err != nil {
		return err
	}
	return decodeColumn("customers.consent", consent, &c.Consent)
}

// TurnRows is what a turn starts from, read in one statement: the
// customer's row (nil when new), their display name in the room ("" when
// not known) and the conversation's state (nil when none).
type TurnRows struct {
	Customer   *CustomerRow
	MemberName string
	State      *StateRow
}

// kindMember is the kind of the row with the sender's display name in a
// turn read.
const kindMember = 5

// turnRow is one row of a turn read (LoadTurn, ViewRoom): its kind, the
// bot, and what the kind keeps.
type turnRow struct {
	kind      int
	bot, text string
	n1, n2    int64
	x, y      string
}

// scan reads r from the current row of rows.
func (r *turnRow) scan(rows *sql.Rows) error {
	return rows.Scan(&r.kind, &r.bot, &r.text, &r.n1, &r.n2, &r.x, &r.y)
}

// fill puts a state, customer or member row into t.
func (r turnRow) fill(t *TurnRows) error {
	switch r.kind {
	case 3:
		t.State = &StateRow{Step: r.text, ExpiresAt: r.n1, State: []byte(r.x), Question: []byte(r.y)}
	case 4:
		c := &CustomerRow{DisplayName: r.text, FirstSeen: r.n1, LastSeen: r.n2}
		if err := c.decode(r.x, r.y); err != nil {
			return err
		}
		t.Customer = c
	case kindMember:
		t.MemberName = r.text
	}
	return nil
}

// LoadTurn reads a turn's TurnRows for bot, room and user, in one
// statement: a row per table that has one. (A UNION ALL of three point
// lookups; the same as LEFT JOINs took SQLite eight times as long.
// SQLite numbers $n placeholders in the order they first appear, so the
// first branch names all three in order.)
func LoadTurn(ctx context.Context, q Querier, bot, room, user string) (TurnRows, error) {
	rows, err := q.QueryContext(ctx, `SELECT 3, bot_user_id, step, expires_at, 0, state, question FROM conversation_state
			WHERE bot_user_id = $1 AND room_id = $2 AND user_id = $3
		UNION ALL SELECT 4, bot_user_id, display_name, first_seen, last_seen, profile, consent FROM customers
			WHERE bot_user_id = $1 AND user_id = $3
		UNION ALL SELECT 5, '', display_name, 0, 0, '', '' FROM room_members WHERE room_id = $2 AND user_id = $3`, bot, room, user)
	if err != nil {
		return TurnRows{}, fmt.Errorf("load turn: %w", err)
	}
	defer rows.Close()
	var t TurnRows
	for rows.Next() {
		var r turnRow
		if err := r.scan(rows); err != nil {
			return TurnRows{}, fmt.Errorf("load turn: %w", err)
		}
		if err := r.fill(&t); err != nil {
			return TurnRows{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return TurnRows{}, fmt.Errorf("load turn: %w", err)
	}
	return t, nil
}

// TouchCustomer records contact with a customer now: created on first
// contact, last_seen and display name updated after.
func TouchCustomer(ctx context.Context, q Querier, bot, user, displayName string, now int64) error {
	_, err := q.ExecContext(ctx, `INSERT INTO customers (bot_user_id, user_id, display_name, first_seen, last_seen)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (bot_user_id, user_id) DO UPDATE SET last_seen = excluded.last_seen,
			display_name = CASE WHEN excluded.display_name <> '' THEN excluded.display_name ELSE customers.display_name END`,
		bot, user, Clean(displayName), now)
	if err != nil {
		return fmt.Errorf("record customer: %w", err)
	}
	return nil
}

// UpdateCustomerFacts applies fact changes (nil value = delete) and consent
// changes to a customer, who must exist (TouchCustomer first). q must be a
// transaction: the row is locked before it is read (a no-op UPDATE, which
// both engines support and which Postgres re-reads after a concurrent
// writer commits), so two turns of one customer in two rooms each keep
// their change instead of the later one overwriting the earlier. A stored
// value that is not JSON is an ErrCorrupt error, never replaced.
func UpdateCustomerFacts(ctx context.Context, q Querier, bot, user string, facts map[string]*string, consent map[string]bool) error {
	if len(facts) == 0 && len(consent) == 0 {
		return nil
	}
	var profileJSON, consentJSON string
	err := q.QueryRowContext(ctx, `UPDATE customers SET profile = profile WHERE bot_user_id = $1 AND user_id = $2
		RETURNING profile, consent`, bot, user).Scan(&profileJSON, &consentJSON)
	if err != nil {
		return fmt.Errorf("read customer facts: %w", err)
	}
	profile := map[string]string{}
	cons := map[string]bool{}
	if err := decodeColumn("customers.profile", profileJSON, &profile); err != nil {
		return err
	}
	if err := decodeColumn("customers.consent", consentJSON, &cons); err != nil {
		return err
	}
	for k, v := range facts {
		if v == nil {
			delete(profile, k)
		} else {
			profile[Clean(k)] = Clean(*v)
		}
	}
	for k, v := range consent {
		cons[Clean(k)] = v
	}
	p, err := json.Marshal(profile)
	if err != nil {
		return fmt.Errorf("encode customer facts: %w", err)
	}
	c, err := json.Marshal(cons)
	if err != nil {
		return fmt.Errorf("encode customer consent: %w", err)
	}
	_, err = q.ExecContext(ctx, `UPDATE customers SET profile = $1, consent = $2 WHERE bot_user_id = $3 AND user_id = $4`,
		string(p), string(c), bot, user)
	if err != nil {
		return fmt.Errorf("save customer facts: %w", err)
	}
	return nil
}

// decodeColumn decodes a JSON column; what is not JSON is ErrCorrupt.
func decodeColumn(column, value string, dst any) error {
	if err := json.Unmarshal([]byte(value), dst); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, column, err)
	}
	return nil
}

// HistoryRow is one entry of a customer's history.
type HistoryRow struct {
	Kind, Summary string
	Data          []byte
	CreatedAt     int64
}

// AddHistory appends to a customer's history.
func AddHistory(ctx context.Context, q Querier, bot, user, kind, summary string, data []byte, at int64) error {
	if len(data) == 0 {
		data = []byte("{}")
	}
	_, err := q.ExecContext(ctx, `INSERT INTO customer_history (bot_user_id, user_id, kind, summary, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, bot, user, Clean(kind), Clean(summary), Clean(string(data)), at)
	if err != nil {
		return fmt.Errorf("add history: %w", err)
	}
	return nil
}

// History returns up to limit entries, newest first, of the given kinds
// (all kinds when none given).
func History(ctx context.Context, q Querier, bot, user string, limit int, kinds ...string) ([]HistoryRow, error) {
	query := `SELECT kind, summary, data, created_at FROM customer_history WHERE bot_user_id = $1 AND user_id = $2`
	args := []any{bot, user}
	if len(kinds) > 0 {
		ph := make([]string, len(kinds))
		for i, k := range kinds {
			args = append(args, k)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		query += ` AND kind IN (` + strings.Join(ph, ", ") + `)`
	}
	args = append(args, limit)
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	var out []HistoryRow
	for rows.Next() {
		var h HistoryRow
		var data string
		if err := rows.Scan(&h.Kind, &h.Summary, &data, &h.CreatedAt); err != nil {
			return nil, err
		}
		h.Data = []byte(data)
		out = append(out, h)
	}
	return out, rows.Err()
}

// StateRow is a conversation's stored state.
type StateRow struct {
	Step      string
	State     []byte
	ExpiresAt int64
	Question  []byte
}

// LoadState reads a conversation's state; nil when there is none.
func LoadState(ctx context.Context, q Querier, bot, room, user string) (*StateRow, error) {
	var s StateRow
	var state, question string
	err := q.QueryRowContext(ctx, `SELECT step, state, expires_at, question FROM conversation_state
		WHERE bot_user_id = $1 AND room_id = $2 AND user_id = $3`, bot, room, user).
		Scan(&s.Step, &state, &s.ExpiresAt, &question)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load conversation state: %w", err)
	}
	s.State, s.Question = []byte(state), []byte(question)
	return &s, nil
}

// SaveState writes a conversation's state; an empty step, state and
// question delete the row.
func SaveState(ctx context.Context, q Querier, bot, room, user string, s StateRow, now int64) error {
	if s.Step == "" && (len(s.State) == 0 || string(s.State) == "null") && len(s.Question) == 0 {
		_, err := q.ExecContext(ctx, `DELETE FROM conversation_state WHERE bot_user_id = $1 AND room_id = $2 AND user_id = $3`, bot, room, user)
		if err != nil {
			return fmt.Errorf("clear conversation state: %w", err)
		}
		return nil
	}
	state := string(s.State)
	if state == "" {
		state = "null"
	}
	_, err := q.ExecContext(ctx, `INSERT INTO conversation_state (bot_user_id, room_id, user_id, step, state, expires_at, question, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (bot_user_id, room_id, user_id) DO UPDATE SET step = excluded.step, state = excluded.state,
			expires_at = excluded.expires_at, question = excluded.question, updated_at = excluded.updated_at`,
		bot, room, user, s.Step, state, s.ExpiresAt, string(s.Question), now)
	if err != nil {
		return fmt.Errorf("save conversation state: %w", err)
	}
	return nil
}

// DirectRoom finds the room where bot and customer talk one to one, for
// proactive messages; "" when there is none.
func DirectRoom(ctx context.Context, q Querier, bot, user string) (string, error) {
	var room string
	err := q.QueryRowContext(ctx, `SELECT br.room_id FROM bot_rooms br
		JOIN room_members rm ON rm.room_id = br.room_id AND rm.membership = 'join'
		WHERE br.bot_user_id = $1 AND rm.user_id = $2 AND br.membership = 'join'
		  AND (SELECT count(*) FROM room_members x WHERE x.room_id = br.room_id AND x.membership = 'join') = 1
		ORDER BY br.updated_at DESC LIMIT 1`, bot, user).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find direct room: %w", err)
	}
	return room, nil
}

// OutboxMeta returns the meta kept with the bot message that became
// eventID in room ("" when unknown).
func OutboxMeta(ctx context.Context, q Querier, room, eventID string) (bot string, meta []byte, err error) {
	var m string
	err = q.QueryRowContext(ctx, `SELECT bot_user_id, meta FROM outbox WHERE event_id = $1 AND event_id <> '' AND room_id = $2`, eventID, room).Scan(&bot, &m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read outbox meta: %w", err)
	}
	return bot, []byte(m), nil
}
