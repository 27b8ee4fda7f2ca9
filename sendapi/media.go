package sendapi

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/store"
)

// MediaStore is what the API needs of media.Resolver.
type MediaStore interface {
	wire.Resolver
	Upload(ctx context.Context, bot id.UserID, data []byte, contentType, name string) (*wire.Uploaded, error)
	MaxSize() int64
}

// UploadResponse is the answer to POST …/media.
type UploadResponse struct {
	ContentURI id.ContentURIString `json:"content_uri"`
	MimeType   string              `json:"mimetype"`
	Size       int64               `json:"size"`
	Width      int                 `json:"w,omitempty"`
	Height     int                 `json:"h,omitempty"`
}

// resolveMedia puts the message's media given by URL into the
// homeserver's repository; false: it answered why not.
func (s *Server) resolveMedia(ctx context.Context, w http.ResponseWriter, q request, r *wire.Reply) bool {
	if s.Media == nil {
		for _, m := range []*wire.Media{r.Image, r.File} {
			if m != nil && !strings.HasPrefix(m.URL, "mxc://") {
				WriteError(w, http.StatusBadRequest, "BB_MEDIA_URL", "media by URL is not available on this server; give an mxc:// URI")
				return false
			}
		}
		return true
	}
	return s.mediaError(w, q, s.Media.Resolve(ctx, q.bot, r))
}

// mediaError answers a media failure; true when there was none.
func (s *Server) mediaError(w http.ResponseWriter, q request, err error) bool {
	var me *media.Error
	switch {
	case err == nil:
		return true
	case errors.As(err, &me):
		WriteError(w, me.Status, me.Code, me.Msg)
	default:
		q.log.Warn().Err(err).Msg("cannot put media into the homeserver's repository")
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusServiceUnavailable, "BB_HOMESERVER", "the homeserver did not take the media; retry: "+err.Error())
	}
	return false
}

// postMedia uploads the body to the homeserver's media repository as the
// bot. The same bytes again give the same URI without a second upload,
// so a retry is harmless; an Idempotency-Key is honoured all the same.
func (s *Server) postMedia(w http.ResponseWriter, r *http.Request, q request) {
	ctx := r.Context()
	if s.Media == nil {
		WriteError(w, http.StatusNotFound, "M_UNRECOGNIZED", "uploads are not available on this server")
		return
	}
	limit := s.Media.MaxSize()
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		WriteError(w, http.StatusBadRequest, "M_UNKNOWN", "cannot read the body: "+err.Error())
		return
	}
	if int64(len(data)) > limit {
		WriteError(w, http.StatusRequestEntityTooLarge, "BB_MEDIA_TOO_LARGE", fmt.Sprintf("the file is larger than %d bytes", limit))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	sum := sha256.Sum256(append([]byte(q.bot.String()+"\x00media\x00"), data...))
	reqHash := hex.EncodeToString(sum[:])
	if key != "" {
		var hash string
		err := s.DB.QueryRowContext(ctx, `SELECT request_hash FROM sendapi_idempotency WHERE business = $1 AND idem_key = $2`, q.business, key).Scan(&hash)
		switch {
		case err == nil && hash != reqHash:
			WriteError(w, http.StatusUnprocessableEntity, "BB_IDEMPOTENCY_MISMATCH", "this Idempotency-Key was used with a different request; use a new key for a new upload")
			return
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			s.internal(w, err, "read idempotency key")
			return
		}
	}
	up, err := s.Media.Upload(ctx, q.bot, data, r.Header.Get("Content-Type"), r.URL.Query().Get("filename"))
	if !s.mediaError(w, q, err) {
		return
	}
	out := jsonAnswer(http.StatusOK, UploadResponse{ContentURI: up.MXC, MimeType: up.MimeType, Size: up.Size, Width: up.Width, Height: up.Height})
	if key != "" {
		_, err := s.DB.ExecContext(ctx, `INSERT INTO sendapi_idempotency (business, idem_key, request_hash, status, response, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (business, idem_key) DO NOTHING`,
			q.business, key, reqHash, out.status, string(out.body), store.Now())
		if err != nil {
			s.internal(w, err, "keep idempotency key")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.status)
	_, _ = w.Write(out.body)
}
