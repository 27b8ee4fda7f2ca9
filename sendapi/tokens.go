package sendapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/store"
)

// TokenPrefix starts every business token, so one found in a log or a
// repository is recognisable.
const TokenPrefix = "bzb_"

var businessRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckBusiness says why name is not a business name.
func CheckBusiness(name string) error {
	if !businessRe.MatchString(name) {
		return fmt.Errorf("business name %q must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", name)
	}
	return nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IssueToken makes a new token for business, stores its hash and returns
// it: the only time it is seen in clear.
func IssueToken(ctx context.Context, q store.Querier, business string) (string, error) {
	if err := CheckBusiness(business); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make token: %w", err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	_, err := q.ExecContext(ctx, `INSERT INTO sendapi_tokens (token_hash, business, created_at) VALUES ($1, $2, $3)`,
		hashToken(token), business, store.Now())
	if err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return token, nil
}

// Grant lets business's tokens act as bot.
func Grant(ctx context.Context, q store.Querier, business string, bot id.UserID) error {
	_, err := q.ExecContext(ctx, `INSERT INTO sendapi_scopes (business, bot_user_id) VALUES ($1, $2)
		ON CONFLICT (business, bot_user_id) DO NOTHING`, business, bot.String())
	if err != nil {
		return fmt.Errorf("grant bot to business: %w", err)
	}
	return nil
}

// Ungrant removes bot from every business's scope (a bot removed).
func Ungrant(ctx context.Context, q store.Querier, bot id.UserID) error {
	_, err := q.ExecContext(ctx, `DELETE FROM sendapi_scopes WHERE bot_user_id = $1`, bot.String())
	if err != nil {
		return fmt.Errorf("remove bot from business scopes: %w", err)
	}
	return nil
}

// RevokeTokens ends every live token of business and returns how many.
func RevokeTokens(ctx context.Context, q store.Querier, business string) (int64, error) {
	res, err := q.ExecContext(ctx, `UPDATE sendapi_tokens SET revoked_at = $1 WHERE business = $2 AND revoked_at = 0`, store.Now(), business)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	return res.RowsAffected()
}

// Business is one business as the API knows it.
type Business struct {
	Name   string
	Tokens int
	Bots   []id.UserID
}

// Businesses lists the businesses with live tokens or bots.
func Businesses(ctx context.Context, q store.Querier) ([]Business, error) {
	rows, err := q.QueryContext(ctx, `SELECT b.business,
			(SELECT count(*) FROM sendapi_tokens t WHERE t.business = b.business AND t.revoked_at = 0),
			COALESCE(s.bot_user_id, '')
		FROM (SELECT business FROM sendapi_tokens UNION SELECT business FROM sendapi_scopes) b
		LEFT JOIN sendapi_scopes s ON s.business = b.business
		ORDER BY b.business, s.bot_user_id`)
	if err != nil {
		return nil, fmt.Errorf("list businesses: %w", err)
	}
	defer rows.Close()
	var out []Business
	for rows.Next() {
		var name, bot string
		var n int
		if err := rows.Scan(&name, &n, &bot); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, Business{Name: name, Tokens: n})
		}
		if bot != "" {
			last := &out[len(out)-1]
			last.Bots = append(last.Bots, id.UserID(bot))
		}
	}
	return out, rows.Err()
}

// Errors of authenticate.
var (
	errMissingToken = errors.New("missing token")
	errUnknownToken = errors.New("unknown token")
)

// authenticate finds the business of a live token.
func authenticate(ctx context.Context, q store.Querier, header string) (string, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return "", errMissingToken
	}
	want := hashToken(token)
	var hash, business string
	err := q.QueryRowContext(ctx, `SELECT token_hash, business FROM sendapi_tokens WHERE token_hash = $1 AND revoked_at = 0`, want).
		Scan(&hash, &business)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errUnknownToken
	}
	if err != nil {
		return "", err
	}
	// The lookup is by hash, so timing says nothing about the token; the
	// comparison is constant-time all the same.
	if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
		return "", errUnknownToken
	}
	return business, nil
}

// mayUse says whether business's tokens may act as bot.
func mayUse(ctx context.Context, q store.Querier, business string, bot id.UserID) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sendapi_scopes WHERE business = $1 AND bot_user_id = $2`, business, bot.String()).Scan(&n)
	return n > 0, err
}
