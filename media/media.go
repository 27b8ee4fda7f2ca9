// Package media puts the images and files businesses send into the
// homeserver's media repository: given by URL (downloaded with a size
// limit and a timeout, the content type checked, from public addresses
// only unless the admin allows private ones) or uploaded through the
// Send API. Each URL, and each uploaded content, is uploaded to the
// homeserver once and remembered. It sends no message itself.
package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // image sizes of GIFs
	_ "image/jpeg" // and JPEGs
	_ "image/png"  // and PNGs
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers/wire"
	"github.com/bizbots/bizbots/store"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

func init() {
	store.RegisterSchema("media_urls", schemaFiles, "schema")
}

// Defaults of Resolver.
const (
	DefaultMaxBytes = 10 << 20
	DefaultTimeout  = 15 * time.Second
)

// imageTypes are the image types every Matrix client shows.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// Uploader puts bytes into the homeserver's media repository as a bot
// (hsclient.Client is one).
type Uploader interface {
	UploadMedia(ctx context.Context, bot id.UserID, data []byte, contentType, fileName string) (id.ContentURIString, error)
}

// Error is media a business gave that cannot be sent; Code is the
// errcode the Send API answers with.
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func bad(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Resolver fetches and uploads media. The zero limits take the defaults.
type Resolver struct {
	DB       *store.DB
	HS       Uploader
	MaxBytes int64
	Timeout  time.Duration
	// AllowPrivate lets URLs reach loopback, private and link-local
	// addresses. Off by default: a business could otherwise make bizbots
	// fetch from the network it runs in (SSRF).
	AllowPrivate bool

	once   sync.Once
	client *http.Client
}

func (m *Resolver) init() {
	if m.MaxBytes <= 0 {
		m.MaxBytes = DefaultMaxBytes
	}
	if m.Timeout <= 0 {
		m.Timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: m.Timeout, Control: m.checkAddress}
	m.client = &http.Client{
		Timeout: m.Timeout,
		// No proxy from the environment: the address checked is the one
		// connected to.
		Transport: &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: m.Timeout, MaxIdleConns: 4},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			return nil
		},
	}
}

var errPrivate = errors.New("the address is loopback, private or link-local (not allowed: set send_api.media_allow_private to allow it)")

// checkAddress runs on every connection, after DNS: a name that resolves
// to a private address is refused too.
func (m *Resolver) checkAddress(_, address string, _ syscall.RawConn) error {
	if m.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return errPrivate
	}
	return nil
}

// Resolve puts the image or file of r into the homeserver's repository
// when it is given by http(s) URL, and fills in what it found out. A
// *Error is the business's mistake; other errors are worth a retry.
func (m *Resolver) Resolve(ctx context.Context, bot id.UserID, r *wire.Reply) error {
	for _, it := range []struct {
		med   *wire.Media
		image bool
	}{{r.Image, true}, {r.File, false}} {
		if it.med == nil || it.med.Uploaded != nil || strings.HasPrefix(it.med.URL, "mxc://") {
			continue
		}
		up, err := m.fetch(ctx, bot, it.med.URL, it.image)
		if err != nil {
			return err
		}
		it.med.Uploaded = up
	}
	return nil
}

func (m *Resolver) fetch(ctx context.Context, bot id.UserID, raw string, isImage bool) (*wire.Uploaded, error) {
	m.once.Do(m.init)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad(http.StatusBadRequest, "BB_MEDIA_URL", "media url %q must be an http(s):// or mxc:// URL", raw)
	}
	if up, err := m.cached(ctx, raw); err != nil || up != nil {
		if up != nil && isImage && !imageTypes[up.MimeType] {
			return nil, bad(http.StatusUnsupportedMediaType, "BB_MEDIA_TYPE", "%s is %s, not a PNG, JPEG, GIF or WebP image", raw, up.MimeType)
		}
		return up, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, bad(http.StatusBadRequest, "BB_MEDIA_URL", "media url %q: %v", raw, err)
	}
	req.Header.Set("User-Agent", "bizbots-media/1")
	resp, err := m.client.Do(req)
	if err != nil {
		if errors.Is(err, errPrivate) {
			return nil, bad(http.StatusBadRequest, "BB_MEDIA_URL", "media url %q: %v", raw, errPrivate)
		}
		return nil, bad(http.StatusBadGateway, "BB_MEDIA_FETCH", "cannot download %q: %v", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, bad(http.StatusBadGateway, "BB_MEDIA_FETCH", "downloading %q answered HTTP %d", raw, resp.StatusCode)
	}
	if resp.ContentLength > m.MaxBytes {
		return nil, bad(http.StatusRequestEntityTooLarge, "BB_MEDIA_TOO_LARGE", "%q is %d bytes; at most %d", raw, resp.ContentLength, m.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, m.MaxBytes+1))
	if err != nil {
		return nil, bad(http.StatusBadGateway, "BB_MEDIA_FETCH", "cannot download %q: %v", raw, err)
	}
	if int64(len(data)) > m.MaxBytes {
		return nil, bad(http.StatusRequestEntityTooLarge, "BB_MEDIA_TOO_LARGE", "%q is larger than %d bytes", raw, m.MaxBytes)
	}
	return m.store(ctx, bot, raw, data, resp.Header.Get("Content-Type"), path.Base(u.Path), isImage)
}

