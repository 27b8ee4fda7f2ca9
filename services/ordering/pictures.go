package ordering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // image.DecodeConfig reads GIF sizes
	_ "image/jpeg" // and JPEG
	_ "image/png"  // and PNG
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/handlers"
)

// Menu photos: an item's `image` is read (a file next to the config, or
// an https URL), uploaded once through handlers.Media, and shown as
// m.image above the numbered list of its category. The list stays the
// menu: clients that show no images, and a bot with no homeserver
// (`bizbots chat`), get the text alone.

const (
	// maxImageBytes bounds one photo.
	maxImageBytes = 5 << 20
	// maxPictures bounds the photos sent with one list.
	maxPictures = 10
	// loadTimeout bounds reading and uploading one photo, so a slow
	// homeserver or image host delays a menu by seconds, not minutes.
	loadTimeout = 10 * time.Second
	// retryAfter is how long a photo that could not be had is left out
	// before it is tried again.
	retryAfter = 5 * time.Minute
)

// checkImageRef refuses an image that cannot be a photo's place.
func checkImageRef(ref string) error {
	switch {
	case ref == "":
		return nil
	case strings.Contains(ref, "://"):
		u, err := url.Parse(ref)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%q: give an https:// URL or a file path relative to the config file", ref)
		}
	case strings.ContainsRune(ref, 0):
		return fmt.Errorf("%q is not a file path", ref)
	}
	return nil
}

// pictures turns items' image references into uploaded pictures, and
// remembers them for as long as the file stays as it was.
type pictures struct {
	media handlers.Media
	dir   string // relative paths start here (the config file's folder)
	http  *http.Client
	// timeout bounds loading one photo (loadTimeout; tests shorten it).
	timeout time.Duration

	mu    sync.Mutex
	ready map[string]handlers.Picture // by reference + file stamp
	// failed holds when a reference last could not be had: it is left
	// out (and not logged again) until retryAfter has passed.
	failed map[string]time.Time
}

func newPictures(m handlers.Media, dir string) *pictures {
	return &pictures{media: m, dir: dir, http: &http.Client{Timeout: loadTimeout}, timeout: loadTimeout,
		ready: map[string]handlers.Picture{}, failed: map[string]time.Time{}}
}

// path is where a file reference points.
func (p *pictures) path(ref string) string {
	if filepath.IsAbs(ref) {
		return ref
	}
	return filepath.Join(p.dir, ref)
}

// check says what is wrong with the catalog's image files (missing,
// too big, not an image), naming the item, so a typo is found at start.
func (p *pictures) check(cat *Catalog) error {
	for _, it := range cat.Items {
		if it.Image == "" || strings.Contains(it.Image, "://") {
			continue
		}
		if _, err := readImageFile(p.path(it.Image)); err != nil {
			return fmt.Errorf("catalog item %s: image: %w", it.ID, err)
		}
	}
	return nil
}

// of returns the item's uploaded picture; ok is false when it has none
// or it cannot be had now (the reason is logged once).
func (p *pictures) of(ctx context.Context, bot id.UserID, it *Item) (handlers.Picture, bool) {
	if it.Image == "" || p.media == nil {
		return handlers.Picture{}, false
	}
	key := it.Image
	if !strings.Contains(it.Image, "://") {
		fi, err := os.Stat(p.path(it.Image))
		if err == nil {
			key = fmt.Sprintf("%s|%d|%d", it.Image, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	p.mu.Lock()
	pic, ok := p.ready[key]
	failed, tried := p.failed[key]
	p.mu.Unlock()
	if ok {
		return pic, true
	}
	if tried && time.Since(failed) < retryAfter {
		return handlers.Picture{}, false
	}
	lctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	pic, err := p.load(lctx, bot, it.Image)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed[key] = time.Now()
		zerolog.Ctx(ctx).Warn().Err(err).Str("item", it.ID).Dur("retry_in", retryAfter).
			Msg("menu photo not shown; the menu goes out as text")
		return handlers.Picture{}, false
	}
	delete(p.failed, key)
	p.ready[key] = pic
	return pic, true
}

// load reads and uploads one photo.
func (p *pictures) load(ctx context.Context, bot id.UserID, ref string) (handlers.Picture, error) {
	var data []byte
	var err error
	name := filepath.Base(ref)
	if strings.Contains(ref, "://") {
		data, err = p.fetch(ctx, ref)
		if u, perr := url.Parse(ref); perr == nil {
			name = filepath.Base(u.Path)
		}
	} else {
		data, err = readImageFile(p.path(ref))
	}
	if err != nil {
		return handlers.Picture{}, err
	}
	pic, err := describeImage(data)
	if err != nil {
		return handlers.Picture{}, fmt.Errorf("%s: %w", ref, err)
	}
	pic.FileName = name
	pic.URI, err = p.media.Upload(ctx, bot, handlers.File{Data: data, Name: name, ContentType: pic.ContentType})
	if err != nil {
		return handlers.Picture{}, err
	}
	return pic, nil
}

func (p *pictures) fetch(ctx context.Context, ref string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: %s", ref, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", ref, err)
	}
	if len(data) > maxImageBytes {
		return nil, fmt.Errorf("download %s: larger than %d bytes", ref, maxImageBytes)
	}
	return data, nil
}

func readImageFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s (paths are relative to the config file's folder)", path)
	}
	if fi.Size() > maxImageBytes || fi.IsDir() {
		return nil, fmt.Errorf("%s: not a file of at most %d bytes", path, maxImageBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := describeImage(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

var errNotImage = errors.New("not a PNG, JPEG, GIF or WebP image")

// describeImage reads a photo's type and, where Go can, its size.
func describeImage(data []byte) (handlers.Picture, error) {
	pic := handlers.Picture{ContentType: http.DetectContentType(data), Size: len(data)}
	switch pic.ContentType {
	case "image/png", "image/jpeg", "image/gif":
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return pic, errNotImage
		}
		pic.Width, pic.Height = cfg.Width, cfg.Height
	case "image/webp":
	default:
		return pic, errNotImage
	}
	return pic, nil
}

// showPictures sends the photos of items, before the list that names
// them (so the question stays the last message, with its reactions).
func (t *turn) showPictures(items []*Item) {
	sent := 0
	for _, it := range items {
		if sent == maxPictures {
			return
		}
		pic, ok := t.b.pics.of(t.ctx, t.c.Bot, it)
		if !ok {
			continue
		}
		pic.Caption = t.itemLabel(it)
		t.c.Picture(pic)
		sent++
	}
}
