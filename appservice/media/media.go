// Package media uploads the files bots send (a menu's photos) to the
// homeserver's media repository, each once: the mxc:// URI of every upload
// is kept in its own table (media_uploads, a store.RegisterSchema schema)
// by the SHA-256 of the bytes, so restarts, reloads and other processes
// reuse it. A Library is the handlers.Media a service gets in
// services.Env. It does not download, thumbnail or encrypt media.
package media

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/singleflight"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("media", schemaFiles, "schema")
}

// Uploader puts bytes into the media repository as a bot (hsclient).
type Uploader interface {
	UploadMedia(ctx context.Context, bot id.UserID, data []byte, contentType, name string) (id.ContentURIString, error)
}

// MaxBytes bounds one file: a chat picture, not a video.
const MaxBytes = 5 << 20

// Library uploads files once and remembers where they went.
type Library struct {
	db *store.DB
	up Uploader
	// flight makes concurrent uploads of the same bytes in this process
	// one upload.
	flight singleflight.Group
}

var _ handlers.Media = (*Library)(nil)

// New makes a library on db that uploads with up.
func New(db *store.DB, up Uploader) *Library { return &Library{db: db, up: up} }

// Upload implements handlers.Media.
func (l *Library) Upload(ctx context.Context, bot id.UserID, f handlers.File) (id.ContentURIString, error) {
	switch {
	case len(f.Data) == 0:
		return "", errors.New("upload media: the file is empty")
	case len(f.Data) > MaxBytes:
		return "", fmt.Errorf("upload media: %d bytes; at most %d", len(f.Data), MaxBytes)
	}
	sum := sha256.Sum256(f.Data)
	key := hex.EncodeToString(sum[:])
	uri, err, _ := l.flight.Do(key, func() (any, error) {
		if uri, err := l.known(ctx, key); uri != "" || err != nil {
			return uri, err
		}
		uri, err := l.up.UploadMedia(ctx, bot, f.Data, f.ContentType, f.Name)
		if err != nil {
			return id.ContentURIString(""), fmt.Errorf("upload media %s: %w", f.Name, err)
		}
		if !strings.HasPrefix(string(uri), "mxc://") {
			return id.ContentURIString(""), fmt.Errorf("upload media %s: the homeserver answered %q, not an mxc:// URI", f.Name, uri)
		}
		// Another process may have uploaded the same bytes meanwhile: the
		// first row wins and everyone uses it from then on.
		if _, err := l.db.ExecContext(ctx, `INSERT INTO media_uploads (sha256, mxc, content_type, size, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING`, key, string(uri), f.ContentType, len(f.Data), store.Now()); err != nil {
			return id.ContentURIString(""), fmt.Errorf("remember media upload: %w", err)
		}
		return l.known(ctx, key)
	})
	if err != nil {
		return "", err
	}
	return uri.(id.ContentURIString), nil
}

// known is the URI of bytes uploaded before, or "".
func (l *Library) known(ctx context.Context, key string) (id.ContentURIString, error) {
	var uri string
	err := l.db.QueryRowContext(ctx, `SELECT mxc FROM media_uploads WHERE sha256 = $1`, key).Scan(&uri)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up media upload: %w", err)
	}
	return id.ContentURIString(uri), nil
}
