package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every webhook secret (Standard Webhooks style); the
// rest is base64 of the key bytes.
const SecretPrefix = "whsec_"

// minSecretBytes is the shortest key accepted.
const minSecretBytes = 24

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock before Verify refuses it (a replayed request).
const DefaultTolerance = 5 * time.Minute

// NewSecret makes a fresh secret: whsec_ + base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey decodes a whsec_ secret into its key bytes.
func secretKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("a webhook secret starts with %q (make one with `bizbots bots add` or `bizbots webhook secret`)", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("a webhook secret is %s followed by base64: %w", SecretPrefix, err)
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("a webhook secret needs at least %d random bytes; this one has %d", minSecretBytes, len(key))
	}
	return key, nil
}

// CheckSecret reports why secret is not a usable webhook secret.
func CheckSecret(secret string) error {
	_, err := secretKey(secret)
	return err
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256>" per secret, space-separated (several while a
// secret is being rotated, so the receiver may hold either).
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, "v1,"+signature(key, msgID, ts.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

func signature(key []byte, msgID string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", msgID, ts)
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Errors Verify returns.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrStale          = errors.New("webhook: timestamp too far from now (replayed or clock skew)")
	ErrBadSignature   = errors.New("webhook: no valid signature")
)

// Verify checks a received webhook the way a business server must: the
// timestamp within tolerance of now, and at least one v1 signature made
// with secret. bizbots uses it for `bizbots webhook test` and its tests;
// docs/webhooks.md shows the same in Python, Node and Go.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	msgID, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if msgID == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrStale, tsText)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := signature(key, msgID, ts, body)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
