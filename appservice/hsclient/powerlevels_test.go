package hsclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"

	"github.com/bizbots/bizbots/appservice/hsclient"
	"github.com/bizbots/bizbots/internal/fakehs"
)

// TestPowerLevels reads the room's power levels as the bot (user_id), and
// a room without a power levels event is M_NOT_FOUND, which callers take
// as "everyone at the default".
func TestPowerLevels(t *testing.T) {
	var asked string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Path + "?user_id=" + r.URL.Query().Get("user_id")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/_matrix/client/v3/rooms/!none:x/state/m.room.power_levels/" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errcode":"M_NOT_FOUND","error":"no such state"}`))
			return
		}
		_, _ = w.Write([]byte(`{"users":{"@chef:x":50},"users_default":0}`))
	}))
	defer srv.Close()
	cli, err := hsclient.New(srv.URL, asToken, 2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	pl, err := cli.PowerLevels(context.Background(), "@pizza:x", "!kitchen:x")
	if err != nil {
		t.Fatal(err)
	}
	if asked != "/_matrix/client/v3/rooms/!kitchen:x/state/m.room.power_levels/?user_id=@pizza:x" {
		t.Fatalf("asked %s", asked)
	}
	if pl.GetUserLevel("@chef:x") != 50 || pl.GetUserLevel("@rider:x") != 0 {
		t.Fatalf("levels: %+v", pl)
	}
	if _, err := cli.PowerLevels(context.Background(), "@pizza:x", "!none:x"); !errors.Is(err, mautrix.MNotFound) {
		t.Fatalf("no power levels event: %v", err)
	}
}

// TestPowerLevelsFromFakeHS: the fake homeserver of the fault and flow
// tests answers power levels the way a real one does.
func TestPowerLevelsFromFakeHS(t *testing.T) {
	hs := fakehs.New(asToken)
	defer hs.Close()
	hs.SetPowerLevels("!kitchen:example.org", map[string]int{"@chef:example.org": 50})
	cli, err := hsclient.New(hs.URL(), asToken, 2, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	pl, err := cli.PowerLevels(context.Background(), "@pizza:example.org", "!kitchen:example.org")
	if err != nil || pl.GetUserLevel("@chef:example.org") != 50 || pl.GetUserLevel("@rider:example.org") != 0 {
		t.Fatalf("levels %+v, %v", pl, err)
	}
	if _, err := cli.PowerLevels(context.Background(), "@pizza:example.org", "!other:example.org"); !errors.Is(err, mautrix.MNotFound) {
		t.Fatalf("room without levels: %v", err)
	}
}
