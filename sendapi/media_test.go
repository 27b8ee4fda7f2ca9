package sendapi_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bizbots/bizbots/media"
	"github.com/bizbots/bizbots/sendapi"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

func pngBytes(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// files serves what a business's own web server would: a picture, a PDF,
// an HTML page, and a picture too large.
func files(t *testing.T) (*httptest.Server, *int) {
	pic := pngBytes(t, 64, 48)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/pizza.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pic)
		case "/menu.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			_, _ = w.Write([]byte("%PDF-1.4 menu"))
		case "/page.png":
			w.Header().Set("Content-Type", "image/png") // says image, is not
			_, _ = w.Write([]byte("<html><body>not a picture</body></html>"))
		case "/big.png":
			_, _ = w.Write(append(pic, make([]byte, 4096)...))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func lastContent(t *testing.T, db *store.DB) map[string]any {
	t.Helper()
	var raw string
	if err := db.QueryRow(`SELECT content FROM outbox ORDER BY id DESC LIMIT 1`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal([]byte(raw), &c)
	return c
}

func TestImagesAndFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs, tune := withHomeserver(t, false)
		web, hits := files(t)
		var res *media.Resolver
		a := newAPI(t, db, tune, func(s *sendapi.Server) {
			res = &media.Resolver{DB: db, HS: s.Rooms.(media.Uploader), MaxBytes: 2048, AllowPrivate: true}
			s.Media = res
		})
		img := map[string]any{"to": alice, "text": "Today's special", "image": map[string]any{"url": web.URL + "/pizza.png", "alt": "A margherita"}}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", img), 202, "")
		c := lastContent(t, db)
		info, _ := c["info"].(map[string]any)
		if c["msgtype"] != "m.image" || c["body"] != "Today's special" || !strings.HasPrefix(c["url"].(string), "mxc://") ||
			info["mimetype"] != "image/png" || info["w"] != 64.0 || info["h"] != 48.0 || info["size"] == nil {
			t.Fatalf("image message: %v", c)
		}
		// The same URL again: no new download, no new upload.
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", img), 202, "")
		if *hits != 1 || len(hs.Uploads()) != 1 {
			t.Fatalf("%d downloads, %d uploads for one picture sent twice", *hits, len(hs.Uploads()))
		}
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "file": map[string]any{"url": web.URL + "/menu.pdf", "name": "menu.pdf"}}), 202, "")
		if c := lastContent(t, db); c["msgtype"] != "m.file" || c["body"] != "menu.pdf" || c["info"].(map[string]any)["mimetype"] != "application/pdf" {
			t.Fatalf("file message: %v", c)
		}
		// An mxc:// URI goes as it is; the old plain-string form still works.
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "image": "mxc://example.org/abc"}), 202, "")
		if c := lastContent(t, db); c["url"] != "mxc://example.org/abc" || c["msgtype"] != "m.image" {
			t.Fatalf("mxc image: %v", c)
		}
		for _, bad := range []struct {
			body   map[string]any
			status int
			code   string
		}{
			{map[string]any{"to": alice, "image": map[string]any{"url": web.URL + "/page.png"}}, 415, "BB_MEDIA_TYPE"},
			{map[string]any{"to": alice, "image": map[string]any{"url": web.URL + "/big.png"}}, 413, "BB_MEDIA_TOO_LARGE"},
			{map[string]any{"to": alice, "image": map[string]any{"url": web.URL + "/gone.png"}}, 502, "BB_MEDIA_FETCH"},
			{map[string]any{"to": alice, "image": map[string]any{"url": "ftp://example.org/x.png"}}, 400, "M_INVALID_PARAM"},
			{map[string]any{"to": alice, "image": map[string]any{"url": web.URL + "/pizza.png"}, "file": map[string]any{"url": web.URL + "/menu.pdf"}}, 400, "M_INVALID_PARAM"},
		} {
			expect(t, a.do("POST", messagesPath(shopBot), a.token, "", bad.body), bad.status, bad.code)
		}
		// Loopback and private addresses are refused unless allowed.
		noPriv := &media.Resolver{DB: db, HS: res.HS}
		a2 := newAPIFor(t, a, noPriv)
		expect(t, a2.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "image": map[string]any{"url": web.URL + "/menu.pdf?x"}}), 400, "BB_MEDIA_URL")
		u, _ := url.Parse(web.URL)
		expect(t, a2.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "image": "http://localhost:" + u.Port() + "/pizza.png"}), 400, "BB_MEDIA_URL")
	})
}

// newAPIFor serves the same database and tokens with another resolver.
func newAPIFor(t *testing.T, a *api, res *media.Resolver) *api {
	b := &api{t: t, db: a.db, token: a.token, other: a.other, srv: httptest.NewServer(&sendapi.Server{DB: a.db, Media: res})}
	t.Cleanup(b.srv.Close)
	return b
}

func TestUpload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs, tune := withHomeserver(t, false)
		a := newAPI(t, db, tune, func(s *sendapi.Server) {
			s.Media = &media.Resolver{DB: db, HS: s.Rooms.(media.Uploader), MaxBytes: 2048}
		})
		pic := pngBytes(t, 10, 20)
		up := func(key string, data []byte) resp {
			req, _ := http.NewRequest("POST", a.srv.URL+"/_bizbots/v1/bots/"+url.PathEscape(shopBot.String())+"/media?filename=logo.png", bytes.NewReader(data))
			req.Header.Set("Authorization", "Bearer "+a.token)
			req.Header.Set("Content-Type", "image/png")
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var r resp
			r.status = res.StatusCode
			_ = json.NewDecoder(res.Body).Decode(&r.body)
			return r
		}
		first := up("logo", pic)
		expect(t, first, 200, "")
		mxc, _ := first.body["content_uri"].(string)
		if !strings.HasPrefix(mxc, "mxc://") || first.body["w"] != 10.0 || first.body["h"] != 20.0 {
			t.Fatalf("upload: %v", first.body)
		}
		if again := up("logo", pic); again.body["content_uri"] != mxc || len(hs.Uploads()) != 1 {
			t.Fatalf("a retried upload went to the homeserver again: %v, %d uploads", again.body, len(hs.Uploads()))
		}
		if u := hs.Uploads()[0]; u.User != shopBot.String() || u.ContentType != "image/png" || !bytes.Equal(u.Data, pic) {
			t.Fatalf("homeserver got %s %s %d bytes", u.User, u.ContentType, len(u.Data))
		}
		expect(t, up("logo", pngBytes(t, 3, 3)), 422, "BB_IDEMPOTENCY_MISMATCH")
		expect(t, up("", make([]byte, 4096)), 413, "BB_MEDIA_TOO_LARGE")
		expect(t, up("", nil), 400, "BB_MEDIA_EMPTY")
		// The URI it gave is what a message then carries.
		expect(t, a.do("POST", messagesPath(shopBot), a.token, "", map[string]any{"to": alice, "image": map[string]any{"url": mxc, "alt": "logo"}}), 202, "")
	})
}
