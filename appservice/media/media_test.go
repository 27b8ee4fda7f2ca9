package media_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/appservice/media"
	"github.com/bizbots/bizbots/handlers"
	"github.com/bizbots/bizbots/internal/fakehs"
	"github.com/bizbots/bizbots/store"
	"github.com/bizbots/bizbots/store/storetest"
)

const bot = id.UserID("@pizza:example.org")

func client(t *testing.T, hs *fakehs.HS) *hsclient.Client {
	t.Helper()
	c, err := hsclient.New(hs.URL(), hs.ASToken, 4, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The same photo is uploaded once, however often and however many
// callers at once ask, and a restarted process (a new Library on the
// same database) uploads it no more.
func TestUploadOnceAcrossCallsAndRestarts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := fakehs.New("as-token")
		defer hs.Close()
		ctx := context.Background()
		photo := handlers.File{Data: []byte("\x89PNG fake margherita"), Name: "margherita.png", ContentType: "image/png"}
		lib := media.New(db, client(t, hs))
		var wg sync.WaitGroup
		uris := make([]id.ContentURIString, 8)
		errs := make([]error, 8)
		for i := range uris {
			wg.Add(1)
			go func() {
				defer wg.Done()
				uris[i], errs[i] = lib.Upload(ctx, bot, photo)
			}()
		}
		wg.Wait()
		for i := range uris {
			if errs[i] != nil || uris[i] != uris[0] {
				t.Fatalf("call %d: %q, %v; want %q like the others", i, uris[i], errs[i], uris[0])
			}
		}
		restarted := media.New(db, client(t, hs))
		again, err := restarted.Upload(ctx, bot, photo)
		if err != nil || again != uris[0] {
			t.Fatalf("after a restart: %q, %v; want %q", again, err, uris[0])
		}
		other, err := restarted.Upload(ctx, bot, handlers.File{Data: []byte("\x89PNG fake cola"), Name: "cola.png", ContentType: "image/png"})
		if err != nil || other == uris[0] {
			t.Fatalf("another photo: %q, %v", other, err)
		}
		ups := hs.Uploads()
		if len(ups) != 2 {
			t.Fatalf("%d uploads, want 2 (one per photo)", len(ups))
		}
		if u := ups[0]; u.URI != string(uris[0]) || u.User != bot.String() || u.ContentType != "image/png" ||
			u.FileName != "margherita.png" || string(u.Data) != string(photo.Data) {
			t.Fatalf("upload %+v: want the photo's bytes, type and name, as the bot", u)
		}
	})
}

func TestUploadRefusesEmptyAndHuge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		hs := fakehs.New("as-token")
		defer hs.Close()
		lib := media.New(db, client(t, hs))
		for _, f := range []handlers.File{{Name: "empty.png"}, {Name: "huge.png", Data: make([]byte, media.MaxBytes+1)}} {
			if _, err := lib.Upload(context.Background(), bot, f); err == nil {
				t.Fatalf("%s: uploaded", f.Name)
			}
		}
		if n := len(hs.Uploads()); n != 0 {
			t.Fatalf("%d uploads reached the homeserver", n)
		}
	})
}
