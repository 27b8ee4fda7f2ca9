package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/bizbots/bizbots/handlers"
)

// What the business console shows and changes of a webhook bot: its URL
// and secret (kept in webhook_settings, winning over the config block),
// and the recent deliveries (webhook_deliveries, written in each
// delivery's own transaction).

// deliveryKeep is how long a delivery stays listed.
const deliveryKeep = 7 * 24 * time.Hour

// Delivery statuses.
const (
	StatusDelivered = "delivered"
	StatusRetrying  = "retrying"
	StatusGivenUp   = "given_up"
)

// Settings are a webhook bot's URL and secret as deliveries use them.
type Settings struct {
	URL string
	// SecretEnd is the secret's last characters, to tell secrets apart.
	SecretEnd string
	// Rotating: the old secret still signs too.
	Rotating bool
	// FromConsole: set in the console (else the config block's).
	FromConsole bool
	UpdatedBy   string
	UpdatedAt   time.Time
}

// Delivery is one event's delivery to the business as it stands.
type Delivery struct {
	MsgID      string
	EventID    string
	RoomID     string
	Customer   string
	EventType  string
	Status     string
	HTTPStatus int
	Error      string
	Attempts   int
	Took       time.Duration
	At         time.Time
	NextAt     time.Time // a retry's time; zero when none
}

// Retryable says whether the console may send the event again: it failed,
// and it is a customer's event (a conversation start is not re-run).
func (d Delivery) Retryable() bool {
	return d.Status != StatusDelivered && d.EventType != TypeConversationStarted && d.EventID != ""
}

// target is where and how a delivery goes now.
type target struct {
	url       string
	secrets   []string
	row       bool
	updatedBy string
	updatedAt int64
}

// target reads the console's settings, if any, over the config's.
func (s *Service) target(ctx context.Context) (target, error) {
	var t target
	var secret, old string
	err := s.db.QueryRowContext(ctx, `SELECT url, secret, old_secret, updated_by, updated_at FROM webhook_settings WHERE bot_user_id = $1`,
		s.bot.String()).Scan(&t.url, &secret, &old, &t.updatedBy, &t.updatedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return target{url: s.cfg.URL, secrets: append([]string{s.cfg.Secret}, s.cfg.OldSecrets...)}, nil
	case err != nil:
		return t, fmt.Errorf("read webhook settings: %w", err)
	}
	t.row, t.secrets = true, []string{secret}
	if old != "" {
		t.secrets = append(t.secrets, old)
	}
	return t, nil
}

// Settings returns the URL and secret deliveries use now.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	t, err := s.target(ctx)
	if err != nil {
		return Settings{}, err
	}
	out := Settings{URL: t.url, Rotating: len(t.secrets) > 1, FromConsole: t.row, UpdatedBy: t.updatedBy}
	if sec := t.secrets[0]; len(sec) > 4 {
		out.SecretEnd = sec[len(sec)-4:]
	}
	if t.row {
		out.UpdatedAt = time.UnixMilli(t.updatedAt)
	}
	return out, nil
}

// ErrBadURL means a URL is not an http(s) address.
var ErrBadURL = errors.New("the webhook URL must be an http:// or https:// address")

// save writes the settings row, starting from the current target.
func (s *Service) save(ctx context.Context, by string, change func(t *target) error) error {
	t, err := s.target(ctx)
	if err != nil {
		return err
	}
	if err := change(&t); err != nil {
		return err
	}
	old := ""
	if len(t.secrets) > 1 {
		old = t.secrets[1]
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO webhook_settings (bot_user_id, url, secret, old_secret, updated_by, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (bot_user_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, old_secret = excluded.old_secret,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		s.bot.String(), t.url, t.secrets[0], old, by, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("save webhook settings: %w", err)
	}
	return nil
}

// SetURL sends the bot's events to u from now on.
func (s *Service) SetURL(ctx context.Context, u, by string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return ErrBadURL
	}
	return s.save(ctx, by, func(t *target) error { t.url = u; return nil })
}

// RotateSecret makes a new secret and returns it (it is shown once). The
// one it replaces still signs until FinishRotation, so the business can
// switch without a gap; a rotation during a rotation drops the oldest.
func (s *Service) RotateSecret(ctx context.Context, by string) (string, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", err
	}
	err = s.save(ctx, by, func(t *target) error { t.secrets = []string{secret, t.secrets[0]}; return nil })
	return secret, err
}

// FinishRotation stops signing with the old secret.
func (s *Service) FinishRotation(ctx context.Context, by string) error {
	return s.save(ctx, by, func(t *target) error { t.secrets = t.secrets[:1]; return nil })
}

// Deliveries lists the latest deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, limit int) ([]Delivery, error) {
	return s.deliveries(ctx, `bot_user_id = $1 ORDER BY at DESC LIMIT $2`, s.bot.String(), limit)
}

// Delivery returns the delivery of event msgID, or nil.
func (s *Service) Delivery(ctx context.Context, msgID string) (*Delivery, error) {
	ds, err := s.deliveries(ctx, `bot_user_id = $1 AND msg_id = $2`, s.bot.String(), msgID)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return &ds[0], nil
}

func (s *Service) deliveries(ctx context.Context, where string, args ...any) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT msg_id, event_id, room_id, user_id, event_type, status, http_status, error,
		attempts, took_ms, at, next_at FROM webhook_deliveries WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var took, at, next int64
		if err := rows.Scan(&d.MsgID, &d.EventID, &d.RoomID, &d.Customer, &d.EventType, &d.Status, &d.HTTPStatus, &d.Error,
			&d.Attempts, &took, &at, &next); err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", err)
		}
		d.Took, d.At = time.Duration(took)*time.Millisecond, time.UnixMilli(at)
		if next > 0 {
			d.NextAt = time.UnixMilli(next)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// record notes a delivery's outcome in the turn's transaction.
func (s *Service) record(c *handlers.Conversation, msgID, typ string, res Result, status string, next time.Time) {
	bot, room, user, ev := s.bot.String(), c.Room.String(), c.Customer.ID.String(), c.Cause().String()
	now := c.Now()
	errText := ""
	if res.Err != nil {
		errText = res.Err.Error()
	} else if res.AnswerErr != nil {
		errText = "answer unusable: " + res.AnswerErr.Error()
	}
	var nextMS int64
	if !next.IsZero() {
		nextMS = next.UnixMilli()
	}
	c.OnCommit(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (bot_user_id, msg_id, event_id, room_id, user_id, event_type,
				status, http_status, error, attempts, took_ms, at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $12)
			ON CONFLICT (bot_user_id, msg_id) DO UPDATE SET status = excluded.status, http_status = excluded.http_status,
				error = excluded.error, attempts = webhook_deliveries.attempts + 1, took_ms = excluded.took_ms,
				at = excluded.at, next_at = excluded.next_at`,
			bot, msgID, ev, room, user, typ, status, res.Status, errText, res.Took.Milliseconds(), now.UnixMilli(), nextMS)
		if err != nil {
			return fmt.Errorf("record webhook delivery: %w", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE bot_user_id = $1 AND at < $2`, bot, now.Add(-deliveryKeep).UnixMilli())
		return err
	})
}
