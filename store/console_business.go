package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The business console's settings, audit, board moves and broadcasts
// (upgrade 11).

// BotSettings returns the settings staff changed for bot (key → value).
func BotSettings(ctx context.Context, q Querier, bot string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM console_settings WHERE bot_user_id = $1`, bot)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read settings: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SetBotSetting stores a setting's new value; ResetBotSetting goes back
// to the config's.
func SetBotSetting(ctx context.Context, q Querier, bot, key, value, user string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO console_settings (bot_user_id, key, value, updated_by, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (bot_user_id, key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
			updated_at = excluded.updated_at`, bot, key, value, user, Now())
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}

// ResetBotSetting removes a setting's override.
func ResetBotSetting(ctx context.Context, q Querier, bot, key string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM console_settings WHERE bot_user_id = $1 AND key = $2`, bot, key); err != nil {
		return fmt.Errorf("reset setting %s: %w", key, err)
	}
	return nil
}

// AuditEntry is one change made in the console.
type AuditEntry struct {
	User     string
	Time     int64 // ms
	What     string
	Old, New string
}

// AddAudit records a change made in the console.
func AddAudit(ctx context.Context, q Querier, bot string, e AuditEntry) error {
	_, err := q.ExecContext(ctx, `INSERT INTO console_audit (bot_user_id, user_id, created_at, what, old_value, new_value)
		VALUES ($1, $2, $3, $4, $5, $6)`, bot, e.User, e.Time, e.What, e.Old, e.New)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Audit lists bot's latest changes, newest first; prefix limits them to
// entries whose what starts with it ("" for all).
func Audit(ctx context.Context, q Querier, bot, prefix string, limit int) ([]AuditEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT user_id, created_at, what, old_value, new_value FROM console_audit
		WHERE bot_user_id = $1 AND what LIKE $2 ORDER BY id DESC LIMIT $3`, bot, likePrefix(prefix), limit)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.User, &e.Time, &e.What, &e.Old, &e.New); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

// Consent flags of broadcasts.
const (
	// ConsentBroadcasts is set by "subscribe" and cleared by "stop" (see
	// handlers.Subscriptions).
	ConsentBroadcasts = "broadcasts"
	// consentMessages is the Send API's flag, cleared by a webhook bot's
	// "stop": such a customer gets no broadcast either.
	consentMessages = "messages"
)

// Subscribers lists bot's customers who subscribed to its broadcasts and
// did not say stop since.
func Subscribers(ctx context.Context, q Querier, bot string) ([]string, error) {
	// consent is compact JSON written by encoding/json: the LIKE only
	// narrows the rows, the decode decides.
	rows, err := q.QueryContext(ctx, `SELECT user_id, consent FROM customers
		WHERE bot_user_id = $1 AND consent LIKE '%"broadcasts":true%' ORDER BY user_id`, bot)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var user, raw string
		if err := rows.Scan(&user, &raw); err != nil {
			return nil, fmt.Errorf("list subscribers: %w", err)
		}
		var c map[string]bool
		if decodeColumn("customers.consent", raw, &c) == nil && subscribed(c) {
			out = append(out, user)
		}
	}
	return out, rows.Err()
}

func subscribed(c map[string]bool) bool {
	msgs, set := c[consentMessages]
	return c[ConsentBroadcasts] && (!set || msgs)
}

// Subscribed reports whether user takes bot's broadcasts now.
func Subscribed(ctx context.Context, q Querier, bot, user string) (bool, error) {
	c, err := LoadCustomer(ctx, q, bot, user)
	if err != nil || c == nil {
		return false, err
	}
	return subscribed(c.Consent), nil
}

// Broadcast is a message to a bot's subscribers, with its progress.
type Broadcast struct {
	ID        int64
	Body      string
	CreatedBy string
	CreatedAt int64
	// Total recipients, Sent (queued for the sender), Skipped (said stop
	// meanwhile, or have no chat any more).
	Total, Sent, Skipped int
}

// Done says whether every recipient has been handled.
func (b Broadcast) Done() bool { return b.Sent+b.Skipped >= b.Total }

// ErrBroadcastTwice: the same confirmation was being stored at the same
// time by another request, which will send it.
var ErrBroadcastTwice = errors.New("this broadcast was confirmed twice at the same moment; it is sent once")

