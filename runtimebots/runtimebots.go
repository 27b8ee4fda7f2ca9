// Package runtimebots adds, lists, removes and re-keys webhook bots while
// bizbots runs, without a restart: `bizbots bots …` and the admin API
// write the runtime_bots table, and every serving process picks the
// change up (Syncer) — registering the Matrix user, setting its profile
// and adding its handler to the dispatcher. A bot must fall inside the
// registration's user namespace (a prefix such as @shop_.*), since the
// homeserver only lets the appservice act as users it declared.
// Bots from the config file are not touched here.
package runtimebots

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/config"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/services/webhook"
	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("runtimebots", schemaFiles, "schema")
}

// Spec is what an admin gives to add a bot.
type Spec struct {
	Localpart   string `json:"localpart"`
	DisplayName string `json:"display_name"`
	Avatar      string `json:"avatar,omitempty"`
	// Business owns the bot: its Send API tokens may act as it.
	Business string `json:"business"`
	// URL is the business server's webhook endpoint.
	URL string `json:"url"`
}

// Bot is a stored run-time bot.
type Bot struct {
	Spec
	UserID    id.UserID `json:"user_id"`
	Secret    string    `json:"-"`
	OldSecret string    `json:"-"`
	Updated   int64     `json:"-"`
}

// Added is what Add hands back once: the secrets in clear.
type Added struct {
	UserID id.UserID `json:"user_id"`
	// Secret is the webhook secret the business verifies signatures with.
	Secret string `json:"secret"`
	// Token is a new Send API token when the business had none live;
	// empty when it already has one.
	Token string `json:"token,omitempty"`
}

// Errors callers branch on.
var (
	ErrExists   = errors.New("bot already exists")
	ErrNotFound = errors.New("no such run-time bot")
	ErrInvalid  = errors.New("invalid bot")
)

var localpartRe = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

// check says what is wrong with spec for this config.
func check(cfg *config.Config, s Spec) error {
	var problems []string
	uid := cfg.UserID(s.Localpart)
	switch {
	case s.Localpart == "":
		problems = append(problems, "localpart is required")
	case !localpartRe.MatchString(s.Localpart):
		problems = append(problems, fmt.Sprintf("localpart %q may only contain a-z, 0-9 and ._=/+-", s.Localpart))
	case s.Localpart == cfg.AppService.SenderLocalpart:
		problems = append(problems, fmt.Sprintf("%s is the appservice's own user", uid))
	default:
		if _, ok := cfg.BotByUserID(uid); ok {
			problems = append(problems, fmt.Sprintf("%s is a bot of the config file; change it there", uid))
		} else if !InNamespace(cfg, uid) {
			problems = append(problems, fmt.Sprintf("%s is outside the registration's user namespace; set appservice.bot_namespace to a prefix such as '@shop_.*:%s', run `bizbots generate-registration` and restart the homeserver once (docs/webhooks.md)",
				uid, regexp.QuoteMeta(cfg.Homeserver.Domain)))
		}
	}
	if err := sendapi.CheckBusiness(s.Business); err != nil {
		problems = append(problems, err.Error())
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("url %q must be the business server's http:// or https:// URL", s.URL))
	}
	if s.Avatar != "" && !strings.HasPrefix(s.Avatar, "mxc://") && !strings.HasPrefix(s.Avatar, "https://") && !strings.HasPrefix(s.Avatar, "http://") {
		problems = append(problems, fmt.Sprintf("avatar %q must be an mxc:// URI or an http(s) URL", s.Avatar))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// InNamespace says whether the registration's user namespace covers uid.
func InNamespace(cfg *config.Config, uid id.UserID) bool {
	re, err := regexp.Compile("^(?:" + cfg.UserNamespace() + ")$")
	return err == nil && re.MatchString(uid.String())
}

// Add stores a new webhook bot with a fresh secret, lets its business's
// tokens act as it, and issues the business a token if it has none.
func Add(ctx context.Context, db *store.DB, cfg *config.Config, s Spec) (*Added, error) {
	if err := check(cfg, s); err != nil {
		return nil, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	out := &Added{UserID: cfg.UserID(s.Localpart), Secret: secret}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO runtime_bots (localpart, display_name, avatar, business, url, secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (localpart) DO NOTHING`,
			s.Localpart, s.DisplayName, s.Avatar, s.Business, s.URL, secret, now)
		if err != nil {
			return fmt.Errorf("store bot: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrExists, out.UserID)
		}
		if err := sendapi.Grant(ctx, tx, s.Business, out.UserID); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sendapi_tokens WHERE business = $1 AND revoked_at = 0`, s.Business).Scan(&live); err != nil {
			return err
		}
		if live == 0 {
			out.Token, err = sendapi.IssueToken(ctx, tx, s.Business)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// List returns the run-time bots, by localpart.
func List(ctx context.Context, db *store.DB, cfg *config.Config) ([]Bot, error) {
	rows, err := db.QueryContext(ctx, `SELECT localpart, display_name, avatar, business, url, secret, old_secret, updated_at
		FROM runtime_bots ORDER BY localpart`)
	if err != nil {
		return nil, fmt.Errorf("list run-time bots: %w", err)
	}
	defer rows.Close()
	var out []Bot
	for rows.Next() {
		var b Bot
		if err := rows.Scan(&b.Localpart, &b.DisplayName, &b.Avatar, &b.Business, &b.URL, &b.Secret, &b.OldSecret, &b.Updated); err != nil {
			return nil, err
		}
		b.UserID = cfg.UserID(b.Localpart)
		out = append(out, b)
	}
	return out, rows.Err()
}

// Remove deletes a run-time bot and its business's right to act as it.
func Remove(ctx context.Context, db *store.DB, cfg *config.Config, localpart string) error {
	return db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM runtime_bots WHERE localpart = $1`, localpart)
		if err != nil {
			return fmt.Errorf("remove bot: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, localpart)
		}
		return sendapi.Ungrant(ctx, tx, cfg.UserID(localpart))
	})
}

// RotateSecret gives a bot a new secret and returns it. Until finish is
// called (RotateSecret with finish set), requests are signed with both the
// new and the old secret, so the business can switch without a gap.
func RotateSecret(ctx context.Context, db *store.DB, localpart string, finish bool) (string, error) {
	if finish {
		res, err := db.ExecContext(ctx, `UPDATE runtime_bots SET old_secret = '', updated_at = $1 WHERE localpart = $2`, store.Now(), localpart)
		if err != nil {
			return "", fmt.Errorf("finish rotation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return "", fmt.Errorf("%w: %s", ErrNotFound, localpart)
		}
		return "", nil
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return "", err
	}
	res, err := db.ExecContext(ctx, `UPDATE runtime_bots SET old_secret = secret, secret = $1, updated_at = $2 WHERE localpart = $3`,
		secret, store.Now(), localpart)
	if err != nil {
		return "", fmt.Errorf("rotate secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("%w: %s", ErrNotFound, localpart)
	}
	return secret, nil
}

// ConfigBot is the bot as a config entry of service webhook, for the
// service registry to build.
func (b Bot) ConfigBot() (config.Bot, error) {
	block := map[string]any{"url": b.URL, "secret": b.Secret}
	if b.OldSecret != "" {
		block["old_secrets"] = []string{b.OldSecret}
	}
	var n yaml.Node
	if err := n.Encode(block); err != nil {
		return config.Bot{}, err
	}
	return config.Bot{Localpart: b.Localpart, DisplayName: b.DisplayName, Avatar: b.Avatar, Service: "webhook", Config: n}, nil
}