// Upload puts uploaded bytes into the homeserver's repository (the Send
// API's POST …/media); the same bytes again give the same URI.
func (m *Resolver) Upload(ctx context.Context, bot id.UserID, data []byte, contentType, name string) (*wire.Uploaded, error) {
	m.once.Do(m.init)
	if int64(len(data)) > m.MaxBytes {
		return nil, bad(http.StatusRequestEntityTooLarge, "BB_MEDIA_TOO_LARGE", "the file is %d bytes; at most %d", len(data), m.MaxBytes)
	}
	if len(data) == 0 {
		return nil, bad(http.StatusBadRequest, "BB_MEDIA_EMPTY", "the body is empty: send the file's bytes")
	}
	sum := sha256.Sum256(data)
	key := "sha256:" + hex.EncodeToString(sum[:])
	if up, err := m.cached(ctx, key); err != nil || up != nil {
		return up, err
	}
	return m.store(ctx, bot, key, data, contentType, name, false)
}

// MaxSize is the largest media accepted, in bytes.
func (m *Resolver) MaxSize() int64 {
	m.once.Do(m.init)
	return m.MaxBytes
}

func (m *Resolver) cached(ctx context.Context, key string) (*wire.Uploaded, error) {
	var up wire.Uploaded
	var mxc string
	err := m.DB.QueryRowContext(ctx, `SELECT mxc, mimetype, size, width, height FROM media_cache WHERE media_key = $1`, key).
		Scan(&mxc, &up.MimeType, &up.Size, &up.Width, &up.Height)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read media cache: %w", err)
	}
	up.MXC = id.ContentURIString(mxc)
	return &up, nil
}

// store checks the content's type, uploads it and remembers it under key.
func (m *Resolver) store(ctx context.Context, bot id.UserID, key string, data []byte, declared, name string, isImage bool) (*wire.Uploaded, error) {
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	typ, _, err := mime.ParseMediaType(declared)
	if err != nil || typ == "" || typ == "application/octet-stream" {
		typ = sniffed
	}
	up := &wire.Uploaded{MimeType: typ, Size: int64(len(data))}
	if isImage {
		// What the bytes are, not what the server said they are.
		if !imageTypes[sniffed] {
			return nil, bad(http.StatusUnsupportedMediaType, "BB_MEDIA_TYPE", "%s is %s, not a PNG, JPEG, GIF or WebP image", key, sniffed)
		}
		up.MimeType = sniffed
	}
	if imageTypes[sniffed] {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
			up.Width, up.Height = cfg.Width, cfg.Height
		}
	}
	if name == "." || name == "/" {
		name = ""
	}
	mxc, err := m.HS.UploadMedia(ctx, bot, data, up.MimeType, name)
	if err != nil {
		return nil, fmt.Errorf("upload to the homeserver: %w", err)
	}
	up.MXC = mxc
	_, err = m.DB.ExecContext(ctx, `INSERT INTO media_cache (media_key, mxc, mimetype, size, width, height, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (media_key) DO NOTHING`,
		key, string(mxc), up.MimeType, up.Size, up.Width, up.Height, store.Now())
	if err != nil {
		return nil, fmt.Errorf("remember upload: %w", err)
	}
	return up, nil
}