// CreateBroadcast stores a confirmed broadcast and its recipients. A
// token used before returns that broadcast's id and created false.
func CreateBroadcast(ctx context.Context, q Querier, bot, token, body, user string, recipients []string) (int64, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM console_broadcasts WHERE token = $1`, token).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("find broadcast: %w", err)
	}
	err = q.QueryRowContext(ctx, `INSERT INTO console_broadcasts (bot_user_id, token, body, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, bot, token, body, user, Now()).Scan(&id)
	if IsUniqueViolation(err) {
		return 0, false, ErrBroadcastTwice
	}
	if err != nil {
		return 0, false, fmt.Errorf("store broadcast: %w", err)
	}
	for _, r := range recipients {
		if _, err := q.ExecContext(ctx, `INSERT INTO console_broadcast_recipients (broadcast_id, user_id) VALUES ($1, $2)`, id, r); err != nil {
			return 0, false, fmt.Errorf("store broadcast recipient: %w", err)
		}
	}
	return id, true, nil
}

// Broadcasts lists bot's latest broadcasts, newest first.
func Broadcasts(ctx context.Context, q Querier, bot string, limit int) ([]Broadcast, error) {
	rows, err := q.QueryContext(ctx, `SELECT b.id, b.body, b.created_by, b.created_at,
			(SELECT count(*) FROM console_broadcast_recipients r WHERE r.broadcast_id = b.id),
			(SELECT count(*) FROM console_broadcast_recipients r WHERE r.broadcast_id = b.id AND r.outbox_id > 0),
			(SELECT count(*) FROM console_broadcast_recipients r WHERE r.broadcast_id = b.id AND r.skipped)
		FROM console_broadcasts b WHERE b.bot_user_id = $1 ORDER BY b.id DESC LIMIT $2`, bot, limit)
	if err != nil {
		return nil, fmt.Errorf("list broadcasts: %w", err)
	}
	defer rows.Close()
	var out []Broadcast
	for rows.Next() {
		var b Broadcast
		if err := rows.Scan(&b.ID, &b.Body, &b.CreatedBy, &b.CreatedAt, &b.Total, &b.Sent, &b.Skipped); err != nil {
			return nil, fmt.Errorf("list broadcasts: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BroadcastRecipient is one message of a broadcast still to send.
type BroadcastRecipient struct {
	Broadcast int64
	Bot, User string
	Body      string
}

// NextBroadcastRecipient returns one recipient still to send to, oldest
// broadcast first, or nil.
func NextBroadcastRecipient(ctx context.Context, q Querier) (*BroadcastRecipient, error) {
	var r BroadcastRecipient
	err := q.QueryRowContext(ctx, `SELECT r.broadcast_id, b.bot_user_id, r.user_id, b.body
		FROM console_broadcast_recipients r JOIN console_broadcasts b ON b.id = r.broadcast_id
		WHERE r.outbox_id = 0 AND NOT r.skipped ORDER BY r.broadcast_id, r.user_id LIMIT 1`).
		Scan(&r.Broadcast, &r.Bot, &r.User, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("next broadcast recipient: %w", err)
	}
	return &r, nil
}

// ClaimBroadcastRecipient takes a recipient for sending in tx: false when
// another process took it first (its row is then no longer pending).
func ClaimBroadcastRecipient(ctx context.Context, tx Querier, broadcast int64, user string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE console_broadcast_recipients SET outbox_id = -1
		WHERE broadcast_id = $1 AND user_id = $2 AND outbox_id = 0 AND NOT skipped`, broadcast, user)
	if err != nil {
		return false, fmt.Errorf("claim broadcast recipient: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishBroadcastRecipient records a claimed recipient as sent (the
// outbox row) or skipped (outboxID 0).
func FinishBroadcastRecipient(ctx context.Context, tx Querier, broadcast int64, user string, outboxID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE console_broadcast_recipients SET outbox_id = $1, skipped = $2
		WHERE broadcast_id = $3 AND user_id = $4`, outboxID, outboxID == 0, broadcast, user)
	if err != nil {
		return fmt.Errorf("record broadcast recipient: %w", err)
	}
	return nil
}
