package ordering_test

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/media"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/handlers/handlertest"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/services/ordering"
)

// writePNG writes a tiny w×h PNG of one colour.
func writePNG(t *testing.T, path string, w, h int, c color.Color) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// pictureCatalog is the demo pizzeria with photos of two pizzas, in dir.
func pictureCatalog(t *testing.T, dir string) ordering.CatalogConfig {
	writePNG(t, filepath.Join(dir, "margherita.png"), 8, 6, color.RGBA{200, 40, 40, 255})
	writePNG(t, filepath.Join(dir, "pepperoni.png"), 4, 4, color.RGBA{160, 60, 20, 255})
	cc := ordering.DefaultCatalog()
	for i, it := range cc.Items {
		switch it.ID {
		case "margherita", "pepperoni":
			cc.Items[i].Image = it.ID + ".png"
		}
	}
	return cc
}

// A customer opening the pizzas sees each pizza's photo above the
// numbered list, which stays whole (clients without images read it, and
// the numbers still answer). Each photo reaches the homeserver once,
// however often the menu is shown and after a restart.
func TestMenuPhotosAreUploadedOnceAndShownAboveTheList(t *testing.T) {
	for _, d := range dialectURIs(t) {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, setup{cfg: ordering.Config{Catalog: pictureCatalog(t, dir)}, uri: d.uri})
			hs := fakehs.New("as-token")
			defer hs.Close()
			cli, err := hsclient.New(hs.URL(), hs.ASToken, 2, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Bot.UsePictures(media.New(h.DB, cli), dir); err != nil {
				t.Fatal(err)
			}
			pizzas := h.Choose(h.Say("menu")[0], 1)
			if len(pizzas) != 3 {
				t.Fatalf("pizzas: %q, want two photos and the list", handlertest.Bodies(pizzas))
			}
			ups := hs.Uploads()
			if len(ups) != 2 {
				t.Fatalf("%d uploads, want one per photo", len(ups))
			}
			for i, want := range []struct{ caption, file string }{{"Margherita", "margherita.png"}, {"Pepperoni", "pepperoni.png"}} {
				p := pizzas[i]
				info, _ := p.Content["info"].(map[string]any)
				if p.MsgType != "m.image" || p.Content["url"] != ups[i].URI || p.Content["filename"] != want.file ||
					!strings.HasPrefix(p.Body, want.caption+" (") || !strings.Contains(p.Body, "from €") ||
					info["mimetype"] != "image/png" || info["w"] == nil || info["size"] == nil {
					t.Fatalf("photo %d: %+v, want m.image of %s with its caption, file name and info", i, p.Content, want.file)
				}
			}
			if info := pizzas[0].Content["info"].(map[string]any); info["w"] != 8.0 || info["h"] != 6.0 {
				t.Fatalf("margherita's size %v×%v, want 8×6", info["w"], info["h"])
			}
			list := pizzas[2]
			expect(t, "the text list after the photos", list.Body, "Pizzas:", "1. Margherita", "2. Pepperoni", "3. Quattro formaggi", "4. Vegana")
			if len(list.Reactions) != 4 {
				t.Fatalf("list reactions %v: the question must stay the last message, with its reactions", list.Reactions)
			}
			expect(t, "a number still answers", handlertest.Text(h.Say("1")), "Margherita", "Which size")

			// Shown again, and after a restart (a new library on the same
			// database): no new upload.
			h.Say("menu")
			h.Say("pizzas")
			if err := h.Bot.UsePictures(media.New(h.DB, cli), dir); err != nil {
				t.Fatal(err)
			}
			again := h.Choose(h.Say("menu")[0], 1)
			if n := len(hs.Uploads()); n != 2 || again[0].Content["url"] != ups[0].URI {
				t.Fatalf("%d uploads after showing the menu again and a restart, want still 2 (first photo %v)", n, again[0].Content["url"])
			}
			drinks := h.Choose(h.Say("menu")[0], 2)
			if len(drinks) != 1 || drinks[0].MsgType == "m.image" {
				t.Fatalf("drinks have no photos: %q", handlertest.Bodies(drinks))
			}
		})
	}
}

// Without a homeserver (`bizbots chat`) or when the upload fails, the
// menu goes out as text, whole.
func TestMenuWithoutMediaIsText(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, setup{cfg: ordering.Config{Catalog: pictureCatalog(t, dir)}})
	if err := h.Bot.UsePictures(nil, dir); err != nil {
		t.Fatal(err)
	}
	pizzas := h.Choose(h.Say("menu")[0], 1)
	if len(pizzas) != 1 || pizzas[0].MsgType == "m.image" {
		t.Fatalf("pizzas: %q, want the list only", handlertest.Bodies(pizzas))
	}
	hs := fakehs.New("wrong-token") // every upload is refused
	defer hs.Close()
	cli, _ := hsclient.New(hs.URL(), "as-token", 2, zerolog.Nop())
	if err := h.Bot.UsePictures(media.New(h.DB, cli), dir); err != nil {
		t.Fatal(err)
	}
	pizzas = h.Choose(h.Say("menu")[0], 1)
	if len(pizzas) != 1 || !strings.Contains(pizzas[0].Body, "1. Margherita") {
		t.Fatalf("pizzas with uploads failing: %q, want the list only", handlertest.Bodies(pizzas))
	}
}

// A photo that is not there, or not a picture, is refused at start with
// the item named; a URL must be https.
func TestMenuPhotoErrorsNameTheItem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a picture"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{})
	for _, c := range []struct{ image, want string }{
		{"missing.png", "catalog item margherita: image: cannot read"},
		{"notes.txt", "not a PNG, JPEG, GIF or WebP image"},
		{"http://example.org/m.png", "give an https:// URL"},
	} {
		cc := ordering.DefaultCatalog()
		cc.Items[0].Image = c.image
		b, err := ordering.New(ordering.Config{Catalog: cc}, h.DB)
		if err == nil {
			err = b.UsePictures(nil, dir)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("image %q: %v, want an error with %q", c.image, err, c.want)
		}
	}
}

// hangingMedia is a media repository that never answers.
type hangingMedia struct{ calls atomic.Int32 }

func (m *hangingMedia) Upload(ctx context.Context, bot id.UserID, f handlers.File) (id.ContentURIString, error) {
	m.calls.Add(1)
	<-ctx.Done()
	return "", ctx.Err()
}

// A media repository that hangs delays the menu by the load timeout only,
// the menu goes out as text, and the photo is not tried again on every
// menu (a customer browsing is not held up again and again).
func TestHangingUploadsLeaveTheMenuAsText(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, setup{cfg: ordering.Config{Catalog: pictureCatalog(t, dir)}})
	m := &hangingMedia{}
	if err := h.Bot.UsePictures(m, dir); err != nil {
		t.Fatal(err)
	}
	ordering.SetPictureTimeout(h.Bot, 50*time.Millisecond)
	for range 2 {
		pizzas := h.Choose(h.Say("menu")[0], 1)
		if len(pizzas) != 1 || !strings.Contains(pizzas[0].Body, "1. Margherita") {
			t.Fatalf("pizzas: %q, want the list only", handlertest.Bodies(pizzas))
		}
	}
	if n := m.calls.Load(); n != 2 {
		t.Fatalf("%d uploads tried, want one per photo: a failed photo waits before it is tried again", n)
	}
}
